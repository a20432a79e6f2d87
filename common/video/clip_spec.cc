#include "common/video/clip_spec.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace iv::video {
namespace {

using internvideo::v1::ClipSampling;

absl::Status InvalidField(absl::string_view prefix, absl::string_view name,
                          absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(prefix, ".", name, ": ", problem));
}

// INVALID_ARGUMENT naming the field: a negative size or count, or an enum
// value this build does not know (open proto enums carry any number; one
// unknown here would otherwise fall back to a default silently).
absl::Status CheckFields(const ClipSampling& sampling,
                         absl::string_view field) {
  for (const auto& [name, value] :
       {std::pair{"num_frames", sampling.num_frames()},
        std::pair{"frame_interval", sampling.frame_interval()},
        std::pair{"num_clips", sampling.num_clips()},
        std::pair{"short_side", sampling.short_side()},
        std::pair{"crop_size", sampling.crop_size()}}) {
    if (value < 0) {
      return InvalidField(field, name,
                          absl::StrCat("must be >= 0, got ", value));
    }
  }
  for (const auto& [name, known] :
       {std::pair{"mode", ClipSampling::Mode_IsValid(sampling.mode())},
        std::pair{"crop", ClipSampling::Crop_IsValid(sampling.crop())},
        std::pair{"resize", ClipSampling::Resize_IsValid(sampling.resize())}}) {
    if (!known) {
      return InvalidField(field, name,
                          "unknown value; see ClipSampling in common.proto");
    }
  }
  return absl::OkStatus();
}

// The first of `values` that is positive, else `fallback`.
int FirstSet(std::initializer_list<int> values, int fallback) {
  for (int value : values) {
    if (value > 0) return value;
  }
  return fallback;
}

Resize ResizeOf(ClipSampling::Resize resize) {
  switch (resize) {
    case ClipSampling::RESIZE_PILLOW_BILINEAR:
      return Resize::kPillowBilinear;
    case ClipSampling::RESIZE_OPENCV_BILINEAR:
      return Resize::kOpenCvBilinear;
    default:
      return Resize::kBilinear;
  }
}

}  // namespace

absl::StatusOr<ClipSpec> ResolveClipSpec(const ClipInput& input,
                                         const ClipSampling& overrides,
                                         int max_clips,
                                         absl::string_view field) {
  if (absl::Status s = CheckFields(overrides, field); !s.ok()) return s;
  const ClipSampling& defaults = input.sampling;
  ClipSpec spec;
  spec.normalization = input.normalization;
  spec.num_frames = input.num_frames;
  if (overrides.num_frames() > 0 &&
      overrides.num_frames() != input.num_frames) {
    return InvalidField(
        field, "num_frames",
        absl::StrCat("the model takes ", input.num_frames,
                     " frames per clip, got ", overrides.num_frames()));
  }
  const ClipSampling::Mode mode =
      overrides.mode() != ClipSampling::MODE_UNSPECIFIED ? overrides.mode()
                                                         : defaults.mode();
  spec.mode = mode == ClipSampling::MODE_DENSE      ? ClipMode::kDense
              : mode == ClipSampling::MODE_LINSPACE ? ClipMode::kLinspace
                                                    : ClipMode::kUniform;
  spec.resize = ResizeOf(overrides.resize() != ClipSampling::RESIZE_UNSPECIFIED
                             ? overrides.resize()
                             : defaults.resize());
  spec.frame_interval =
      FirstSet({overrides.frame_interval(), defaults.frame_interval()}, 4);
  spec.num_clips = FirstSet({overrides.num_clips(), defaults.num_clips()}, 1);
  if (spec.mode == ClipMode::kLinspace && spec.num_clips > 1) {
    return InvalidField(
        field, "num_clips",
        absl::StrCat("MODE_LINSPACE takes one clip, got ", spec.num_clips));
  }
  if (spec.num_clips > max_clips) {
    return InvalidField(
        field, "num_clips",
        absl::StrCat(spec.num_clips, " is above the server's limit of ",
                     max_clips));
  }
  const ClipSampling::Crop crop =
      overrides.crop() != ClipSampling::CROP_UNSPECIFIED ? overrides.crop()
                                                         : defaults.crop();
  spec.three_crop = crop == ClipSampling::CROP_THREE;
  spec.crop_size =
      FirstSet({overrides.crop_size(), defaults.crop_size()}, input.size);
  if (spec.crop_size % input.patch_size != 0 || spec.crop_size > 1024) {
    return InvalidField(
        field, "crop_size",
        absl::StrCat("must be a multiple of the model's patch size ",
                     input.patch_size, " up to 1024, got ", spec.crop_size));
  }
  spec.short_side =
      FirstSet({overrides.short_side(), defaults.short_side()}, spec.crop_size);
  if (spec.short_side < spec.crop_size || spec.short_side > 4096) {
    return InvalidField(field, "short_side",
                        absl::StrCat("must be in [crop_size = ", spec.crop_size,
                                     ", 4096], got ", spec.short_side));
  }
  return spec;
}

std::vector<std::vector<int64_t>> ClipFrameIndices(const ClipSpec& spec,
                                                   int64_t num_frames,
                                                   SampleMode mode,
                                                   std::mt19937_64* rng) {
  switch (spec.mode) {
    case ClipMode::kLinspace:
      return {LinspaceIndices(num_frames, spec.num_frames)};
    case ClipMode::kDense:
      return DenseClips(num_frames, spec.num_frames, spec.frame_interval,
                        mode == SampleMode::kTrain ? 1 : spec.num_clips, mode,
                        rng);
    case ClipMode::kUniform:
      break;
  }
  if (mode == SampleMode::kTrain) {
    return {UniformIndices(num_frames, spec.num_frames, mode, rng)};
  }
  // One clip from each of num_clips equal parts.
  std::vector<std::vector<int64_t>> clips;
  for (int c = 0; c < spec.num_clips; ++c) {
    const int64_t first = c * num_frames / spec.num_clips;
    const int64_t last =
        std::max(first + 1, (c + 1) * num_frames / spec.num_clips);
    std::vector<int64_t> clip =
        UniformIndices(last - first, spec.num_frames, SampleMode::kTest);
    for (int64_t& index : clip) index += first;
    clips.push_back(std::move(clip));
  }
  return clips;
}

std::vector<torch::Tensor> CutClip(const torch::Tensor& frames,
                                   const ClipSpec& spec, std::mt19937_64* rng) {
  std::vector<torch::Tensor> resized;
  for (int64_t t = 0; t < frames.size(0); ++t) {
    resized.push_back(
        ResizeFrames(frames.narrow(0, t, 1), spec.short_side, spec.resize));
  }
  const torch::Tensor clip = torch::cat(resized, 1);
  std::vector<torch::Tensor> views =
      rng != nullptr ? std::vector{RandomCrop(clip, spec.crop_size, rng)}
      : spec.three_crop
          ? ThreeCrop(clip, spec.crop_size)
          : std::vector{CenterCrop(clip, spec.crop_size, spec.resize)};
  for (torch::Tensor& view : views) {
    view = Normalize(view, spec.normalization).contiguous();
  }
  return views;
}

}  // namespace iv::video
