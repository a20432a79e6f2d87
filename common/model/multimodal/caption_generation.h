// Caption generation with the caption decoder: greedy decoding and beam
// search over the CLIP text encoder (whose causal token features the decoder
// reads) and the decoder, for a batch of clips.
//
// A caption is SOT followed by generated tokens; it ends at EOT or when it
// holds options.max_length tokens counting SOT and EOT (the decoder's
// max_length convention), so at most max_length - 1 tokens are generated,
// the EOT included.
//
// Each step recomputes the text encoder and the decoder over the whole
// prefix (no key/value cache): both are causal, so a prefix's last-position
// logits are exactly those of teacher forcing, and captions are short (the
// decoder's max_length, 32 by default), so the quadratic cost is small. The
// visual tokens are pooled once per clip.
//
// Scoring: log_prob is the sum of the log-softmax of every generated token,
// the EOT included; length counts the same tokens. score applies the length
// penalty: kNone log_prob; kAverage log_prob / length (the average token
// log-probability); kGnmt log_prob / ((5 + length) / 6)^gnmt_alpha (Wu et
// al. 2016, GNMT). Greedy results carry the same score, so greedy and beam
// search compare on one scale.
//
// Beam search keeps beam_size live hypotheses. Each step ranks every (live
// hypothesis, next token) pair by summed log_prob, best first (ties: the
// earlier hypothesis, then the smaller token id); walking that ranking, an
// EOT pair among the first beam_size ranks finishes a hypothesis, and other
// pairs become the next live hypotheses until there are beam_size of them.
// It stops as soon as beam_size hypotheses have finished (fairseq's rule,
// and Hugging Face's early_stopping=True), or at max_length, where the live
// hypotheses finish unended; the finished hypothesis of the highest score
// wins (the first finished on ties). With beam_size 1 this is exactly greedy
// decoding. Beam search usually, but not provably, scores at least as well
// as greedy decoding (a pruned greedy prefix cannot come back).
//
// Sampling draws each token from softmax(log-probabilities / temperature)
// (the same distribution as softmax(logits / temperature): log-softmax only
// shifts a row) until EOT or max_length. Every clip draws from its own
// generator seeded with options.seed, so a clip's caption depends on the
// seed, the clip and the options, never on the batch around it. log_prob
// and score are the model's (temperature 1), as for greedy and beam search.
// As the temperature goes to 0 sampling becomes greedy decoding.
//
// No repetition constraints (n-gram blocking, repetition penalties).
#ifndef COMMON_MODEL_MULTIMODAL_CAPTION_GENERATION_H_
#define COMMON_MODEL_MULTIMODAL_CAPTION_GENERATION_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "common/model/multimodal/caption_decoder.h"
#include "common/model/multimodal/clip_model.h"

namespace iv::model {

enum class DecodingMethod { kGreedy, kBeam, kSampling };
enum class LengthPenalty { kNone, kAverage, kGnmt };

struct CaptionGenerationOptions {
  // Longest caption in tokens including SOT and EOT; >= 2 and <= the
  // decoder's max_length.
  int64_t max_length = 32;
  DecodingMethod method = DecodingMethod::kGreedy;
  int64_t beam_size = 3;  // beam search only; >= 1
  LengthPenalty length_penalty = LengthPenalty::kNone;
  double gnmt_alpha = 0.6;   // kGnmt only
  double temperature = 1.0;  // sampling only; > 0
  uint64_t seed = 0;         // sampling only
  // CLIP's tokenizer's special tokens (common/text).
  int64_t sot_token = 49406;
  int64_t eot_token = 49407;
};

struct GeneratedCaption {
  std::vector<int64_t> tokens;  // without SOT and EOT
  bool finished = false;        // ended by EOT, not cut at max_length
  double log_prob = 0;
  double score = 0;  // log_prob under the length penalty
};

// The length-penalized score of `log_prob` over `length` generated tokens.
double CaptionScore(double log_prob, int64_t length,
                    const CaptionGenerationOptions& options);

// The model under decoding: prefixes [R, n] int64 (each SOT then n - 1
// tokens) of clips `clips` [R] int64 (indices into the batch) -> the
// log-probabilities [R, vocab] of each prefix's next token.
using NextTokenLogProbs = std::function<torch::Tensor(
    const torch::Tensor& prefixes, const torch::Tensor& clips)>;

// One caption per clip of a batch of `batch` clips, decoding `model`.
std::vector<GeneratedCaption> GenerateCaptions(
    const NextTokenLogProbs& model, int64_t batch,
    const CaptionGenerationOptions& options);

// One caption per clip of video_tokens [B, T, L, vision width]
// (ClipOutput::video_tokens), with `clip`'s text encoder and `decoder`; runs
// without autograd. Throws when options.max_length exceeds the decoder's.
std::vector<GeneratedCaption> GenerateCaptions(
    InternVideoClip& clip, CaptionDecoder& decoder,
    const torch::Tensor& video_tokens, const CaptionGenerationOptions& options);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_CAPTION_GENERATION_H_
