// The input of the localization head for one untrimmed video: the clip
// features of its sliding windows (common/video/sampler.h SlidingWindows,
// with the head's feature_window), each window's frames shaped as the
// loader shapes evaluation clips and encoded by the head's feature source.
// The feature extractor is frozen in localization training, so training
// computes each video's features once and keeps them (ActionFormer trains
// on precomputed features too).
#ifndef COMMON_MODEL_INTERNVIDEO_WINDOW_FEATURES_H_
#define COMMON_MODEL_INTERNVIDEO_WINDOW_FEATURES_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/clip_loader.h"
#include "common/model/internvideo/internvideo_model.h"
#include "common/video/decoder.h"

namespace iv::model {

// How clips are cut for `config`: the frame count, size, sampler and
// normalization of its masked encoder when it has one (the multimodal
// encoder then gets the same clip renormalized), else of its multimodal
// encoder, each overridden by that encoder's `sampling` and then by
// `overrides` (a recipe's data sampling). Evaluation mode (no
// augmentation); the trainer, the task services and `iv eval` cut clips
// with it, so all of them see the same pixels.
data::ClipLoaderOptions ModelClipOptions(
    const InternVideoConfig& config,
    const internvideo::v1::ClipSampling& overrides = {});

// Windows of one video unless a caller says otherwise: an hour at a 0.25 s
// stride (iv-tiny's).
inline constexpr int64_t kDefaultMaxWindows = 14400;

struct WindowFeatures {
  std::vector<double> centres_s;  // each window's midpoint
  double duration_s = 0;
  torch::Tensor features;  // float [windows, feature_dim]
};

// Runs without autograd over the video `decoder` was opened on (a file or
// bytes in memory), `batch_size` windows at a time: their frames are
// decoded (each once) and dropped before the next batch's. `options` gives
// frames per window, crop and normalization (ModelClipOptions of the model).
// Errors: the decoder's, or INVALID_ARGUMENT for a video shorter than one
// window; the caller names the video; RESOURCE_EXHAUSTED for a video longer
// than `max_windows` windows (checked before anything is decoded).
absl::StatusOr<WindowFeatures> ComputeWindowFeatures(
    InternVideoModel& model, video::VideoDecoder& decoder,
    const data::ClipLoaderOptions& options, int batch_size = 16,
    int64_t max_windows = kDefaultMaxWindows);

// The same for the video file at `path`, its errors prefixed with the path.
absl::StatusOr<WindowFeatures> ComputeWindowFeatures(
    InternVideoModel& model, const std::string& path,
    const data::ClipLoaderOptions& options, int batch_size = 16,
    int64_t max_windows = kDefaultMaxWindows);

}  // namespace iv::model

#endif  // COMMON_MODEL_INTERNVIDEO_WINDOW_FEATURES_H_
