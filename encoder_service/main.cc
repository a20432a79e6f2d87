// encoder_server: the EncoderService over gRPC. Serves the model in
// --model-dir, hot-loading each newer step-N/ version published there.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/serving/model_server.h"
#include "common/serving/ports.h"
#include "encoder_service/encoder.h"
#include "encoder_service/encoder_service.h"

int main(int argc, char** argv) {
  CLI::App app{
      "The InternVideo encoder service: video and text embeddings in the "
      "multimodal encoder's joint space, batched dynamically across "
      "requests, from a model folder it hot-reloads."};
  iv::serving::ModelServerSpec spec;
  spec.name = "encoder_server";
  spec.default_port = iv::serving::kEncoderPort;
  iv::serving::ModelServer server(spec);
  server.AddFlags(app);
  iv::encoder::EncoderOptions options;
  double max_queue_delay_ms = 5;
  int64_t max_video_mb = options.max_video_bytes >> 20;
  app.add_option("--allowed-roots", options.allowed_roots,
                 "folders whose videos video.path may name (default: none, "
                 "only inline or streamed videos)")
      ->delimiter(',');
  app.add_option("--max-batch", options.batcher.max_batch,
                 "clips or texts per forward pass (1: no batching)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--max-queue-delay-ms", max_queue_delay_ms,
                 "how long a request may wait for others to fill its batch")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10000.0));
  app.add_option("--max-queue", options.batcher.max_queue,
                 "requests waiting for the model; more get RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--decode-threads", options.decode_threads,
                 "threads decoding videos, apart from the model's")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--max-video-mb", max_video_mb,
                 "largest streamed video (EmbedVideoStream)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-clip-rows", options.clips.max_rows,
                 "most clips one EmbedVideo cuts (whole-video views plus "
                 "one per segment window); more get RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  int64_t max_frame_mb = options.clips.max_request_bytes >> 20;
  app.add_option("--max-frame-mb", max_frame_mb,
                 "frame memory of one EmbedVideo (decoded frames, resized "
                 "clips, model rows); more get RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  int stream_idle_seconds = 30;
  app.add_option("--stream-idle-seconds", stream_idle_seconds,
                 "cancel an EmbedVideoStream upload that sends nothing for "
                 "this long")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  CLI11_PARSE(app, argc, argv);

  if (absl::Status status = server.Init(); !status.ok()) {
    std::fprintf(stderr, "encoder_server: %s\n",
                 std::string(status.message()).c_str());
    return 2;
  }
  options.batcher.max_queue_delay =
      absl::Microseconds(static_cast<int64_t>(max_queue_delay_ms * 1000));
  options.max_video_bytes = max_video_mb << 20;
  options.clips.max_request_bytes = max_frame_mb << 20;
  options.stream_idle_timeout = absl::Seconds(stream_idle_seconds);
  iv::encoder::Encoder encoder(options, &server.registry());
  iv::encoder::EncoderServiceImpl service(&encoder);
  return server.Run({&service});
}
