#include "common/video/image_resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace iv::video {
namespace {

constexpr auto kByte = torch::kUInt8;

// One output pixel of a pass reads `count` input pixels from `first`, with
// the weights `weights[o * max_taps + k]`.
struct Taps {
  int64_t max_taps = 0;
  std::vector<int64_t> first, count;
  std::vector<int32_t> weights;
};

// Pillow's fixed point: 32 bits less 8 of pixel and 2 of headroom.
constexpr int kPillowBits = 22;

Taps PillowTaps(int64_t in_size, int64_t out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = filter_scale;  // the triangle's support is 1
  Taps taps;
  taps.max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  taps.weights.assign(out_size * taps.max_taps, 0);
  std::vector<double> k(taps.max_taps);
  for (int64_t o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    const auto first =
        std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const int64_t count =
        std::min<int64_t>(static_cast<int64_t>(center + support + 0.5),
                          in_size) -
        first;
    double sum = 0;
    for (int64_t i = 0; i < count; ++i) {
      const double t = std::abs((i + first - center + 0.5) / filter_scale);
      k[i] = t < 1.0 ? 1.0 - t : 0.0;
      sum += k[i];
    }
    for (int64_t i = 0; i < count; ++i) {
      const double w = sum != 0.0 ? k[i] / sum : k[i];
      taps.weights[o * taps.max_taps + i] = static_cast<int32_t>(
          w < 0 ? -0.5 + w * (1 << kPillowBits) : 0.5 + w * (1 << kPillowBits));
    }
    taps.first.push_back(first);
    taps.count.push_back(count);
  }
  return taps;
}

uint8_t PillowClip(int32_t sum) {
  if (sum >= (1 << kPillowBits << 8)) return 255;
  if (sum <= 0) return 0;
  return static_cast<uint8_t>(sum >> kPillowBits);
}

// One Pillow pass along the rows (`along_width`) or the columns of a
// uint8 [H, W, C] image.
torch::Tensor PillowPass(const torch::Tensor& image, int64_t out_size,
                         bool along_width) {
  const int64_t height = image.size(0), width = image.size(1),
                channels = image.size(2);
  const Taps taps = PillowTaps(along_width ? width : height, out_size);
  torch::Tensor out = along_width
                          ? torch::empty({height, out_size, channels}, kByte)
                          : torch::empty({out_size, width, channels}, kByte);
  const uint8_t* in = image.data_ptr<uint8_t>();
  uint8_t* to = out.data_ptr<uint8_t>();
  // Distance between neighbours along the pass, and the number of lines.
  const int64_t step = along_width ? channels : width * channels;
  const int64_t lines = along_width ? height : width;
  for (int64_t line = 0; line < lines; ++line) {
    const uint8_t* line_in =
        in + (along_width ? line * width * channels : line * channels);
    for (int64_t o = 0; o < out_size; ++o) {
      const int32_t* w = &taps.weights[o * taps.max_taps];
      const uint8_t* src = line_in + taps.first[o] * step;
      uint8_t* dst = along_width ? to + (line * out_size + o) * channels
                                 : to + (o * width + line) * channels;
      for (int64_t c = 0; c < channels; ++c) {
        int32_t sum = 1 << (kPillowBits - 1);
        for (int64_t i = 0; i < taps.count[o]; ++i) {
          sum += src[i * step + c] * w[i];
        }
        dst[c] = PillowClip(sum);
      }
    }
  }
  return out;
}

// OpenCV's linear interpolation: each output pixel blends two input pixels
// with 11-bit weights.
constexpr int kOpenCvBits = 11;

struct LinearTaps {
  std::vector<int64_t> first, second;
  std::vector<int32_t> w0, w1;
};

// `clamp_weights`: the horizontal table moves taps that fall outside the
// image onto its edge with weight 1; the vertical one keeps the fractional
// weights and repeats the edge row (OpenCV does both, and the rounded
// weights of the edge rows then need not sum to 1).
LinearTaps OpenCvTaps(int64_t in_size, int64_t out_size, bool clamp_weights) {
  const double scale = 1.0 / (static_cast<double>(out_size) / in_size);
  LinearTaps taps;
  for (int64_t o = 0; o < out_size; ++o) {
    float f = static_cast<float>((o + 0.5) * scale - 0.5);
    auto s = static_cast<int64_t>(std::floor(f));
    f -= static_cast<float>(s);
    if (clamp_weights && s < 0) f = 0, s = 0;
    if (clamp_weights && s >= in_size - 1) f = 0, s = in_size - 1;
    taps.first.push_back(std::clamp<int64_t>(s, 0, in_size - 1));
    taps.second.push_back(std::clamp<int64_t>(s + 1, 0, in_size - 1));
    taps.w0.push_back(static_cast<int32_t>(
        std::lrint((1.0f - f) * static_cast<float>(1 << kOpenCvBits))));
    taps.w1.push_back(static_cast<int32_t>(
        std::lrint(f * static_cast<float>(1 << kOpenCvBits))));
  }
  return taps;
}

}  // namespace

