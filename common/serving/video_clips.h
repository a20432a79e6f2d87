// From a request's video to a model's input rows: the whole video's clips
// (num_clips x crops) and, with sliding windows, one clip per window
// (x crops), each row [3, T, S, S] as the model's ClipInputOf says. The
// clips are cut by the one clip pipeline (common/video/clip_spec.h) in
// test mode, as the trainer's evaluation cuts them; what is the services'
// own is the request's span, its windows and its limits.
#ifndef COMMON_SERVING_VIDEO_CLIPS_H_
#define COMMON_SERVING_VIDEO_CLIPS_H_

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/serving/model_registry.h"
#include "common/video/decoder.h"
#include "protos/common.pb.h"

namespace iv::serving {

struct ClipLimits {
  int max_clips = 16;  // sampling.num_clips
  int max_rows = 512;  // rows of one request (clips x crops + windows)
  // Frame memory of one request: decoded frames, resized clips, model rows.
  int64_t max_request_bytes = int64_t{1} << 30;
};

struct VideoClips {
  torch::Tensor rows;      // [N, 3, T, S, S]
  int64_t video_rows = 0;  // rows[0, video_rows): the whole video's views
  int64_t views = 1;       // crops per clip; each window has this many rows
  std::vector<internvideo::v1::TemporalSegment> windows;  // after the video's
  internvideo::v1::VideoInfo info;
};

// What to cut from one video.
struct ClipRequest {
  // Only its `segment` is used: it limits the span clips are cut from.
  internvideo::v1::VideoSource video;
  internvideo::v1::ClipSampling sampling;
  bool whole_video = true;  // cut the whole video's clips x crops
  // Also one clip per sliding window (window_s 0 = 2 s, stride_s 0 =
  // window_s / 2).
  std::optional<internvideo::v1::SlidingWindow> windows;
  // The name of `windows` in the caller's request, for error messages.
  std::string windows_field = "segments";
};

// Checks the request's fields (sampling through video::ResolveClipSpec,
// windows, video.segment), picks the frames, decodes them and cuts the
// rows. RESOURCE_EXHAUSTED when the request would need more than max_rows
// rows or max_request_bytes of frames.
absl::StatusOr<VideoClips> CutVideoClips(video::VideoDecoder& decoder,
                                         const ClipRequest& request,
                                         const ModelSnapshot& model,
                                         const ClipLimits& limits);

}  // namespace iv::serving

#endif  // COMMON_SERVING_VIDEO_CLIPS_H_
