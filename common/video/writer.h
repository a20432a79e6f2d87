// Writes RGB frames as video through libavcodec and libavformat (H.264,
// VP9, MPEG-4 part 2 or MJPEG; the container is the path's extension), and
// single RGB images as PNG.
//
// Files appear atomically (common/files/atomic_file.h): a writer works on a
// temporary file beside the final path and commits it on Close, so a crash or
// an error never leaves a half-written file under the final name.
#ifndef COMMON_VIDEO_WRITER_H_
#define COMMON_VIDEO_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/files/atomic_file.h"

struct AVCodecContext;
struct AVFormatContext;
struct AVFrame;
struct AVPacket;
struct AVStream;
struct SwsContext;

namespace iv::video {

namespace internal {
// Frees FFmpeg objects with their matching free functions.
struct AvFree {
  void operator()(AVFormatContext* format) const;  // also closes its file
  void operator()(AVCodecContext* codec) const;
  void operator()(AVFrame* frame) const;
  void operator()(AVPacket* packet) const;
  void operator()(SwsContext* sws) const;
};
}  // namespace internal

enum class Codec {
  kH264,   // libx264, yuv420p
  kVp9,    // libvpx-vp9, yuv420p
  kMpeg4,  // MPEG-4 part 2 (FFmpeg's own encoder), yuv420p
  kMjpeg,  // motion JPEG, full-range yuvj420p
};

struct WriterOptions {
  int fps = 16;
  Codec codec = Codec::kH264;
  // The codec's constant-quality level, lower is better: x264's crf (0
  // lossless .. 51) for H.264, libvpx's crf (0 .. 63) for VP9, the
  // quantizer scale (1 .. 31) for MPEG-4 and MJPEG.
  int quality = 18;
  std::string preset = "veryfast";  // x264's speed preset (H.264 only)
  // Encoder threads. 1 makes the output bytes a function of the frames alone
  // (x264's threaded encoding is not bit-exact across runs); render many
  // files at once for parallelism instead.
  int threads = 1;
  int gop = 0;  // frames between keyframes; 0 = the codec's default
};

class VideoWriter {
 public:
  // The container follows `path`'s extension: .mp4 and .mov (H.264 or
  // MPEG-4), .mkv (any codec), .webm (VP9), .avi (MPEG-4, MJPEG or H.264).
  // INVALID_ARGUMENT for odd or non-positive sizes (yuv420p halves both
  // dimensions of the chroma planes), another extension, a codec the
  // container cannot hold and bad options; UNIMPLEMENTED if FFmpeg lacks the
  // encoder; the errno's code if the temporary file cannot be created.
  static absl::StatusOr<std::unique_ptr<VideoWriter>> Open(
      const std::string& path, int width, int height,
      const WriterOptions& options = {});

  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;
  // Closes the file if Close was not called; its status is lost then.
  ~VideoWriter();

  // `rgb24` holds width*height*3 bytes, row-major, no padding. Frame i is
  // shown at i / fps seconds.
  absl::Status WriteFrame(const uint8_t* rgb24);

  // Flushes the encoder, finishes the file and commits it to its final path.
  // FAILED_PRECONDITION if no frame was written (nothing is kept then).
  // After an error the temporary file is removed. Idempotent.
  absl::Status Close();

  int frames_written() const { return frames_written_; }

 private:
  VideoWriter(const std::string& path, int width, int height);
  absl::Status Init(const WriterOptions& options, const char* muxer);
  // Sends `frame` (null to flush) and muxes every packet the encoder returns.
  absl::Status Encode(AVFrame* frame);
  absl::Status Finish();

  files::PendingFile file_;  // FFmpeg writes its temp_path()
  const int width_, height_;
  int pixel_format_ = 0;  // an AVPixelFormat
  int frames_written_ = 0;
  bool closed_ = false;
  absl::Status error_;  // the first error; Close reports it
  std::unique_ptr<AVFormatContext, internal::AvFree> format_;
  std::unique_ptr<AVCodecContext, internal::AvFree> codec_;
  AVStream* stream_ = nullptr;  // owned by format_
  std::unique_ptr<AVFrame, internal::AvFree> frame_;
  std::unique_ptr<AVPacket, internal::AvFree> packet_;
  std::unique_ptr<SwsContext, internal::AvFree> sws_;
};

// Encodes one RGB image (width*height*3 bytes, row-major) as a PNG file with
// libavcodec's PNG encoder. Written atomically like the videos.
absl::Status WritePng(const std::string& path, const uint8_t* rgb24, int width,
                      int height);

}  // namespace iv::video

#endif  // COMMON_VIDEO_WRITER_H_
