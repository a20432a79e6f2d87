#include "common/data/recognition_samples.h"

namespace iv::data {

std::vector<ClipSample> RecognitionSamples(
    const std::vector<TrimmedClip>& clips,
    const std::map<std::string, std::string>& mirrored) {
  std::map<std::string, int> ids;
  for (const TrimmedClip& clip : clips) {
    if (!clip.action.empty() && clip.action_id >= 0) {
      ids.emplace(clip.action, clip.action_id);
    }
  }
  std::vector<ClipSample> samples;
  samples.reserve(clips.size());
  for (const TrimmedClip& clip : clips) {
    int flipped = clip.action_id;
    if (const auto mirror = mirrored.find(clip.action);
        mirror != mirrored.end()) {
      const auto id = ids.find(mirror->second);
      flipped = id == ids.end() ? -1 : id->second;
    }
    samples.push_back({clip.path, clip.action_id, flipped});
  }
  return samples;
}

}  // namespace iv::data
