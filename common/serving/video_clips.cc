#include "common/serving/video_clips.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/serving/status.h"
#include "common/video/sampler.h"
#include "common/video/transforms.h"

namespace iv::serving {
namespace {

using internvideo::v1::ClipSampling;

// Slack for frame times that land exactly on a boundary.
constexpr double kEpsilon = 1e-9;

// The first of `values` that is positive, else `fallback`.
int FirstSet(std::initializer_list<int> values, int fallback) {
  for (int value : values) {
    if (value > 0) return value;
  }
  return fallback;
}

// INVALID_ARGUMENT naming the field: a negative size or count, or an enum
// value this server does not know.
absl::Status CheckSamplingFields(const ClipSampling& sampling) {
  for (const auto& [field, value] :
       {std::pair{"num_frames", sampling.num_frames()},
        std::pair{"frame_interval", sampling.frame_interval()},
        std::pair{"num_clips", sampling.num_clips()},
        std::pair{"short_side", sampling.short_side()},
        std::pair{"crop_size", sampling.crop_size()}}) {
    if (value < 0) {
      return InvalidField(absl::StrCat("sampling.", field),
                          absl::StrCat("must be >= 0, got ", value));
    }
  }
  // Open proto enums carry any number; one this server does not know would
  // otherwise fall back to a default silently.
  for (const auto& [field, known] :
       {std::pair{"mode", ClipSampling::Mode_IsValid(sampling.mode())},
        std::pair{"crop", ClipSampling::Crop_IsValid(sampling.crop())},
        std::pair{"resize", ClipSampling::Resize_IsValid(sampling.resize())}}) {
    if (!known) {
      return InvalidField(absl::StrCat("sampling.", field),
                          "unknown value; see ClipSampling in common.proto");
    }
  }
  return absl::OkStatus();
}

// The frames [begin, end) and times [start_s, end_s) of the part of the
// video a request uses (`video.segment`, or all of it).
struct Span {
  int64_t begin = 0, end = 0;
  double start_s = 0, end_s = 0;
};

absl::StatusOr<Span> RequestedSpan(const internvideo::v1::VideoSource& source,
                                   const video::VideoDecoder& decoder) {
  const std::vector<double>& times = decoder.frame_times();
  const double duration = decoder.info().duration_s;
  Span span{0, static_cast<int64_t>(times.size()), 0, duration};
  if (!source.has_segment()) return span;
  const internvideo::v1::TemporalSegment& segment = source.segment();
  if (!(segment.start_s() >= 0) || !(segment.end_s() > segment.start_s())) {
    return InvalidField("video.segment",
                        absl::StrFormat("needs 0 <= start_s < end_s, got "
                                        "[%g, %g)",
                                        segment.start_s(), segment.end_s()));
  }
  if (segment.start_s() >= duration) {
    return InvalidField(
        "video.segment",
        absl::StrFormat("start_s %g is past the end of the video (%.3f s)",
                        segment.start_s(), duration));
  }
  span.start_s = segment.start_s();
  span.end_s = std::min(segment.end_s(), duration);
  span.begin =
      std::lower_bound(times.begin(), times.end(), span.start_s - kEpsilon) -
      times.begin();
  span.end =
      std::lower_bound(times.begin(), times.end(), span.end_s - kEpsilon) -
      times.begin();
  span.begin = std::min<int64_t>(span.begin, times.size() - 1);
  span.end = std::max(span.end, span.begin + 1);
  return span;
}

// Frame indices of the whole-video clips within `span`.
std::vector<std::vector<int64_t>> VideoClipIndices(const Sampling& sampling,
                                                   const Span& span) {
  const int64_t count = span.end - span.begin;
  std::vector<std::vector<int64_t>> clips;
  if (sampling.linspace) {
    clips = {video::LinspaceIndices(count, sampling.num_frames)};
  } else if (sampling.dense) {
    clips =
        video::DenseClips(count, sampling.num_frames, sampling.frame_interval,
                          sampling.num_clips, video::SampleMode::kTest);
  } else {
    // Uniform sampling of num_clips equal parts, one clip each.
    for (int c = 0; c < sampling.num_clips; ++c) {
      const int64_t first = c * count / sampling.num_clips;
      const int64_t last =
          std::max(first + 1, (c + 1) * count / sampling.num_clips);
      std::vector<int64_t> clip = video::UniformIndices(
          last - first, sampling.num_frames, video::SampleMode::kTest);
      for (int64_t& index : clip) index += first;
      clips.push_back(std::move(clip));
    }
  }
  for (std::vector<int64_t>& clip : clips) {
    for (int64_t& index : clip) index += span.begin;
  }
  return clips;
}

// The sliding windows of `request.windows` over `span`, at most
// `max_windows` of them.
absl::StatusOr<std::vector<video::Window>> Windows(
    const ClipRequest& request, const Sampling& sampling,
    const video::VideoDecoder& decoder, const Span& span, int64_t max_windows) {
  double window =
      request.windows->window_s() == 0 ? 2.0 : request.windows->window_s();
  double stride = request.windows->stride_s() == 0
                      ? window / 2
                      : request.windows->stride_s();
  const double length = span.end_s - span.start_s;
  if (request.windows->shorter_as_one_window() && length < window &&
      length > 0 && stride > 0 && stride <= window) {
    window = stride = length;
  }
  const std::vector<double>& all_times = decoder.frame_times();
  std::vector<double> times;
  for (int64_t i = span.begin; i < span.end; ++i) {
    times.push_back(all_times[i] - span.start_s);
  }
  absl::StatusOr<std::vector<video::Window>> windows = video::SlidingWindows(
      times, length, window, stride, sampling.num_frames, max_windows);
  if (!windows.ok()) {
    const absl::Status& status = windows.status();
    return absl::Status(
        status.code(),
        absl::StrCat(
            request.windows_field, ".", status.message(),
            absl::IsResourceExhausted(status)
                ? absl::StrCat("; use a longer ", request.windows_field,
                               ".stride_s or a shorter video.segment")
                : ""));
  }
  for (video::Window& w : *windows) {
    w.start_s += span.start_s;
    w.end_s += span.start_s;
    for (int64_t& index : w.frame_indices) index += span.begin;
  }
  return windows;
}

// RESOURCE_EXHAUSTED when the frames of a request would take more than the
// server's limit: `decoded` frames at the video's size, one of them as
// floats, a clip resized by its short side (and its parts), and the rows
// (and their parts). A 2-frame 8192x8 video asked for a 4096 short side would
// otherwise allocate terabytes.
absl::Status CheckMemory(const video::VideoInfo& info, int64_t decoded,
                         int64_t rows, const Sampling& sampling,
                         const ClipLimits& limits) {
  const double pixels = static_cast<double>(info.width) * info.height;
  const auto [height, width] = video::ShortSideSize(
      info.height, info.width, sampling.short_side, sampling.resize);
  const double frames = sampling.num_frames;
  const double crop =
      static_cast<double>(sampling.crop_size) * sampling.crop_size;
  constexpr double kFloatRgb = 3 * sizeof(float);
  const double bytes =
      decoded * pixels * 3 + pixels * kFloatRgb +
      2 * frames * static_cast<double>(height) * width * kFloatRgb +
      2 * rows * frames * crop * kFloatRgb;
  if (bytes <= static_cast<double>(limits.max_request_bytes)) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrFormat(
      "video: the request needs %.0f MiB for its frames (%d decoded frames of "
      "%dx%d, resized to %dx%d, %d rows of %d frames at %dx%d), above the "
      "server's limit of %d MiB; use a smaller sampling.short_side or "
      "sampling.crop_size, fewer clips or windows, or a smaller video",
      bytes / (1 << 20), decoded, info.width, info.height, width, height, rows,
      sampling.num_frames, sampling.crop_size, sampling.crop_size,
      limits.max_request_bytes >> 20));
}

// uint8 frames [T, H, W, 3] -> float [3, T, H', W'] resized by their short
// side, one frame at a time: only one native-size float frame is held, not
// T of them (the same pixels: frames are resized independently).
torch::Tensor ResizedClip(const torch::Tensor& frames,
                          const Sampling& sampling) {
  std::vector<torch::Tensor> resized;
  for (int64_t t = 0; t < frames.size(0); ++t) {
    resized.push_back(video::ResizeFrames(
        frames.narrow(0, t, 1), sampling.short_side, sampling.resize));
  }
  return torch::cat(resized, 1);
}

video::Resize ResizeOf(ClipSampling::Resize resize) {
  switch (resize) {
    case ClipSampling::RESIZE_PILLOW_BILINEAR:
      return video::Resize::kPillowBilinear;
    case ClipSampling::RESIZE_OPENCV_BILINEAR:
      return video::Resize::kOpenCvBilinear;
    default:
      return video::Resize::kBilinear;
  }
}

internvideo::v1::VideoInfo InfoProto(const video::VideoInfo& info) {
  internvideo::v1::VideoInfo proto;
  proto.set_duration_s(info.duration_s);
  proto.set_fps(info.fps);
  proto.set_num_frames(info.num_frames);
  proto.set_width(info.width);
  proto.set_height(info.height);
  proto.set_codec(info.codec);
  proto.set_rotation_degrees(info.rotation_degrees);
  proto.set_size_bytes(info.size_bytes);
  return proto;
}

}  // namespace

