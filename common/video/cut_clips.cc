#include "common/video/cut_clips.h"

#include <utility>

#include "common/video/sampler.h"

namespace iv::video {

absl::StatusOr<torch::Tensor> CutClips(
    VideoDecoder& decoder, const std::vector<std::vector<int64_t>>& clips,
    const ClipSpec& spec, std::mt19937_64* rng) {
  const FramePlan plan = PlanFrames(clips);
  absl::StatusOr<torch::Tensor> frames = decoder.DecodeFrames(plan.frames);
  if (!frames.ok()) return frames.status();
  std::vector<torch::Tensor> rows;
  for (const std::vector<int64_t>& rows_of_clip : plan.rows) {
    for (torch::Tensor& view :
         CutClip(frames->index_select(
                     0, torch::tensor(rows_of_clip, torch::kInt64)),
                 spec, rng)) {
      rows.push_back(std::move(view));
    }
  }
  return torch::stack(rows);
}

}  // namespace iv::video
