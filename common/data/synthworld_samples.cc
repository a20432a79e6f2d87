#include "common/data/synthworld_samples.h"

#include "common/data/synthworld_vocabulary.h"

namespace iv::data {

int MirroredAction(int action_id) {
  using namespace synthworld;  // NOLINT: action names read best unqualified.
  switch (action_id) {
    case kMoveLeft:
      return kMoveRight;
    case kMoveRight:
      return kMoveLeft;
    case kRotateClockwise:
      return kRotateCounterclockwise;
    case kRotateCounterclockwise:
      return kRotateClockwise;
    default:
      return action_id;
  }
}

std::vector<ClipSample> RecognitionSamples(
    const std::vector<TrimmedClip>& clips) {
  std::vector<ClipSample> samples;
  samples.reserve(clips.size());
  for (const TrimmedClip& clip : clips) {
    samples.push_back(
        {clip.path, clip.action_id, MirroredAction(clip.action_id)});
  }
  return samples;
}

}  // namespace iv::data