absl::StatusOr<Sampling> ResolveSampling(const ClipSampling& request,
                                         const ModelSnapshot& model,
                                         const ClipLimits& limits) {
  if (absl::Status s = CheckSamplingFields(request); !s.ok()) return s;
  const ClipSampling& defaults = model.input.sampling;
  Sampling sampling;
  sampling.num_frames = model.input.num_frames;
  if (request.num_frames() > 0 && request.num_frames() != sampling.num_frames) {
    return InvalidField(
        "sampling.num_frames",
        absl::StrCat("the model takes ", sampling.num_frames,
                     " frames per clip, got ", request.num_frames()));
  }
  const ClipSampling::Mode mode =
      request.mode() != ClipSampling::MODE_UNSPECIFIED ? request.mode()
                                                       : defaults.mode();
  sampling.dense = mode == ClipSampling::MODE_DENSE;
  sampling.linspace = mode == ClipSampling::MODE_LINSPACE;
  sampling.resize = ResizeOf(
      request.resize() != ClipSampling::RESIZE_UNSPECIFIED ? request.resize()
                                                           : defaults.resize());
  sampling.frame_interval =
      FirstSet({request.frame_interval(), defaults.frame_interval()}, 4);
  sampling.num_clips = FirstSet({request.num_clips(), defaults.num_clips()}, 1);
  if (sampling.linspace && sampling.num_clips > 1) {
    return InvalidField(
        "sampling.num_clips",
        absl::StrCat("MODE_LINSPACE takes one clip, got ", sampling.num_clips));
  }
  if (sampling.num_clips > limits.max_clips) {
    return InvalidField(
        "sampling.num_clips",
        absl::StrCat(sampling.num_clips, " is above the server's limit of ",
                     limits.max_clips));
  }
  const ClipSampling::Crop crop =
      request.crop() != ClipSampling::CROP_UNSPECIFIED ? request.crop()
                                                       : defaults.crop();
  sampling.three_crop = crop == ClipSampling::CROP_THREE;
  sampling.crop_size =
      FirstSet({request.crop_size(), defaults.crop_size()}, model.input.size);
  if (sampling.crop_size % model.input.patch_size != 0 ||
      sampling.crop_size > 1024) {
    return InvalidField(
        "sampling.crop_size",
        absl::StrCat("must be a multiple of the model's patch size ",
                     model.input.patch_size, " up to 1024, got ",
                     sampling.crop_size));
  }
  sampling.short_side = FirstSet({request.short_side(), defaults.short_side()},
                                 sampling.crop_size);
  if (sampling.short_side < sampling.crop_size || sampling.short_side > 4096) {
    return InvalidField(
        "sampling.short_side",
        absl::StrCat("must be in [crop_size = ", sampling.crop_size,
                     ", 4096], got ", sampling.short_side));
  }
  return sampling;
}

