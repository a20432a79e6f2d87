// InternVideo-MM's caption decoder (CoTrain modules/clip_decoders.py
// CaptionDecoder, CoCa-style). A fixed set of learned `visual_queries`
// cross-attends to all video tokens of all frames (`visual_attn_pooler`,
// `visual_pooler_norm`), compressing any clip to the same number of visual
// tokens; the text encoder's token features (`text_norm`) then pass through
// `multimodal_layers`, each a causal ParallelTransformerBlock and a
// cross-attention to the pooled visual tokens, both residual (`.0.fn`,
// `.1.fn`), and `predictor` maps them to next-token logits.
#ifndef COMMON_MODEL_MULTIMODAL_CAPTION_DECODER_H_
#define COMMON_MODEL_MULTIMODAL_CAPTION_DECODER_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "common/model/multimodal/config_types.h"
#include "common/model/multimodal/cross_attention.h"
#include "common/model/multimodal/parallel_transformer_block.h"

namespace iv::model {

// Holds a residual branch under the official wrapper's name `fn`; the
// decoder adds the residual.
class ResidualImpl : public torch::nn::Module {
 public:
  explicit ResidualImpl(std::shared_ptr<torch::nn::Module> fn);
};
TORCH_MODULE(Residual);

class CaptionDecoderImpl : public torch::nn::Module {
 public:
  // vision_width: the width of the video tokens it reads.
  CaptionDecoderImpl(const CaptionDecoderOptions& options, int64_t vision_width,
                     int64_t vocab_size);

  // video_tokens [B, T, L, vision_width] (ClipOutput::video_tokens) and the
  // text encoder's token features [B, N, width] of the caption so far
  // (teacher forcing: the caption without its last token) -> logits
  // [B, N, vocab_size] of each next token.
  torch::Tensor forward(const torch::Tensor& video_tokens,
                        const torch::Tensor& text_tokens);

  // forward in two halves, so that generation pools each clip once:
  // video_tokens [B, T, L, vision_width] -> the pooled visual tokens
  // [B, num_visual_queries, width] ...
  torch::Tensor PoolVideo(const torch::Tensor& video_tokens);
  // ... and those with text features [B, N, width] -> logits
  // [B, N, vocab_size].
  torch::Tensor Decode(const torch::Tensor& visual,
                       const torch::Tensor& text_tokens);

  // The longest caption it decodes, in tokens including SOT and EOT.
  int64_t max_length() const { return max_length_; }

 private:
  int64_t max_length_;
  torch::Tensor visual_queries_;
  CocaCrossAttention visual_attn_pooler_{nullptr};
  torch::nn::LayerNorm visual_pooler_norm_{nullptr};
  torch::nn::LayerNorm text_norm_{nullptr};
  std::vector<ParallelTransformerBlock> self_attention_;
  std::vector<CocaCrossAttention> cross_attention_;
  torch::nn::Sequential predictor_{nullptr};
};
TORCH_MODULE(CaptionDecoder);

// Teacher-forcing captioning loss, as the official compute_cap: mean
// cross-entropy of logits [B, N, V] against labels [B, N] (the caption's
// tokens shifted by one: label i is token i + 1), skipping labels of -100
// (the official marking of special tokens and padding).
torch::Tensor CaptioningLoss(const torch::Tensor& logits,
                             const torch::Tensor& labels);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_CAPTION_DECODER_H_
