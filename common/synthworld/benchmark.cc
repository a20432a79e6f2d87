#include "common/synthworld/benchmark.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/synthworld/vocabulary.h"

namespace iv::synthworld {

std::string ClipKey(const data::TrimmedClip& clip) {
  return absl::StrCat(clip.actor.color, " ", clip.actor.shape, " ",
                      clip.action);
}

std::string CaptionTriple(const std::string& caption) {
  const std::vector<std::string> words =
      absl::StrSplit(absl::AsciiStrToLower(caption), ' ', absl::SkipEmpty());
  std::string color, shape;
  int action = -1;
  size_t action_at = words.size(), action_length = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    if (color.empty() && ColorId(words[i]) >= 0) color = words[i];
    if (shape.empty() && ShapeId(words[i]) >= 0) shape = words[i];
  }
  for (const ActionInfo& info : Actions()) {
    std::vector<absl::string_view> phrases(info.paraphrases.begin(),
                                           info.paraphrases.end());
    phrases.push_back(info.phrase);
    for (absl::string_view phrase : phrases) {
      const std::vector<std::string> tokens =
          absl::StrSplit(phrase, ' ', absl::SkipEmpty());
      for (size_t i = 0; i + tokens.size() <= words.size(); ++i) {
        if (!std::equal(tokens.begin(), tokens.end(), words.begin() + i)) {
          continue;
        }
        if (i < action_at ||
            (i == action_at && tokens.size() > action_length)) {
          action = info.id;
          action_at = i;
          action_length = tokens.size();
        }
        break;
      }
    }
  }
  if (color.empty() || shape.empty() || action < 0) return "";
  return absl::StrCat(color, " ", shape, " ", Actions()[action].name);
}

double TwinAccuracy(const torch::Tensor& logits, const torch::Tensor& labels) {
  auto logits_a = logits.accessor<float, 2>();
  auto labels_a = labels.accessor<int64_t, 1>();
  int64_t n = 0, hits = 0;
  for (int64_t i = 0; i < labels.size(0); ++i) {
    const int64_t label = labels_a[i];
    if (label < 0 || label >= kNumActions || label >= logits.size(1)) {
      continue;
    }
    const int64_t twin = Actions()[label].twin_id;
    if (twin >= logits.size(1)) continue;
    ++n;
    if (logits_a[i][label] > logits_a[i][twin]) ++hits;
  }
  return n == 0 ? 0.0 : static_cast<double>(hits) / n;
}

}  // namespace iv::synthworld
