#include "common/model/internvideo/window_features.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/video/decoder.h"
#include "common/video/sampler.h"
#include "common/video/transforms.h"

namespace iv::model {

data::ClipLoaderOptions ModelClipOptions(
    const InternVideoConfig& config,
    const internvideo::v1::ClipSampling& overrides) {
  using internvideo::v1::ClipSampling;
  data::ClipLoaderOptions options;
  const ClipSampling* encoder_sampling = nullptr;
  if (config.masked_encoder) {
    options.num_frames = config.masked_encoder->num_frames;
    options.crop_size = config.masked_encoder->img_size;
    options.normalization = MaskedNormalization(config);
    encoder_sampling = &config.proto.masked_encoder().sampling();
  } else {
    options.num_frames = config.multimodal->vision.num_frames;
    options.crop_size = config.multimodal->vision.input_resolution;
    options.normalization = MultimodalNormalization(config);
    encoder_sampling = &config.proto.multimodal_encoder().vision().sampling();
  }
  for (const ClipSampling* sampling : {encoder_sampling, &overrides}) {
    if (sampling->num_frames() > 0) options.num_frames = sampling->num_frames();
    if (sampling->crop_size() > 0) options.crop_size = sampling->crop_size();
    if (sampling->short_side() > 0) options.short_side = sampling->short_side();
    if (sampling->mode() == ClipSampling::MODE_DENSE) {
      options.sampler = data::FrameSampler::kDense;
    }
    if (sampling->frame_interval() > 0) {
      options.frame_interval = sampling->frame_interval();
    }
  }
  options.train = false;
  return options;
}

absl::StatusOr<WindowFeatures> ComputeWindowFeatures(
    InternVideoModel& model, const std::string& path,
    const data::ClipLoaderOptions& options, int batch_size,
    int64_t max_windows) {
  absl::StatusOr<std::unique_ptr<video::VideoDecoder>> decoder =
      video::VideoDecoder::Open(path);
  if (!decoder.ok()) return decoder.status();
  absl::StatusOr<WindowFeatures> features =
      ComputeWindowFeatures(model, **decoder, options, batch_size, max_windows);
  if (!features.ok() && absl::IsInvalidArgument(features.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", features.status().message()));
  }
  return features;
}

absl::StatusOr<WindowFeatures> ComputeWindowFeatures(
    InternVideoModel& model, video::VideoDecoder& decoder,
    const data::ClipLoaderOptions& options, int batch_size,
    int64_t max_windows) {
  const InternVideoConfig& config = model->config();
  if (!config.localization) {
    return absl::FailedPreconditionError("the model has no localization head");
  }
  WindowFeatures result;
  result.duration_s = decoder.info().duration_s;
  absl::StatusOr<std::vector<video::Window>> windows = video::SlidingWindows(
      decoder.frame_times(), result.duration_s, config.localization->window_s,
      config.localization->stride_s, options.num_frames, max_windows);
  if (!windows.ok()) return windows.status();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> features;
  // A batch of windows at a time, each frame of a batch decoded once: the
  // frames held are one batch's, not the video's (a 10-minute 720p video
  // has thousands of window frames, gigabytes as RGB). Frames shared by
  // windows of two batches are decoded twice.
  for (size_t start = 0; start < windows->size(); start += batch_size) {
    const size_t end = std::min(windows->size(), start + batch_size);
    std::vector<std::vector<int64_t>> window_frames;
    for (size_t w = start; w < end; ++w) {
      window_frames.push_back((*windows)[w].frame_indices);
    }
    const video::FramePlan plan = video::PlanFrames(window_frames);
    absl::StatusOr<torch::Tensor> decoded = decoder.DecodeFrames(plan.frames);
    if (!decoded.ok()) return decoded.status();
    std::vector<torch::Tensor> clips;
    for (size_t w = start; w < end; ++w) {
      const video::Window& window = (*windows)[w];
      clips.push_back(data::PrepareClip(
          decoded->index_select(
              0, torch::tensor(plan.rows[w - start], torch::kInt64)),
          options));
      result.centres_s.push_back((window.start_s + window.end_s) / 2);
    }
    const torch::Tensor video = torch::stack(clips);
    const torch::Tensor multimodal_video =
        config.multimodal ? video::Renormalize(video, options.normalization,
                                               MultimodalNormalization(config))
                          : torch::Tensor();
    features.push_back(model->ClipFeatures(config.localization->feature_source,
                                           video, multimodal_video));
  }
  result.features = torch::cat(features).to(torch::kFloat32);
  return result;
}

}  // namespace iv::model
