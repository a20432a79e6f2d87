// EncoderService's requests (Encoder, the library under the gRPC layer)
// with a tiny model loaded. The first byte picks the RPC, the rest is its
// request as a binary proto: 0 EmbedVideo, 1 EmbedText, 2 BatchEmbedVideos.
#include <cstddef>
#include <cstdint>

#include "common/model/internvideo/testing/tiny_checkpoint.h"
#include "encoder_service/encoder.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/tiny_model.h"

namespace {

using iv::fuzz::CheckPreciseStatus;
using iv::fuzz::ParseProto;

iv::encoder::Encoder& TheEncoder() {
  static iv::encoder::Encoder* const encoder = [] {
    iv::encoder::EncoderOptions options;
    options.allowed_roots = {iv::fuzz::VideoRoot()};
    options.decode_threads = 1;
    // Small enough that an input cannot spend the fuzzer's memory or time.
    options.clips.max_rows = 8;
    options.clips.max_request_bytes = 64 << 20;
    options.max_batch_videos = 4;
    return new iv::encoder::Encoder(
        options,
        &iv::fuzz::TinyModelRegistry(iv::model::testing::TinyModelConfig()));
  }();
  return *encoder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  iv::encoder::Encoder& encoder = TheEncoder();
  switch (data[0] % 3) {
    case 0: {
      internvideo::v1::EmbedVideoRequest request;
      if (!ParseProto(data + 1, size - 1, request)) return 0;
      CheckPreciseStatus(encoder.EmbedVideo(request).status());
      break;
    }
    case 1: {
      internvideo::v1::EmbedTextRequest request;
      if (!ParseProto(data + 1, size - 1, request)) return 0;
      CheckPreciseStatus(encoder.EmbedText(request).status());
      break;
    }
    case 2: {
      internvideo::v1::BatchEmbedVideosRequest request;
      if (!ParseProto(data + 1, size - 1, request)) return 0;
      auto response = encoder.BatchEmbedVideos(request);
      if (!response.ok()) {
        CheckPreciseStatus(response.status());
      } else if (response->results_size() != request.requests_size()) {
        std::abort();
      }
      break;
    }
  }
  return 0;
}