torch::Tensor PillowBilinearResize(const torch::Tensor& image, int64_t height,
                                   int64_t width) {
  TORCH_CHECK(image.dim() == 3 && image.scalar_type() == kByte,
              "PillowBilinearResize takes uint8 [H, W, C]");
  torch::Tensor out = image.contiguous();
  // Pillow skips a pass whose size does not change.
  if (width != out.size(1)) out = PillowPass(out, width, true);
  if (height != out.size(0)) out = PillowPass(out, height, false);
  return out;
}

torch::Tensor OpenCvBilinearResize(const torch::Tensor& image, int64_t height,
                                   int64_t width) {
  TORCH_CHECK(image.dim() == 3 && image.scalar_type() == kByte,
              "OpenCvBilinearResize takes uint8 [H, W, C]");
  const torch::Tensor in_image = image.contiguous();
  const int64_t in_height = in_image.size(0), in_width = in_image.size(1),
                channels = in_image.size(2);
  const LinearTaps across = OpenCvTaps(in_width, width, true);
  const LinearTaps down = OpenCvTaps(in_height, height, false);
  // The horizontal pass keeps its sums (weights x 2^11) for the vertical.
  std::vector<int32_t> rows(in_height * width * channels);
  const uint8_t* in = in_image.data_ptr<uint8_t>();
  for (int64_t y = 0; y < in_height; ++y) {
    const uint8_t* row = in + y * in_width * channels;
    int32_t* sums = &rows[y * width * channels];
    for (int64_t x = 0; x < width; ++x) {
      for (int64_t c = 0; c < channels; ++c) {
        sums[x * channels + c] =
            row[across.first[x] * channels + c] * across.w0[x] +
            row[across.second[x] * channels + c] * across.w1[x];
      }
    }
  }
  torch::Tensor out = torch::empty({height, width, channels}, kByte);
  uint8_t* to = out.data_ptr<uint8_t>();
  const int64_t line = width * channels;
  for (int64_t y = 0; y < height; ++y) {
    const int32_t* a = &rows[down.first[y] * line];
    const int32_t* b = &rows[down.second[y] * line];
    for (int64_t i = 0; i < line; ++i) {
      // The SIMD path's rounding: 16-bit products of the sums / 16, their
      // high halves added, then rounded by 4 (not one rounding of the
      // exact sum, which differs by 1 in some pixels).
      const int32_t value = (((a[i] >> 4) * down.w0[y]) >> 16) +
                            (((b[i] >> 4) * down.w1[y]) >> 16);
      to[y * line + i] =
          static_cast<uint8_t>(std::clamp((value + 2) >> 2, 0, 255));
    }
  }
  return out;
}

}  // namespace iv::video
