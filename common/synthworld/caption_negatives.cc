#include "common/synthworld/caption_negatives.h"

#include <algorithm>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/synthworld/vocabulary.h"

namespace iv::synthworld {
namespace {

// `words` with the first word equal to `from` replaced by `to`; false when
// there is none.
bool ReplaceWord(std::vector<std::string>& words, absl::string_view from,
                 absl::string_view to) {
  auto it = std::find(words.begin(), words.end(), from);
  if (it == words.end()) return false;
  *it = std::string(to);
  return true;
}

// Another entry of a table of `n` than `own`, drawn from `seed`.
int OtherIndex(int n, int own, uint64_t seed) {
  const int pick = static_cast<int>(seed % static_cast<uint64_t>(n - 1));
  return pick >= own ? pick + 1 : pick;
}

}  // namespace

std::vector<std::string> AttributeSwappedCaptions(const data::TrimmedClip& clip,
                                                  const std::string& caption,
                                                  uint64_t seed) {
  std::vector<std::string> out;
  const std::vector<std::string> words = absl::StrSplit(caption, ' ');
  const int color = ColorId(clip.actor.color);
  if (color >= 0) {
    std::vector<std::string> swapped = words;
    if (ReplaceWord(swapped, clip.actor.color,
                    Colors()[OtherIndex(kNumColors, color, seed)].name)) {
      out.push_back(absl::StrJoin(swapped, " "));
    }
  }
  const int shape = ShapeId(clip.actor.shape);
  if (shape >= 0) {
    std::vector<std::string> swapped = words;
    if (ReplaceWord(
            swapped, clip.actor.shape,
            Shapes()[OtherIndex(kNumShapes, shape, seed / kNumColors)])) {
      out.push_back(absl::StrJoin(swapped, " "));
    }
  }
  if (clip.action_id >= 0 && clip.action_id < kNumActions) {
    const ActionInfo& action = Actions()[clip.action_id];
    // The longest phrase first: "grows larger" before "grows".
    std::vector<absl::string_view> phrases(action.paraphrases.begin(),
                                           action.paraphrases.end());
    phrases.push_back(action.phrase);
    std::sort(phrases.begin(), phrases.end(),
              [](absl::string_view a, absl::string_view b) {
                return a.size() > b.size();
              });
    for (absl::string_view phrase : phrases) {
      const size_t at = absl::string_view(caption).find(phrase);
      if (at == std::string::npos) continue;
      std::string swapped = caption;
      swapped.replace(at, phrase.size(),
                      std::string(Actions()[action.twin_id].phrase));
      out.push_back(swapped);
      break;
    }
  }
  return out;
}

}  // namespace iv::synthworld
