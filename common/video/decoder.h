// Frame-accurate video decoding on FFmpeg.
//
// Open reads the whole stream once, demuxing without decoding, to build an
// exact table of frames in presentation order (timestamps, keyframes). Every
// later request seeks to the keyframe that precedes the frames it needs and
// decodes forward from there, so a few frames of a long video cost a few
// GOPs, not the whole file. Frames are numbered as the ffmpeg CLI numbers the
// frames it decodes, and converted to RGB the way it converts them.
//
// Errors follow common/serving/status.h: NOT_FOUND for a missing file,
// INVALID_ARGUMENT for anything that is not a decodable video, UNIMPLEMENTED
// for a codec this FFmpeg build cannot decode (or frames whose display order
// the file does not record), OUT_OF_RANGE for a frame or time past the end,
// DEADLINE_EXCEEDED when a call runs past DecoderOptions::timeout. Messages
// start with the file's name.
//
// Only regular files and memory are read: no FFmpeg protocol (network, pipes)
// is ever opened, nor any file a playlist names. The first Open routes
// FFmpeg's log (process-wide) away from stderr; its errors end up in the
// statuses instead.
//
// A VideoDecoder is not thread-safe; use one per thread.
#ifndef COMMON_VIDEO_DECODER_H_
#define COMMON_VIDEO_DECODER_H_

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace iv::video {

struct VideoInfo {
  double duration_s = 0;  // presentation span of the video stream
  // Average frame rate: the container's, or frames / duration where that is
  // 0 or absurd.
  double fps = 0;
  int64_t num_frames = 0;     // exact: frames in presentation order
  int width = 0, height = 0;  // after applying rotation metadata
  int rotation_degrees = 0;   // clockwise, one of 0/90/180/270
  std::string codec;          // "h264", "vp9", "mjpeg", ...
  std::string pixel_format;   // "yuv420p", "yuv420p10le", ...
  std::string container;      // "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", ...
  int64_t size_bytes = 0;
};

struct DecoderOptions {
  int threads = 0;  // codec threads; 0 = number of cores
  // Bound on any one Open or DecodeFrames call, so no input can hang us.
  absl::Duration timeout = absl::Seconds(60);
  int64_t max_pixels = 8192LL * 8192;  // larger frames are refused
  // Largest DecodeFrames result (RESOURCE_EXHAUSTED above it): 4 GiB is
  // 2,000 frames of 720p, or 64 frames at the largest frame size.
  int64_t max_output_bytes = int64_t{4} << 30;
  // Polled while reading and decoding: returning true stops the call with
  // CANCELLED (a server passes its client's cancellation and deadline).
  std::function<bool()> cancelled;
};

class VideoDecoder {
 public:
  static absl::StatusOr<std::unique_ptr<VideoDecoder>> Open(
      const std::string& path, const DecoderOptions& options = {});
  // Decodes from memory; errors name the input "<in-memory video>". The
  // bytes are read in place, not copied (an upload is held once): they must
  // outlive the decoder.
  static absl::StatusOr<std::unique_ptr<VideoDecoder>> OpenBytes(
      absl::string_view bytes, const DecoderOptions& options = {});

  ~VideoDecoder();
  VideoDecoder(const VideoDecoder&) = delete;
  VideoDecoder& operator=(const VideoDecoder&) = delete;

  const VideoInfo& info() const;
  // Presentation time in seconds of every frame, from the first frame (so
  // frame 0 is at 0.0); index = frame index.
  const std::vector<double>& frame_times() const;

  // Frames by 0-based presentation index, in any order, duplicates allowed,
  // returned in the order asked: uint8 [T, H, W, 3] RGB at native resolution
  // with rotation applied, contiguous. A frame whose size differs from the
  // stream's (a mid-stream resolution change) is scaled to the stream's size.
  absl::StatusOr<torch::Tensor> DecodeFrames(
      const std::vector<int64_t>& indices);

  // The index of the frame on screen at time t (seconds from the first
  // frame); OUT_OF_RANGE at or past the end.
  absl::StatusOr<int64_t> FrameAt(double t_s) const;

  // Packets handed to the decoder since Open: the decoding work done, including
  // frames decoded only to reach a requested one.
  int64_t frames_decoded() const;

 private:
  class Impl;
  explicit VideoDecoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace iv::video

#endif  // COMMON_VIDEO_DECODER_H_
