// The one clip pipeline: how a model's input clips are cut from a video, for
// the trainer's loader, `iv eval`, the localization windows and every
// service alike. A ClipSpec is resolved once from what the model reads
// (ClipInput) and the overrides of a recipe or a request; then the same
// three steps make every clip: plan frame indices (ClipFrameIndices or
// SlidingWindows), decode each frame once (cut_clips.h), and cut and
// normalize the views (CutClip). Whoever follows these gets the same pixels,
// bit for bit (tests/same_pixels_test).
#ifndef COMMON_VIDEO_CLIP_SPEC_H_
#define COMMON_VIDEO_CLIP_SPEC_H_

#include <torch/torch.h>

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/video/sampler.h"
#include "common/video/transforms.h"
#include "protos/common.pb.h"

namespace iv::video {

// What one input clip of a model is: the geometry of the encoder that reads
// the clips (the multimodal encoder when the model has one; a masked encoder
// beside it reads the same pixels renormalized) and its sampling defaults.
struct ClipInput {
  int num_frames = 0;
  int size = 0;        // side of the square frames, in pixels
  int patch_size = 0;  // other crop sizes must be multiples of it
  Normalization normalization = kClipNormalization;
  internvideo::v1::ClipSampling sampling;  // the encoder's defaults
};

enum class ClipMode { kUniform, kDense, kLinspace };

// A ClipSampling with every default filled in.
struct ClipSpec {
  ClipMode mode = ClipMode::kUniform;
  int num_frames = 16;
  int frame_interval = 4;   // kDense only
  int num_clips = 1;        // temporal views
  bool three_crop = false;  // spatial views: three crops, else the centre one
  int short_side = 224;     // frames are resized so their short side is this
  int crop_size = 224;      // then cropped to crop_size x crop_size
  Resize resize = Resize::kBilinear;
  Normalization normalization = kClipNormalization;

  int views_per_clip() const { return three_crop ? 3 : 1; }
};

// The spec for a model whose clips are `input`: its sampling defaults, then
// `overrides` (a recipe's or a request's sampling: every field set replaces
// the default). INVALID_ARGUMENT naming `<field>.<name>` for a negative
// value, an enum value this build does not know, a frame count other than
// the model's, a crop that is not a multiple of the patch size or above
// 1024, a short side outside [crop_size, 4096], or more than `max_clips`
// clips.
absl::StatusOr<ClipSpec> ResolveClipSpec(
    const ClipInput& input, const internvideo::v1::ClipSampling& overrides,
    int max_clips, absl::string_view field = "sampling");

// The frames of the spec's clips among a video's `num_frames` frames. Test
// mode: num_clips clips (uniform: one from each of num_clips equal parts;
// dense: spread evenly; linspace: the one). Training: one clip at random
// offsets from `rng` (linspace has none: it stays deterministic).
std::vector<std::vector<int64_t>> ClipFrameIndices(
    const ClipSpec& spec, int64_t num_frames,
    SampleMode mode = SampleMode::kTest, std::mt19937_64* rng = nullptr);

// One clip's uint8 frames [T, H, W, 3] -> its views, each float
// [3, T, crop_size, crop_size] normalized: resized by the short side one
// frame at a time (one native-size float frame held, not T), then cropped
// (with `rng`, one random crop: training; else the centre, or three crops).
std::vector<torch::Tensor> CutClip(const torch::Tensor& frames,
                                   const ClipSpec& spec,
                                   std::mt19937_64* rng = nullptr);

}  // namespace iv::video

#endif  // COMMON_VIDEO_CLIP_SPEC_H_
