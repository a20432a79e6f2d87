// From decoded frames to a model's input tensor, as mmaction2 / VideoMAE
// pipelines do it: uint8 [T, H, W, 3] RGB frames become float [3, T, H, W],
// resized by their short side, cropped, optionally flipped, normalized.
// All functions take and return [C, T, H, W] float clips unless said.
#ifndef COMMON_VIDEO_TRANSFORMS_H_
#define COMMON_VIDEO_TRANSFORMS_H_

#include <torch/torch.h>

#include <array>
#include <random>
#include <vector>

namespace iv::video {

// Per-channel mean and standard deviation, on the [0, 1] scale.
struct Normalization {
  std::array<float, 3> mean;
  std::array<float, 3> std;
};
// ImageNet statistics, used by VideoMAE.
inline constexpr Normalization kImageNetNormalization = {
    {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
// OpenAI CLIP statistics, used by the multimodal encoder.
inline constexpr Normalization kClipNormalization = {
    {0.48145466f, 0.4578275f, 0.40821073f},
    {0.26862954f, 0.26130258f, 0.27577711f}};

// uint8 [T, H, W, 3] -> float [3, T, H, W] scaled to [0, 1].
torch::Tensor ToFloatClip(const torch::Tensor& frames);

// How frames are resized by their short side (ClipSampling.Resize): the
// project's bilinear resize of float pixels, or the 8-bit resize of an
// official pipeline (image_resize.h). The official pipelines also round
// sizes and crop offsets as Python does: the long side truncated
// (int(short_side * long / short)), the centre crop's offset rounded half to
// even (round((size - crop) / 2)).
enum class Resize { kBilinear, kPillowBilinear, kOpenCvBilinear };

// The [height, width] a frame of `height` x `width` takes when resized so
// that its shorter side becomes `short_side` (kBilinear: mmaction2's
// rounding).
std::array<int64_t, 2> ShortSideSize(int64_t height, int64_t width,
                                     int short_side,
                                     Resize resize = Resize::kBilinear);

// uint8 [T, H, W, 3] -> float [3, T, H', W'] in [0, 1] whose shorter side is
// `short_side`, resized as `resize` says (frames already that size are
// not resized, in every pipeline).
torch::Tensor ResizeFrames(const torch::Tensor& frames, int short_side,
                           Resize resize);

// Bilinear resize (no antialiasing, like OpenCV's INTER_LINEAR that
// mmaction2 uses) so the shorter side becomes `short_side`, keeping the
// aspect ratio. A clip already at that size is returned as is.
torch::Tensor ResizeShortSide(const torch::Tensor& clip, int short_side);

// Square crops of side `size` (clips smaller than that are an error of the
// caller: resize first). CenterCrop's offset rounds as the pipeline of
// `resize` rounds it.
torch::Tensor CenterCrop(const torch::Tensor& clip, int size,
                         Resize resize = Resize::kBilinear);
// Three crops along the longer side: start, centre, end (mmaction2
// ThreeCrop), for multi-view testing.
std::vector<torch::Tensor> ThreeCrop(const torch::Tensor& clip, int size);
torch::Tensor RandomCrop(const torch::Tensor& clip, int size,
                         std::mt19937_64* rng);

// Mirrors left and right. Datasets whose labels depend on direction (e.g.
// SynthWorld's move_left / move_right) must swap those labels or not flip.
torch::Tensor HorizontalFlip(const torch::Tensor& clip);

torch::Tensor Normalize(const torch::Tensor& clip,
                        const Normalization& normalization);

// A batch of clips [B, 3, T, H, W] normalized with `from`, re-expressed with
// `to` (the same pixels): one decode serves encoders that expect different
// statistics.
torch::Tensor Renormalize(const torch::Tensor& video, const Normalization& from,
                          const Normalization& to);

}  // namespace iv::video

#endif  // COMMON_VIDEO_TRANSFORMS_H_
