// The configuration of the multimodal encoder with every default filled in, as
// plain structs: what the modules of this folder are built from. They
// need neither Abseil nor Protobuf, so the modules also compile where
// only LibTorch exists (tools/gpu); config.h resolves them from the
// typed config.
#ifndef COMMON_MODEL_MULTIMODAL_CONFIG_TYPES_H_
#define COMMON_MODEL_MULTIMODAL_CONFIG_TYPES_H_

#include <cstdint>
#include <optional>
#include <vector>

namespace iv::model {

// UniFormerV2's global branch (clip_vit_only_global.py Transformer).
struct GlobalBranchOptions {
  int64_t n_layers = 4;
  // 0-based backbone layers feeding extractor layers 0, 1, ...
  std::vector<int64_t> return_list;
  int64_t n_head = 0;
  double mlp_factor = 4.0;
  double balance = 0.0;  // initial logit of every channel
};

// The frame ViT (VisionTransformer) with its global branch.
struct ClipVisionOptions {
  int64_t input_resolution = 224;
  int64_t patch_size = 0;
  int64_t width = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t num_frames = 8;
  // A ConvStem's channels in place of conv1 (log2(patch_size) of them);
  // empty = conv1.
  std::vector<int64_t> conv_stem_channels;
  GlobalBranchOptions global_branch;
};

// CLIP's text transformer.
struct ClipTextOptions {
  int64_t context_length = 77;
  int64_t vocab_size = 49408;
  int64_t width = 0;
  int64_t heads = 0;
  int64_t layers = 0;
};

// The caption decoder (CoTrain clip_decoders.py CaptionDecoder).
struct CaptionDecoderOptions {
  int64_t layers = 0;
  int64_t width = 0;
  int64_t heads = 0;
  int64_t max_length = 32;
  // Learned queries pooling the video tokens; 256 in the official code.
  int64_t num_visual_queries = 256;
};

struct MultimodalConfig {
  int64_t embed_dim = 0;
  ClipVisionOptions vision;
  ClipTextOptions text;
  // Present only for models that caption.
  std::optional<CaptionDecoderOptions> caption_decoder;
};

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_CONFIG_TYPES_H_
