#include "tools/bench/embed_benchmark.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/model/internvideo/testing/tiny_checkpoint.h"
#include "common/serving/connection.h"
#include "common/serving/model_registry.h"
#include "common/serving/server.h"
#include "common/synthworld/renderer.h"
#include "encoder_service/encoder.h"
#include "encoder_service/encoder_service.h"

namespace iv::bench {
namespace {

constexpr int kClips = 16;

struct Figure {
  double requests_per_second = 0;
  encoder::BatcherStats stats;
};

// Serves `model_dir` with `options` on loopback and times `requests`
// EmbedVideo calls from `clients` threads (after one warm-up call each).
absl::StatusOr<Figure> Measure(const std::string& model_dir,
                               const std::string& videos,
                               const encoder::EncoderOptions& options,
                               const EmbedBenchmarkOptions& bench) {
  serving::ModelRegistryOptions registry_options;
  registry_options.model_dir = model_dir;
  serving::ModelRegistry registry(registry_options, nullptr);
  if (absl::Status s = registry.Poll(); !s.ok()) return s;
  encoder::EncoderOptions with_roots = options;
  with_roots.allowed_roots = {videos};
  encoder::Encoder encoder(with_roots, &registry);
  encoder::EncoderServiceImpl service(&encoder);
  serving::ServerOptions server_options;
  server_options.max_in_flight = 4 * bench.clients;
  absl::StatusOr<std::unique_ptr<serving::Server>> server =
      serving::Server::Start(server_options, {&service});
  if (!server.ok()) return server.status();
  absl::StatusOr<serving::Connection> connection = serving::Connection::Open(
      absl::StrCat("127.0.0.1:", (*server)->port()), {});
  if (!connection.ok()) return connection.status();

  std::atomic<int> next{-bench.clients}, failures{0};
  std::atomic<int64_t> start_ns{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < bench.clients; ++c) {
    clients.emplace_back([&] {
      auto stub =
          internvideo::v1::EncoderService::NewStub(connection->channel());
      // Calls numbered below 0 are warm-ups; the clock starts at call 0.
      for (int i = next++; i < bench.requests; i = next++) {
        if (i == 0) {
          start_ns = std::chrono::steady_clock::now().time_since_epoch() /
                     std::chrono::nanoseconds(1);
        }
        internvideo::v1::EmbedVideoRequest request;
        request.mutable_video()->set_path(absl::StrCat(
            "clips/train_", absl::Dec((i + kClips) % kClips, absl::kZeroPad5),
            ".mp4"));
        internvideo::v1::EmbedVideoResponse response;
        grpc::ClientContext context;
        if (!stub->EmbedVideo(&context, request, &response).ok()) ++failures;
      }
    });
  }
  for (std::thread& client : clients) client.join();
  const int64_t end_ns = std::chrono::steady_clock::now().time_since_epoch() /
                         std::chrono::nanoseconds(1);
  if (failures > 0) {
    return absl::InternalError(
        absl::StrCat(failures.load(), " EmbedVideo calls failed"));
  }
  return Figure{bench.requests / ((end_ns - start_ns) * 1e-9),
                encoder.batcher_stats()};
}

}  // namespace

absl::StatusOr<int> PrepareModelBenchmark(const std::string& work_dir,
                                          int threads) {
  std::error_code error;
  std::filesystem::remove_all(work_dir, error);
  if (!std::filesystem::create_directories(work_dir, error)) {
    return absl::InternalError(absl::StrCat("--work-dir: cannot create ",
                                            work_dir, ": ", error.message()));
  }
  if (threads <= 0) {
    threads = static_cast<int>(std::thread::hardware_concurrency());
  }
  torch::set_num_threads(threads);
  return threads;
}

absl::Status RunEmbedBenchmark(const EmbedBenchmarkOptions& options) {
  const std::string& dir = options.work_dir;
  absl::StatusOr<int> prepared = PrepareModelBenchmark(dir, options.threads);
  if (!prepared.ok()) return prepared.status();
  const int threads = *prepared;

  std::printf(
      "rendering %d SynthWorld clips (64 px, 2 s) and a random %s "
      "model in %s ...\n",
      kClips, options.model.c_str(), dir.c_str());
  std::fflush(stdout);
  synthworld::SynthOptions world;
  world.out_dir = dir + "/videos";
  world.seed = 1;
  world.rendering.size = 64;
  world.train_clips = kClips;
  world.val_clips = 0;
  world.test_clips = 0;
  world.test_untrimmed = 0;
  if (absl::Status s = synthworld::RenderWorld(world, {}); !s.ok()) {
    return s;
  }
  internvideo::v1::ModelConfig config = model::testing::TinyModelConfig();
  if (options.model == "iv-tiny") {
    auto* vision = config.mutable_multimodal_encoder()->mutable_vision();
    vision->set_input_resolution(112);
    vision->set_num_frames(8);
    vision->set_width(192);
    vision->set_layers(6);
    vision->set_heads(3);
    vision->mutable_global_branch()->set_n_layers(2);
  }
  const std::string model_dir = dir + "/model";
  if (absl::Status s =
          model::testing::WriteTinyCheckpoint(model_dir, 1, config);
      !s.ok()) {
    return s;
  }

  encoder::EncoderOptions batched;
  batched.decode_threads = options.decode_threads;
  batched.batcher.max_batch = options.max_batch;
  batched.batcher.max_queue_delay = absl::Microseconds(
      static_cast<int64_t>(options.max_queue_delay_ms * 1000));
  batched.batcher.max_queue = 4 * options.clients;
  encoder::EncoderOptions single = batched;
  single.batcher.max_batch = 1;

  std::printf(
      "%d EmbedVideo calls from %d clients, %d decode threads, %d "
      "intra-op threads\n",
      options.requests, options.clients, options.decode_threads, threads);
  Figure figures[2];
  const char* names[2] = {"one at a time (--max-batch 1)", "dynamic batching"};
  const encoder::EncoderOptions* configs[2] = {&single, &batched};
  for (int k = 0; k < 2; ++k) {
    absl::StatusOr<Figure> figure =
        Measure(model_dir, world.out_dir, *configs[k], options);
    if (!figure.ok()) return figure.status();
    figures[k] = *figure;
    const encoder::BatcherStats& stats = figure->stats;
    std::printf(
        "%-32s %8.1f videos/s  (%lld forwards, %.1f clips each)\n", names[k],
        figure->requests_per_second, static_cast<long long>(stats.batches),
        static_cast<double>(stats.rows) / std::max<int64_t>(1, stats.batches));
    std::fflush(stdout);
  }
  std::printf(
      "speed-up of dynamic batching (max batch %d, delay %.1f ms): "
      "%.2fx\n",
      options.max_batch, options.max_queue_delay_ms,
      figures[1].requests_per_second / figures[0].requests_per_second);
  return absl::OkStatus();
}

}  // namespace iv::bench
