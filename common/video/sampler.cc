#include "common/video/sampler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace iv::video {
namespace {

// A uniform integer in [0, n), from the raw engine output: std distributions
// are implementation-defined, the engine is not.
int64_t RandomBelow(std::mt19937_64* rng, int64_t n) {
  return n <= 1 ? 0 : static_cast<int64_t>((*rng)() % static_cast<uint64_t>(n));
}

}  // namespace

std::vector<int64_t> UniformIndices(int64_t num_frames, int num_segments,
                                    SampleMode mode, std::mt19937_64* rng) {
  std::vector<int64_t> indices;
  if (num_frames <= 0 || num_segments <= 0) return indices;
  indices.reserve(num_segments);
  const int64_t segment = num_frames / num_segments;
  if (mode == SampleMode::kTrain && rng != nullptr && segment > 0) {
    for (int k = 0; k < num_segments; ++k) {
      indices.push_back(k * segment + RandomBelow(rng, segment));
    }
    return indices;
  }
  const double tick = static_cast<double>(num_frames) / num_segments;
  for (int k = 0; k < num_segments; ++k) {
    indices.push_back(std::min<int64_t>(
        static_cast<int64_t>(tick / 2.0 + tick * k), num_frames - 1));
  }
  return indices;
}

std::vector<int64_t> LinspaceIndices(int64_t num_frames, int num_indices) {
  std::vector<int64_t> indices;
  if (num_frames <= 0 || num_indices <= 0) return indices;
  // numpy: step = (stop - start) / (num - 1), element i = i * step, the
  // last one stop exactly.
  const double stop = static_cast<double>(num_frames - 1);
  const double step = num_indices > 1 ? stop / (num_indices - 1) : 0.0;
  for (int i = 0; i < num_indices; ++i) {
    indices.push_back(i == num_indices - 1 && num_indices > 1
                          ? num_frames - 1
                          : static_cast<int64_t>(i * step));
  }
  return indices;
}

std::vector<std::vector<int64_t>> DenseClips(int64_t num_frames, int clip_len,
                                             int frame_interval, int num_clips,
                                             SampleMode mode,
                                             std::mt19937_64* rng) {
  std::vector<std::vector<int64_t>> clips;
  if (num_frames <= 0 || clip_len <= 0 || frame_interval <= 0 ||
      num_clips <= 0) {
    return clips;
  }
  const int64_t span = static_cast<int64_t>(clip_len) * frame_interval;
  std::vector<int64_t> offsets(num_clips, 0);
  if (mode == SampleMode::kTrain && rng != nullptr) {
    const int64_t room = num_frames - span + 1;
    const int64_t average = room / num_clips;
    if (average > 0) {
      for (int k = 0; k < num_clips; ++k) {
        offsets[k] = k * average + RandomBelow(rng, average);
      }
    } else if (room > 0) {
      for (int64_t& offset : offsets) offset = RandomBelow(rng, room);
      std::sort(offsets.begin(), offsets.end());
    }
  } else {
    const int64_t max_offset = std::max<int64_t>(num_frames - span, 0);
    if (num_clips == 1) {
      offsets[0] = max_offset / 2;
    } else {
      const double between = static_cast<double>(max_offset) / (num_clips - 1);
      for (int k = 0; k < num_clips; ++k) {
        // Half to even, as numpy.round in mmaction2.
        offsets[k] = static_cast<int64_t>(std::nearbyint(k * between));
      }
    }
  }
  for (int64_t offset : offsets) {
    std::vector<int64_t> clip(clip_len);
    for (int j = 0; j < clip_len; ++j) {
      clip[j] = std::min<int64_t>(offset + j * frame_interval, num_frames - 1);
    }
    clips.push_back(std::move(clip));
  }
  return clips;
}

absl::StatusOr<std::vector<Window>> SlidingWindows(
    const std::vector<double>& frame_times, double duration_s, double window_s,
    double stride_s, int frames_per_window, int64_t max_windows) {
  if (!(window_s > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("window_s: must be positive, got ", window_s));
  }
  if (!(stride_s > 0) || stride_s > window_s) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stride_s: must be in (0, window_s = ", window_s, "], got ", stride_s));
  }
  if (frames_per_window <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frames_per_window: must be positive, got ", frames_per_window));
  }
  if (frame_times.empty() || duration_s < window_s) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "window_s: the video is %.3f s long, shorter than one window of "
        "%.3f s",
        duration_s, window_s));
  }
  // A small epsilon keeps a window that ends exactly at the end despite
  // floating-point steps.
  constexpr double kEpsilon = 1e-9;
  // Counted in floating point before anything is made: a file's timestamps
  // can claim 1e9 s, and 1e9 s at a 1e-9 s stride fits no integer.
  const double regular =
      std::floor((duration_s + kEpsilon - window_s) / stride_s) + 1;
  const auto too_many = [&](double count) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "stride_s: %g s windows every %g s over %.3f s make %.0f windows, "
        "above the limit of %d",
        window_s, stride_s, duration_s, count, max_windows));
  };
  if (!(regular <= static_cast<double>(max_windows))) {
    return too_many(regular);
  }
  std::vector<double> starts;
  for (int64_t i = 0; i * stride_s + window_s <= duration_s + kEpsilon; ++i) {
    starts.push_back(i * stride_s);
  }
  if (starts.back() + window_s < duration_s - kEpsilon) {
    starts.push_back(duration_s - window_s);
  }
  if (static_cast<int64_t>(starts.size()) > max_windows) {
    return too_many(starts.size());
  }
  std::vector<Window> windows;
  windows.reserve(starts.size());
  for (double start : starts) {
    Window window{start, start + window_s, {}};
    // The frames on screen during [start, end).
    auto first = std::lower_bound(frame_times.begin(), frame_times.end(),
                                  start - kEpsilon);
    auto last = std::lower_bound(frame_times.begin(), frame_times.end(),
                                 window.end_s - kEpsilon);
    int64_t begin = first - frame_times.begin();
    int64_t count = std::max<int64_t>(last - first, 1);
    begin =
        std::min<int64_t>(begin, static_cast<int64_t>(frame_times.size()) - 1);
    count = std::min<int64_t>(count,
                              static_cast<int64_t>(frame_times.size()) - begin);
    for (int64_t index :
         UniformIndices(count, frames_per_window, SampleMode::kTest)) {
      window.frame_indices.push_back(begin + index);
    }
    windows.push_back(std::move(window));
  }
  return windows;
}

FramePlan PlanFrames(const std::vector<std::vector<int64_t>>& clips) {
  FramePlan plan;
  for (const std::vector<int64_t>& clip : clips) {
    plan.frames.insert(plan.frames.end(), clip.begin(), clip.end());
  }
  std::sort(plan.frames.begin(), plan.frames.end());
  plan.frames.erase(std::unique(plan.frames.begin(), plan.frames.end()),
                    plan.frames.end());
  for (const std::vector<int64_t>& clip : clips) {
    std::vector<int64_t>& rows = plan.rows.emplace_back();
    for (int64_t index : clip) {
      rows.push_back(
          std::lower_bound(plan.frames.begin(), plan.frames.end(), index) -
          plan.frames.begin());
    }
  }
  return plan;
}

}  // namespace iv::video
