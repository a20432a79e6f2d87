// The video decoder on uploaded bytes (EmbedVideo's video.content): open,
// then decode the first, middle and last frames.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/video/decoder.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  iv::video::DecoderOptions options;
  options.threads = 1;
  options.timeout = absl::Seconds(2);
  options.max_pixels = 1 << 20;
  options.max_output_bytes = 16 << 20;
  absl::StatusOr<std::unique_ptr<iv::video::VideoDecoder>> decoder =
      iv::video::VideoDecoder::OpenBytes(
          absl::string_view(reinterpret_cast<const char*>(data), size),
          options);
  if (!decoder.ok()) {
    iv::fuzz::CheckPreciseStatus(decoder.status());
    return 0;
  }
  const iv::video::VideoInfo& info = (*decoder)->info();
  if (info.num_frames !=
      static_cast<int64_t>((*decoder)->frame_times().size())) {
    std::abort();
  }
  if (info.num_frames == 0) return 0;
  const std::vector<int64_t> indices = {0, info.num_frames / 2,
                                        info.num_frames - 1};
  absl::StatusOr<torch::Tensor> frames = (*decoder)->DecodeFrames(indices);
  if (!frames.ok()) {
    iv::fuzz::CheckPreciseStatus(frames.status());
  } else if (frames->size(0) != 3 || frames->size(1) != info.height ||
             frames->size(2) != info.width) {
    std::abort();
  }
  absl::StatusOr<int64_t> at = (*decoder)->FrameAt(info.duration_s / 2);
  if (!at.ok()) iv::fuzz::CheckPreciseStatus(at.status());
  return 0;
}
