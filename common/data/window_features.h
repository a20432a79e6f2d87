// The input of the localization head for one untrimmed video: the clip
// features of its sliding windows (common/video/sampler.h SlidingWindows,
// with the head's window_s and stride_s), each window's frames cut by the
// model's ClipSpec (common/video/clip_spec.h) and encoded by the head's
// feature source. The feature extractor is frozen in localization
// training, so training computes each video's features once and keeps them
// (ActionFormer trains on precomputed features too); evaluation and the
// task service's Localize compute them with this same function.
#ifndef COMMON_DATA_WINDOW_FEATURES_H_
#define COMMON_DATA_WINDOW_FEATURES_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/internvideo/internvideo_model.h"
#include "common/video/clip_spec.h"
#include "common/video/decoder.h"

namespace iv::data {

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
// decoded (each once) and dropped before the next batch's. `spec` is the
// model's (ResolveClipSpec of its ClipInputOf); its frame count is the
// frames per window, and one centre view is cut per window.
// Errors: the decoder's, or INVALID_ARGUMENT for a video shorter than one
// window; the caller names the video; RESOURCE_EXHAUSTED for a video longer
// than `max_windows` windows (checked before anything is decoded).
absl::StatusOr<WindowFeatures> ComputeWindowFeatures(
    model::InternVideoModel& model, video::VideoDecoder& decoder,
    const video::ClipSpec& spec, int batch_size = 16,
    int64_t max_windows = kDefaultMaxWindows);

// The same for the video file at `path`, its errors prefixed with the path.
absl::StatusOr<WindowFeatures> ComputeWindowFeatures(
    model::InternVideoModel& model, const std::string& path,
    const video::ClipSpec& spec, int batch_size = 16,
    int64_t max_windows = kDefaultMaxWindows);

}  // namespace iv::data

#endif  // COMMON_DATA_WINDOW_FEATURES_H_
