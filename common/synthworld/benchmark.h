// SynthWorld-Bench's own judgements (shared/spec/SYNTHWORLD.md, "Evaluation
// protocol"), the parts that know SynthWorld's vocabulary: which clips
// retrieval and captioning count as the same event, which caption states
// which event, and the reverse-twin decision. The trainer's general metrics
// (trainer/evaluation.h) call them on SynthWorld data.
#ifndef COMMON_SYNTHWORLD_BENCHMARK_H_
#define COMMON_SYNTHWORLD_BENCHMARK_H_

#include <torch/torch.h>

#include <string>

#include "common/data/manifest.h"

namespace iv::synthworld {

// The "color shape action" triple retrieval and captioning match on, e.g.
// "red triangle disappear"; clips with the same triple show the same event.
std::string ClipKey(const data::TrimmedClip& clip);

// The triple (as ClipKey) a caption states, parsed with the vocabulary: the
// first color word, the first shape word and the earliest (then longest)
// action phrase or paraphrase; "" when one is missing.
std::string CaptionTriple(const std::string& caption);

// Twin accuracy of logits [N, C] against labels [N]: the fraction of clips
// whose true action scores above its time-reversed twin (ids 2k and
// 2k + 1), the decision a single frame cannot make. Labels outside the ten
// actions (or the logits' columns) are left out; 0 when none is left.
double TwinAccuracy(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace iv::synthworld

#endif  // COMMON_SYNTHWORLD_BENCHMARK_H_
