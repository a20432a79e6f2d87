#include "common/video/writer.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/process/command.h"
#include "common/testing/ffmpeg_cli.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iv::video {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Smooth gradients that shift over time. Smooth, because yuv420p keeps one
// chroma sample per 2x2 pixels and sharp color edges would measure the
// subsampling rather than the writer; shifting by 6-9 levels a frame, so
// frames out of order would fail the tolerance below.
std::vector<uint8_t> GradientFrame(int width, int height, int t) {
  std::vector<uint8_t> rgb(width * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &rgb[(y * width + x) * 3];
      p[0] = static_cast<uint8_t>(30 + 2 * x + 6 * t);
      p[1] = static_cast<uint8_t>(40 + 2 * y + 9 * t);
      p[2] = static_cast<uint8_t>(200 - x - y);
    }
  }
  return rgb;
}

void WriteClip(const std::string& path, int width, int height, int frames,
               const WriterOptions& options = {}) {
  auto writer = VideoWriter::Open(path, width, height, options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (int t = 0; t < frames; ++t) {
    ASSERT_TRUE(
        (*writer)->WriteFrame(GradientFrame(width, height, t).data()).ok());
  }
  ASSERT_TRUE((*writer)->Close().ok());
}

struct Error {
  double mean = 0;  // mean absolute error per channel value
  int worst = 0;
};

// How far the ffmpeg CLI's decoding of `path` is from the GradientFrames.
Error DecodedError(const std::string& path, int width, int height, int frames) {
  const std::vector<uint8_t> decoded = test::DecodeWithFfmpeg(path);
  EXPECT_EQ(decoded.size(), size_t(width) * height * 3 * frames) << path;
  if (decoded.size() != size_t(width) * height * 3 * frames) return {1e9, 255};
  Error error;
  for (int t = 0; t < frames; ++t) {
    const std::vector<uint8_t> expected = GradientFrame(width, height, t);
    for (size_t i = 0; i < expected.size(); ++i) {
      const int diff =
          std::abs(int{decoded[t * expected.size() + i]} - int{expected[i]});
      error.mean += diff;
      error.worst = std::max(error.worst, diff);
    }
  }
  error.mean /= decoded.size();
  return error;
}

TEST(VideoWriterTest, RoundTripsThroughFfmpegWithinTolerance) {
  const std::string path = test::FreshTempDir("roundtrip") + "/clip.mp4";
  constexpr int kWidth = 64, kHeight = 48, kFrames = 12;
  WriteClip(path, kWidth, kHeight, kFrames);

  // Documented tolerance at crf 18 on these frames: mean absolute error
  // under 2.5 levels per channel, no value off by more than 12. Measured
  // here: 1.6 and 8; a lossless (qp 0) yuv420p round trip alone gives 1.1
  // and 4, the rest is x264's quantization.
  const Error error = DecodedError(path, kWidth, kHeight, kFrames);
  EXPECT_LT(error.mean, 2.5);
  EXPECT_LE(error.worst, 12);
}

// Every codec in a container that holds it, decoded by the ffmpeg CLI (not
// our decoder): the frames come back in order within each codec's
// tolerance at a good quality setting. Measured mean / worst: H.264 crf 18
// 1.6-1.7 / 9, VP9 crf 10 1.6 / 8, MPEG-4 q 2 1.7 / 10, MJPEG q 2 1.2 / 6.
TEST(VideoWriterTest, EveryCodecRoundTripsInItsContainers) {
  const std::string dir = test::FreshTempDir("codecs");
  struct Case {
    Codec codec;
    int quality;
    std::vector<std::string> extensions;
  };
  const Case cases[] = {{Codec::kH264, 18, {".mkv", ".avi", ".mov"}},
                        {Codec::kVp9, 10, {".webm", ".mkv"}},
                        {Codec::kMpeg4, 2, {".avi", ".mp4"}},
                        {Codec::kMjpeg, 2, {".avi", ".mkv"}}};
  constexpr int kWidth = 64, kHeight = 48, kFrames = 12;
  for (const Case& c : cases) {
    for (const std::string& extension : c.extensions) {
      const std::string path =
          absl::StrCat(dir, "/clip", static_cast<int>(c.codec), extension);
      WriterOptions options;
      options.codec = c.codec;
      options.quality = c.quality;
      options.fps = 25;
      WriteClip(path, kWidth, kHeight, kFrames, options);
      const Error error = DecodedError(path, kWidth, kHeight, kFrames);
      EXPECT_LT(error.mean, 2.5) << path;
      EXPECT_LE(error.worst, 14) << path;
      const process::CommandResult rate = process::RunCommand(
          absl::StrCat("ffprobe -v error -select_streams v -show_entries "
                       "stream=avg_frame_rate -of csv=p=0 '",
                       path, "'"));
      EXPECT_EQ(rate.output, "25/1\n") << path;
    }
  }
}

TEST(VideoWriterTest, EveryCodecsOutputIsAFunctionOfTheFrames) {
  const std::string dir = test::FreshTempDir("codecs_deterministic");
  for (const auto& [codec, extension] :
       {std::pair{Codec::kVp9, ".webm"}, std::pair{Codec::kMpeg4, ".avi"},
        std::pair{Codec::kMjpeg, ".avi"}}) {
    WriterOptions options;
    options.codec = codec;
    options.quality = 10;
    WriteClip(absl::StrCat(dir, "/a", extension), 32, 32, 10, options);
    WriteClip(absl::StrCat(dir, "/b", extension), 32, 32, 10, options);
    const std::string a = ReadFile(absl::StrCat(dir, "/a", extension));
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, ReadFile(absl::StrCat(dir, "/b", extension))) << extension;
  }
}

