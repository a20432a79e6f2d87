#include "common/data/window_features.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/video/cut_clips.h"
#include "common/video/sampler.h"

namespace iv::data {

absl::StatusOr<WindowFeatures> ComputeWindowFeatures(
    model::InternVideoModel& model, const std::string& path,
    const video::ClipSpec& spec, int batch_size, int64_t max_windows) {
  absl::StatusOr<std::unique_ptr<video::VideoDecoder>> decoder =
      video::VideoDecoder::Open(path);
  if (!decoder.ok()) return decoder.status();
  absl::StatusOr<WindowFeatures> features =
      ComputeWindowFeatures(model, **decoder, spec, batch_size, max_windows);
  if (!features.ok() && absl::IsInvalidArgument(features.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", features.status().message()));
  }
  return features;
}

absl::StatusOr<WindowFeatures> ComputeWindowFeatures(
    model::InternVideoModel& model, video::VideoDecoder& decoder,
    const video::ClipSpec& spec, int batch_size, int64_t max_windows) {
  const model::InternVideoConfig& config = model->config();
  if (!config.localization) {
    return absl::FailedPreconditionError("the model has no localization head");
  }
  WindowFeatures result;
  result.duration_s = decoder.info().duration_s;
  absl::StatusOr<std::vector<video::Window>> windows = video::SlidingWindows(
      decoder.frame_times(), result.duration_s, config.localization->window_s,
      config.localization->stride_s, spec.num_frames, max_windows);
  if (!windows.ok()) return windows.status();
  video::ClipSpec one_view = spec;
  one_view.three_crop = false;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> features;
  // A batch of windows at a time: the frames held are one batch's, not the
  // video's (a 10-minute 720p video has thousands of window frames,
  // gigabytes as RGB). Frames shared by windows of two batches are decoded
  // twice.
  for (size_t start = 0; start < windows->size(); start += batch_size) {
    const size_t end = std::min(windows->size(), start + batch_size);
    std::vector<std::vector<int64_t>> clips;
    for (size_t w = start; w < end; ++w) {
      const video::Window& window = (*windows)[w];
      clips.push_back(window.frame_indices);
      result.centres_s.push_back((window.start_s + window.end_s) / 2);
    }
    absl::StatusOr<torch::Tensor> video =
        video::CutClips(decoder, clips, one_view);
    if (!video.ok()) return video.status();
    features.push_back(model->ClipFeatures(
        config.localization->feature_source, model->MaskedVideo(*video),
        config.multimodal ? *video : torch::Tensor()));
  }
  result.features = torch::cat(features).to(torch::kFloat32);
  return result;
}

}  // namespace iv::data
