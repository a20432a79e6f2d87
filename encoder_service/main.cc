// encoder_server: the EncoderService over gRPC. Serves the model in
// --model-dir, hot-loading each newer step-N/ version published there.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <thread>

#include "common/serving/flags.h"
#include "common/serving/server.h"
#include "encoder_service/encoder.h"
#include "encoder_service/encoder_service.h"
#include "encoder_service/model_registry.h"

namespace {

// Encoder first in the project's ports: encoder 50051, trainer 50054.
constexpr int kDefaultPort = 50051;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "The InternVideo encoder service: video and text embeddings in the "
      "multimodal encoder's joint space, batched dynamically across "
      "requests, from a model folder it hot-reloads."};
  iv::serving::ServerOptions server_options;
  iv::serving::AddServerFlags(app, server_options, kDefaultPort);
  iv::encoder::ModelRegistryOptions registry_options;
  iv::encoder::EncoderOptions options;
  std::string device = "auto";
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  double max_queue_delay_ms = 5, poll_seconds = 2;
  int64_t max_video_mb = options.max_video_bytes >> 20;
  app.add_option("--model-dir", registry_options.model_dir,
                 "a checkpoint folder, or a folder of step-N/ versions (as "
                 "the trainer service publishes them) whose newest is served")
      ->required();
  app.add_option("--model-id", registry_options.model_id,
                 "the served model id (default: the versions folder's name, "
                 "else the config's name)");
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
  app.add_option("--threads", threads, "intra-op threads of the model")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--device", device,
                 "auto (cuda when this build and machine have it), cpu, "
                 "cuda or cuda:N")
      ->capture_default_str();
  app.add_option("--max-video-mb", max_video_mb,
                 "largest streamed video (EmbedVideoStream)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--poll-seconds", poll_seconds,
                 "how often --model-dir is checked for a newer version")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  CLI11_PARSE(app, argc, argv);

  if (device == "auto") device = torch::cuda::is_available() ? "cuda" : "cpu";
  try {
    registry_options.device = torch::Device(device);
  } catch (const c10::Error&) {
    std::fprintf(stderr,
                 "encoder_server: --device: \"%s\" is not a device (use cpu, "
                 "cuda or cuda:N)\n",
                 device.c_str());
    return 2;
  }
  if (registry_options.device.is_cuda() && !torch::cuda::is_available()) {
    std::fprintf(stderr,
                 "encoder_server: --device %s: this build or machine has no "
                 "CUDA; use --device cpu\n",
                 device.c_str());
    return 2;
  }
  torch::set_num_threads(threads);
  options.batcher.max_queue_delay =
      absl::Microseconds(static_cast<int64_t>(max_queue_delay_ms * 1000));
  options.max_video_bytes = max_video_mb << 20;
  registry_options.poll_interval = absl::Seconds(poll_seconds);

  iv::serving::Server* server = nullptr;
  std::mutex server_mutex;
  iv::encoder::ModelRegistry registry(
      registry_options, [&](const iv::encoder::ModelSnapshot& model) {
        std::fprintf(stderr, "encoder_server: serving %s version %s on %s\n",
                     model.model_id.c_str(), model.version.c_str(),
                     model.device.str().c_str());
        std::lock_guard<std::mutex> lock(server_mutex);
        if (server != nullptr) server->SetServing(true);
      });
  iv::encoder::Encoder encoder(options, &registry);
  iv::encoder::EncoderServiceImpl service(&encoder);
  auto started = iv::serving::Server::Start(server_options, {&service});
  if (!started.ok()) {
    std::fprintf(stderr, "encoder_server: %s\n",
                 started.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr,
               "encoder_server: listening on port %d (NOT_SERVING until a "
               "model from %s is loaded)\n",
               (*started)->port(), registry_options.model_dir.c_str());
  {
    std::lock_guard<std::mutex> lock(server_mutex);
    server = started->get();
    if (registry.Current() != nullptr) server->SetServing(true);
  }
  registry.Start();
  (*started)->RunUntilSignal();
  std::lock_guard<std::mutex> lock(server_mutex);
  server = nullptr;  // a late reload must not mark a stopped server SERVING
  return 0;
}