TEST(VideoWriterTest, OutputIsAFunctionOfTheFrames) {
  const std::string dir = test::FreshTempDir("deterministic");
  WriteClip(dir + "/a.mp4", 32, 32, 20);
  WriteClip(dir + "/b.mp4", 32, 32, 20);
  const std::string a = ReadFile(dir + "/a.mp4");
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, ReadFile(dir + "/b.mp4"));
}

TEST(VideoWriterTest, FileAppearsOnlyOnCloseAndNoTemporaryRemains) {
  const std::string dir = test::FreshTempDir("atomic");
  const std::string path = dir + "/clip.mp4";
  auto writer = VideoWriter::Open(path, 16, 16);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->WriteFrame(GradientFrame(16, 16, 0).data()).ok());
  EXPECT_FALSE(fs::exists(path));
  ASSERT_TRUE((*writer)->Close().ok());
  EXPECT_TRUE(fs::exists(path));
  EXPECT_TRUE((*writer)->Close().ok());  // idempotent
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), {}), 1);
  EXPECT_EQ((*writer)->WriteFrame(GradientFrame(16, 16, 1).data()).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(VideoWriterTest, DestructorFinishesTheFile) {
  const std::string path = test::FreshTempDir("destructor") + "/clip.mp4";
  {
    auto writer = VideoWriter::Open(path, 16, 16);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->WriteFrame(GradientFrame(16, 16, 0).data()).ok());
  }
  EXPECT_EQ(test::DecodeWithFfmpeg(path).size(), 16 * 16 * 3);
}

TEST(VideoWriterTest, NothingWrittenKeepsNothing) {
  const std::string dir = test::FreshTempDir("empty");
  auto writer = VideoWriter::Open(dir + "/clip.mp4", 16, 16);
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_EQ((*writer)->Close().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(VideoWriterTest, RefusesBadArguments) {
  const std::string dir = test::FreshTempDir("bad");
  auto odd = VideoWriter::Open(dir + "/odd.mp4", 65, 64);
  EXPECT_EQ(odd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(odd.status().message(), HasSubstr("even"));
  EXPECT_THAT(odd.status().message(), HasSubstr("65x64"));
  EXPECT_EQ(VideoWriter::Open(dir + "/zero.mp4", 0, 64).status().code(),
            absl::StatusCode::kInvalidArgument);
  WriterOptions options;
  options.preset = "warp";
  auto preset = VideoWriter::Open(dir + "/p.mp4", 64, 64, options);
  EXPECT_EQ(preset.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(preset.status().message(), HasSubstr("preset"));
  options = {};
  options.fps = 0;
  EXPECT_EQ(VideoWriter::Open(dir + "/f.mp4", 64, 64, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      VideoWriter::Open(dir + "/missing/folder/x.mp4", 64, 64).status().code(),
      absl::StatusCode::kNotFound);
  // Containers by extension, codecs they hold, quality ranges per codec.
  auto refusal = [&dir](const std::string& file, Codec codec, int quality) {
    WriterOptions options;
    options.codec = codec;
    options.quality = quality;
    return std::string(VideoWriter::Open(dir + "/" + file, 64, 64, options)
                           .status()
                           .message());
  };
  EXPECT_THAT(refusal("x.flv", Codec::kH264, 18),
              HasSubstr("unknown video container '.flv'"));
  EXPECT_THAT(refusal("x", Codec::kH264, 18), HasSubstr("container"));
  EXPECT_THAT(refusal("x.webm", Codec::kH264, 18),
              HasSubstr("codec: H.264 is not written into .webm"));
  EXPECT_THAT(refusal("x.avi", Codec::kMpeg4, 0),
              HasSubstr("quality: must be in [1, 31] for MPEG-4, got 0"));
  EXPECT_THAT(refusal("x.webm", Codec::kVp9, 64), HasSubstr("[0, 63]"));
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(VideoWriterTest, GopBoundsTheKeyframeInterval) {
  const std::string path = test::FreshTempDir("gop") + "/clip.mp4";
  WriterOptions options;
  options.gop = 8;
  WriteClip(path, 32, 32, 24, options);
  const process::CommandResult probe = process::RunCommand(absl::StrCat(
      "ffprobe -v error -select_streams v -show_entries frame=key_frame "
      "-of default=noprint_wrappers=1:nokey=1 '",
      path, "'"));
  std::string keys;  // one '1' or '0' per frame
  for (const char c : probe.output) {
    if (c == '0' || c == '1') keys.push_back(c);
  }
  ASSERT_EQ(keys.size(), 24);
  EXPECT_EQ(keys[0], '1');
  // x264 may add keyframes at scene cuts but never goes past the interval.
  EXPECT_EQ(keys.find("00000000"), std::string::npos) << keys;
}

TEST(WritePngTest, IsLossless) {
  const std::string path = test::FreshTempDir("png") + "/image.png";
  constexpr int kWidth = 24, kHeight = 17;  // odd sizes are fine for PNG
  std::vector<uint8_t> rgb(kWidth * kHeight * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 7);
  ASSERT_TRUE(WritePng(path, rgb.data(), kWidth, kHeight).ok());
  EXPECT_EQ(test::DecodeWithFfmpeg(path), rgb);
  EXPECT_EQ(WritePng(path, rgb.data(), 0, 1).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace iv::video
