// Which frames of a video become a model's input clip, following the
// conventions of mmaction2 and VideoMAE so that checkpoints trained with them
// see the same frames here. Every sampler returns 0-based frame indices in
// presentation order; decoding is someone else's job (VideoDecoder).
//
// Training draws offsets from an std::mt19937_64 (its sequence is fixed by the
// C++ standard, so a seed gives the same clips on every platform); testing is
// deterministic (centred).
#ifndef COMMON_VIDEO_SAMPLER_H_
#define COMMON_VIDEO_SAMPLER_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/statusor.h"

namespace iv::video {

enum class SampleMode { kTest, kTrain };

// TSN segments (VideoMAE's Something-Something loader): the video is cut into
// `num_segments` equal segments and one frame is taken from each, from the
// segment's centre in test mode, at random within it in training. Videos
// shorter than `num_segments` repeat frames.
std::vector<int64_t> UniformIndices(int64_t num_frames, int num_segments,
                                    SampleMode mode,
                                    std::mt19937_64* rng = nullptr);

// `num_indices` frames at np.linspace(0, num_frames - 1, num_indices)
// truncated to integers, first and last included (InternVideo-MM's demo).
std::vector<int64_t> LinspaceIndices(int64_t num_frames, int num_indices);

// Dense clips (mmaction2 SampleFrames): `num_clips` clips of `clip_len`
// frames, `frame_interval` apart. Test mode spreads the clips evenly (one
// clip: centred); training jitters them. Indices past the end repeat the
// last frame (mmaction2's 'repeat_last'; looping would break time order,
// which the project's tasks depend on).
std::vector<std::vector<int64_t>> DenseClips(int64_t num_frames, int clip_len,
                                             int frame_interval, int num_clips,
                                             SampleMode mode,
                                             std::mt19937_64* rng = nullptr);

// One window of a sliding-window pass over an untrimmed video.
struct Window {
  double start_s = 0;
  double end_s = 0;
  std::vector<int64_t> frame_indices;
};

// Windows of `window_s` seconds every `stride_s` seconds (window i covers
// [i * stride_s, i * stride_s + window_s)); windows that would run past the
// end are dropped, and if the kept windows leave a tail uncovered, one more
// window ending exactly at the end is added. Each window takes
// `frames_per_window` frames uniformly (test mode) from the frames shown in
// it. `frame_times` are presentation times in seconds (VideoDecoder's
// frame_times), `duration_s` the video's duration.
// INVALID_ARGUMENT if the video is shorter than one window or the arguments
// are out of range, naming the argument; RESOURCE_EXHAUSTED naming stride_s
// when there would be more than `max_windows` windows, checked before any
// window is made (a file's timestamps can claim any duration).
absl::StatusOr<std::vector<Window>> SlidingWindows(
    const std::vector<double>& frame_times, double duration_s, double window_s,
    double stride_s, int frames_per_window, int64_t max_windows);

// The frames a set of clips reads, each once (clips overlap, and short
// videos repeat frames): `frames` sorted and distinct, what to decode, and
// for each clip the rows of its frames in that decoded tensor.
struct FramePlan {
  std::vector<int64_t> frames;
  std::vector<std::vector<int64_t>> rows;
};
FramePlan PlanFrames(const std::vector<std::vector<int64_t>>& clips);

}  // namespace iv::video

#endif  // COMMON_VIDEO_SAMPLER_H_
