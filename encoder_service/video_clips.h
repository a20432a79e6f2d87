// From a decoded video to the model's input rows for one EmbedVideo request:
// the whole video's clips (num_clips x crops) and, with `segments`, one clip
// per sliding window (x crops), every row CLIP-normalized [3, T, S, S].
// Frames are chosen by common/video's samplers in test mode (centred) and
// cut by its transforms, as the trainer's evaluation cuts them.
#ifndef ENCODER_SERVICE_VIDEO_CLIPS_H_
#define ENCODER_SERVICE_VIDEO_CLIPS_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/video/decoder.h"
#include "encoder_service/model_registry.h"
#include "protos/encoder_service.pb.h"

namespace iv::encoder {

struct ClipLimits {
  int max_clips = 16;  // sampling.num_clips
  int max_rows = 512;  // rows of one request (clips x crops + windows)
};

// A request's ClipSampling with every default filled in from the model.
struct Sampling {
  bool dense = false;
  int num_frames = 0;
  int frame_interval = 4;
  int num_clips = 1;
  bool three_crop = false;
  int short_side = 0;
  int crop_size = 0;
};

// INVALID_ARGUMENT naming the field (`sampling.num_frames`, ...).
absl::StatusOr<Sampling> ResolveSampling(
    const internvideo::v1::ClipSampling& request, const ModelSnapshot& model,
    const ClipLimits& limits);

struct VideoClips {
  torch::Tensor rows;      // [N, 3, T, S, S]
  int64_t video_rows = 0;  // rows[0, video_rows): the whole video's views
  int64_t views = 1;       // crops per clip; each window has this many rows
  std::vector<internvideo::v1::TemporalSegment> windows;  // after the video's
  internvideo::v1::VideoInfo info;
};

// Checks the request's fields (sampling, segments, skip_video_embedding,
// video.segment), picks the frames, decodes them and cuts the rows.
// RESOURCE_EXHAUSTED when the request would need more than max_rows rows.
absl::StatusOr<VideoClips> CutVideoClips(
    video::VideoDecoder& decoder,
    const internvideo::v1::EmbedVideoRequest& request,
    const ModelSnapshot& model, const ClipLimits& limits);

}  // namespace iv::encoder

#endif  // ENCODER_SERVICE_VIDEO_CLIPS_H_
