#include "common/video/image_resize.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/video/transforms.h"

namespace iv::video {
namespace {

torch::Tensor ReadImage(const std::string& path, int64_t height,
                        int64_t width) {
  torch::Tensor image = torch::empty({height, width, 3}, torch::kUInt8);
  std::ifstream(path, std::ios::binary)
      .read(static_cast<char*>(image.data_ptr()), image.nbytes());
  return image;
}

// Every pixel equals what Pillow and OpenCV themselves give, for shrinking
// (Pillow's antialiasing), growing (OpenCV's edge rows), odd sizes and one
// side unchanged.
TEST(ImageResizeTest, EqualsPillowAndOpenCvPixelForPixel) {
  const std::string dir = testing::TempDir();
  torch::manual_seed(7);
  for (auto [height, width, out_height, out_width] :
       std::vector<std::array<int64_t, 4>>{{240, 320, 256, 341},
                                           {480, 640, 256, 341},
                                           {1080, 1920, 256, 455},
                                           {360, 640, 224, 398},
                                           {97, 171, 256, 451},
                                           {100, 57, 449, 256},
                                           {61, 47, 61, 30},
                                           {33, 300, 224, 2036}}) {
    const torch::Tensor image =
        torch::randint(0, 256, {height, width, 3}, torch::kUInt8);
    const std::string in = dir + "/resize_in.bin";
    std::ofstream(in, std::ios::binary)
        .write(static_cast<const char*>(image.data_ptr()), image.nbytes());
    const std::string command = absl::StrCat(
        "/usr/bin/python3 common/video/testdata/image_resize_reference.py ", in,
        " ", height, " ", width, " ", out_height, " ", out_width, " ", dir,
        "/pil.bin ", dir, "/cv.bin");
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    const std::string size =
        absl::StrCat(height, "x", width, " -> ", out_height, "x", out_width);
    const torch::Tensor pillow =
        PillowBilinearResize(image, out_height, out_width);
    const torch::Tensor opencv =
        OpenCvBilinearResize(image, out_height, out_width);
    const torch::Tensor pillow_expected =
        ReadImage(dir + "/pil.bin", out_height, out_width);
    const torch::Tensor opencv_expected =
        ReadImage(dir + "/cv.bin", out_height, out_width);
    EXPECT_EQ(pillow.ne(pillow_expected).sum().item<int64_t>(), 0)
        << "Pillow " << size;
    EXPECT_EQ(opencv.ne(opencv_expected).sum().item<int64_t>(), 0)
        << "OpenCV " << size;
  }
}

// The official pipelines truncate the long side and round the crop offset
// half to even, where the project's (mmaction2's) rounds the long side and
// floors the offset.
TEST(ImageResizeTest, OfficialPipelinesRoundAsPythonDoes) {
  EXPECT_EQ(ShortSideSize(240, 342, 256, Resize::kPillowBilinear),
            (std::array<int64_t, 2>{256, 364}));
  EXPECT_EQ(ShortSideSize(240, 342, 256, Resize::kBilinear),
            (std::array<int64_t, 2>{256, 365}));
  EXPECT_EQ(ShortSideSize(342, 240, 256, Resize::kOpenCvBilinear),
            (std::array<int64_t, 2>{364, 256}));
  // 455 - 224 = 231: round(115.5) = 116; 229: round(114.5) = 114.
  const torch::Tensor wide =
      torch::arange(455).view({1, 1, 1, 455}).expand({3, 1, 224, 455});
  EXPECT_EQ(CenterCrop(wide, 224, Resize::kPillowBilinear)[0][0][0][0]
                .item<int64_t>(),
            116);
  EXPECT_EQ(CenterCrop(wide, 224)[0][0][0][0].item<int64_t>(), 115);
  const torch::Tensor narrower =
      torch::arange(453).view({1, 1, 1, 453}).expand({3, 1, 224, 453});
  EXPECT_EQ(CenterCrop(narrower, 224, Resize::kOpenCvBilinear)[0][0][0][0]
                .item<int64_t>(),
            114);
}

}  // namespace
}  // namespace iv::video