absl::StatusOr<VideoClips> CutVideoClips(video::VideoDecoder& decoder,
                                         const ClipRequest& request,
                                         const ModelSnapshot& model,
                                         const ClipLimits& limits) {
  absl::StatusOr<Sampling> sampling =
      ResolveSampling(request.sampling, model, limits);
  if (!sampling.ok()) return sampling.status();
  absl::StatusOr<Span> span = RequestedSpan(request.video, decoder);
  if (!span.ok()) return span.status();

  std::vector<std::vector<int64_t>> clips;
  if (request.whole_video) {
    clips = VideoClipIndices(*sampling, *span);
  }
  VideoClips result;
  result.info = InfoProto(decoder.info());
  result.views = sampling->three_crop ? 3 : 1;
  result.video_rows = static_cast<int64_t>(clips.size()) * result.views;
  if (request.windows) {
    // The rows left after the whole video's bound the window count.
    const int64_t max_windows = std::max<int64_t>(
        limits.max_rows / result.views - static_cast<int64_t>(clips.size()), 0);
    absl::StatusOr<std::vector<video::Window>> windows =
        Windows(request, *sampling, decoder, *span, max_windows);
    if (!windows.ok()) return windows.status();
    for (video::Window& window : *windows) {
      internvideo::v1::TemporalSegment segment;
      segment.set_start_s(window.start_s);
      segment.set_end_s(window.end_s);
      result.windows.push_back(segment);
      clips.push_back(std::move(window.frame_indices));
    }
  }
  const int64_t rows = static_cast<int64_t>(clips.size()) * result.views;
  if (rows > limits.max_rows) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "video: the request needs ", rows, " clips (", result.windows.size(),
        " windows), more than the server's limit of ", limits.max_rows,
        "; use a longer ", request.windows_field,
        ".stride_s or a shorter video.segment"));
  }

  // Each frame is decoded once, and every byte the request will hold is
  // counted first.
  const video::FramePlan plan = video::PlanFrames(clips);
  if (absl::Status s = CheckMemory(decoder.info(), plan.frames.size(), rows,
                                   *sampling, limits);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<torch::Tensor> frames = decoder.DecodeFrames(plan.frames);
  if (!frames.ok()) {
    return absl::Status(frames.status().code(),
                        absl::StrCat("video: ", frames.status().message()));
  }
  std::vector<torch::Tensor> out;
  for (const std::vector<int64_t>& rows_of_clip : plan.rows) {
    const torch::Tensor resized = ResizedClip(
        frames->index_select(0, torch::tensor(rows_of_clip, torch::kInt64)),
        *sampling);
    std::vector<torch::Tensor> views =
        sampling->three_crop
            ? video::ThreeCrop(resized, sampling->crop_size)
            : std::vector<torch::Tensor>{video::CenterCrop(
                  resized, sampling->crop_size, sampling->resize)};
    for (const torch::Tensor& view : views) {
      out.push_back(video::Normalize(view, model.input.normalization));
    }
  }
  result.rows = torch::stack(out);
  return result;
}

}  // namespace iv::serving
