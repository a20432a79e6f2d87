// The decoding step of the clip pipeline (clip_spec.h): a set of clips'
// frames decoded once each, then cut as their spec says.
#ifndef COMMON_VIDEO_CUT_CLIPS_H_
#define COMMON_VIDEO_CUT_CLIPS_H_

#include <torch/torch.h>

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "common/video/clip_spec.h"
#include "common/video/decoder.h"

namespace iv::video {

// Decodes the frames of `clips` (frame indices of `decoder`'s video), each
// frame once however many clips share it (clips overlap, short videos
// repeat frames), and cuts every clip with CutClip:
// [clips x views, 3, T, crop_size, crop_size], a clip's views side by side.
// The decoder's errors as they are.
absl::StatusOr<torch::Tensor> CutClips(
    VideoDecoder& decoder, const std::vector<std::vector<int64_t>>& clips,
    const ClipSpec& spec, std::mt19937_64* rng = nullptr);

}  // namespace iv::video

#endif  // COMMON_VIDEO_CUT_CLIPS_H_
