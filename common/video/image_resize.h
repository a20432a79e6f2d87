// Bilinear resizes of 8-bit images that give, pixel for pixel, what two
// image libraries give: the official pipelines of InternVideo-MM (Pillow)
// and VideoMAE (OpenCV) resize 8-bit frames with them, and a model trained
// on their pixels is served parity only on the same pixels. Both round to
// 8 bits after each of their two passes (width first, then height), which a
// float resize does not reproduce.
#ifndef COMMON_VIDEO_IMAGE_RESIZE_H_
#define COMMON_VIDEO_IMAGE_RESIZE_H_

#include <torch/torch.h>

#include <cstdint>

namespace iv::video {

// Pillow's Image.resize((width, height), BILINEAR) (Pillow 9, Resample.c):
// a triangle filter widened by the scale when shrinking (antialiased),
// coefficients in 22-bit fixed point. uint8 [H, W, C] -> uint8
// [height, width, C].
torch::Tensor PillowBilinearResize(const torch::Tensor& image, int64_t height,
                                   int64_t width);

// OpenCV's cv2.resize(image, (width, height), interpolation=INTER_LINEAR) on
// x86 (OpenCV 4, resize.cpp): 11-bit coefficients, no antialiasing, edge
// pixels repeated, the vertical pass rounded as its SIMD code rounds it.
// uint8 [H, W, C] -> uint8 [height, width, C].
torch::Tensor OpenCvBilinearResize(const torch::Tensor& image, int64_t height,
                                   int64_t width);

}  // namespace iv::video

#endif  // COMMON_VIDEO_IMAGE_RESIZE_H_
