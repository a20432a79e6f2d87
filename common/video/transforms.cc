#include "common/video/transforms.h"

#include <algorithm>
#include <cmath>

#include "common/video/image_resize.h"

namespace iv::video {
namespace {

constexpr int64_t kHeight = 2, kWidth = 3;  // dims of [C, T, H, W]

torch::Tensor Crop(const torch::Tensor& clip, int64_t top, int64_t left,
                   int size) {
  TORCH_CHECK(clip.size(kHeight) >= size && clip.size(kWidth) >= size,
              "crop of ", size, " from a clip of ", clip.size(kHeight), "x",
              clip.size(kWidth));
  return clip.narrow(kHeight, top, size).narrow(kWidth, left, size);
}

}  // namespace

torch::Tensor ToFloatClip(const torch::Tensor& frames) {
  TORCH_CHECK(frames.dim() == 4 && frames.size(3) == 3 &&
                  frames.scalar_type() == torch::kUInt8,
              "frames must be uint8 [T, H, W, 3]");
  return frames.permute({3, 0, 1, 2}).to(torch::kFloat32).div_(255.0f);
}

std::array<int64_t, 2> ShortSideSize(int64_t height, int64_t width,
                                     int short_side, Resize resize) {
  if (resize != Resize::kBilinear) {
    // Python's int(short_side * long / short).
    auto truncated = [short_side](int64_t side, int64_t other) {
      return static_cast<int64_t>(static_cast<double>(short_side * side) /
                                  static_cast<double>(other));
    };
    return width < height
               ? std::array<int64_t, 2>{truncated(height, width), short_side}
               : std::array<int64_t, 2>{short_side, truncated(width, height)};
  }
  // Same rounding as mmaction2's Resize for (-1, short_side).
  const int64_t new_height =
      height <= width ? short_side
                      : static_cast<int64_t>(std::lround(
                            static_cast<double>(height) * short_side / width));
  const int64_t new_width =
      width <= height ? short_side
                      : static_cast<int64_t>(std::lround(
                            static_cast<double>(width) * short_side / height));
  return {new_height, new_width};
}

torch::Tensor ResizeShortSide(const torch::Tensor& clip, int short_side) {
  const int64_t height = clip.size(kHeight), width = clip.size(kWidth);
  if (std::min(height, width) == short_side) return clip;
  const auto [new_height, new_width] = ShortSideSize(height, width, short_side);
  // Frames as a batch of images: [T, C, H, W].
  torch::Tensor images = clip.permute({1, 0, 2, 3});
  torch::Tensor resized = torch::nn::functional::interpolate(
      images, torch::nn::functional::InterpolateFuncOptions()
                  .size(std::vector<int64_t>{new_height, new_width})
                  .mode(torch::kBilinear)
                  .align_corners(false));
  return resized.permute({1, 0, 2, 3}).contiguous();
}

torch::Tensor ResizeFrames(const torch::Tensor& frames, int short_side,
                           Resize resize) {
  if (resize == Resize::kBilinear) {
    return ResizeShortSide(ToFloatClip(frames), short_side);
  }
  const int64_t height = frames.size(1), width = frames.size(2);
  if (std::min(height, width) == short_side) return ToFloatClip(frames);
  const auto [new_height, new_width] =
      ShortSideSize(height, width, short_side, resize);
  std::vector<torch::Tensor> resized;
  for (int64_t t = 0; t < frames.size(0); ++t) {
    resized.push_back(
        resize == Resize::kPillowBilinear
            ? PillowBilinearResize(frames[t], new_height, new_width)
            : OpenCvBilinearResize(frames[t], new_height, new_width));
  }
  return ToFloatClip(torch::stack(resized));
}

torch::Tensor CenterCrop(const torch::Tensor& clip, int size, Resize resize) {
  auto offset = [&](int64_t extra) {
    int64_t half = extra / 2;
    // Python's round() of an odd half: to the even neighbour.
    if (resize != Resize::kBilinear && extra % 2 == 1 && half % 2 == 1) ++half;
    return half;
  };
  return Crop(clip, offset(clip.size(kHeight) - size),
              offset(clip.size(kWidth) - size), size);
}

std::vector<torch::Tensor> ThreeCrop(const torch::Tensor& clip, int size) {
  const int64_t height = clip.size(kHeight), width = clip.size(kWidth);
  std::vector<torch::Tensor> crops;
  if (width >= height) {
    const int64_t top = (height - size) / 2;
    for (int64_t left : {int64_t{0}, (width - size) / 2, width - size}) {
      crops.push_back(Crop(clip, top, left, size));
    }
  } else {
    const int64_t left = (width - size) / 2;
    for (int64_t top : {int64_t{0}, (height - size) / 2, height - size}) {
      crops.push_back(Crop(clip, top, left, size));
    }
  }
  return crops;
}

torch::Tensor RandomCrop(const torch::Tensor& clip, int size,
                         std::mt19937_64* rng) {
  const uint64_t rows = clip.size(kHeight) - size + 1;
  const uint64_t columns = clip.size(kWidth) - size + 1;
  const int64_t top = static_cast<int64_t>((*rng)() % rows);
  const int64_t left = static_cast<int64_t>((*rng)() % columns);
  return Crop(clip, top, left, size);
}

torch::Tensor HorizontalFlip(const torch::Tensor& clip) {
  return clip.flip({kWidth});
}

torch::Tensor Normalize(const torch::Tensor& clip,
                        const Normalization& normalization) {
  auto options = torch::TensorOptions().dtype(clip.scalar_type());
  torch::Tensor mean =
      torch::tensor(std::vector<float>(normalization.mean.begin(),
                                       normalization.mean.end()),
                    options)
          .view({3, 1, 1, 1});
  torch::Tensor std =
      torch::tensor(std::vector<float>(normalization.std.begin(),
                                       normalization.std.end()),
                    options)
          .view({3, 1, 1, 1});
  return (clip - mean) / std;
}

torch::Tensor Renormalize(const torch::Tensor& video, const Normalization& from,
                          const Normalization& to) {
  if (from.mean == to.mean && from.std == to.std) return video;
  auto column = [&](const std::array<float, 3>& v) {
    return torch::tensor({v[0], v[1], v[2]}, video.options())
        .view({1, 3, 1, 1, 1});
  };
  return (video * column(from.std) + column(from.mean) - column(to.mean)) /
         column(to.std);
}

}  // namespace iv::video
