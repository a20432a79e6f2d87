#include "common/serving/video_clips.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/serving/status.h"
#include "common/video/clip_spec.h"
#include "common/video/cut_clips.h"
#include "common/video/sampler.h"

namespace iv::serving {
namespace {

// Slack for frame times that land exactly on a boundary.
constexpr double kEpsilon = 1e-9;

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
std::vector<std::vector<int64_t>> VideoClipIndices(const video::ClipSpec& spec,
                                                   const Span& span) {
  std::vector<std::vector<int64_t>> clips =
      video::ClipFrameIndices(spec, span.end - span.begin);
  for (std::vector<int64_t>& clip : clips) {
    for (int64_t& index : clip) index += span.begin;
  }
  return clips;
}

// The sliding windows of `request.windows` over `span`, at most
// `max_windows` of them.
absl::StatusOr<std::vector<video::Window>> Windows(
    const ClipRequest& request, const video::ClipSpec& spec,
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
      times, length, window, stride, spec.num_frames, max_windows);
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
                         int64_t rows, const video::ClipSpec& spec,
                         const ClipLimits& limits) {
  const double pixels = static_cast<double>(info.width) * info.height;
  const auto [height, width] = video::ShortSideSize(
      info.height, info.width, spec.short_side, spec.resize);
  const double frames = spec.num_frames;
  const double crop = static_cast<double>(spec.crop_size) * spec.crop_size;
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
      spec.num_frames, spec.crop_size, spec.crop_size,
      limits.max_request_bytes >> 20));
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

absl::StatusOr<VideoClips> CutVideoClips(video::VideoDecoder& decoder,
                                         const ClipRequest& request,
                                         const ModelSnapshot& model,
                                         const ClipLimits& limits) {
  absl::StatusOr<video::ClipSpec> spec =
      video::ResolveClipSpec(model.input, request.sampling, limits.max_clips);
  if (!spec.ok()) return spec.status();
  absl::StatusOr<Span> span = RequestedSpan(request.video, decoder);
  if (!span.ok()) return span.status();

  std::vector<std::vector<int64_t>> clips;
  if (request.whole_video) {
    clips = VideoClipIndices(*spec, *span);
  }
  VideoClips result;
  result.info = InfoProto(decoder.info());
  result.views = spec->views_per_clip();
  result.video_rows = static_cast<int64_t>(clips.size()) * result.views;
  if (request.windows) {
    // The rows left after the whole video's bound the window count.
    const int64_t max_windows = std::max<int64_t>(
        limits.max_rows / result.views - static_cast<int64_t>(clips.size()), 0);
    absl::StatusOr<std::vector<video::Window>> windows =
        Windows(request, *spec, decoder, *span, max_windows);
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

  // Every byte the request will hold is counted before anything is decoded.
  if (absl::Status s =
          CheckMemory(decoder.info(), video::PlanFrames(clips).frames.size(),
                      rows, *spec, limits);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<torch::Tensor> cut = video::CutClips(decoder, clips, *spec);
  if (!cut.ok()) {
    return absl::Status(cut.status().code(),
                        absl::StrCat("video: ", cut.status().message()));
  }
  result.rows = *std::move(cut);
  return result;
}

}  // namespace iv::serving
