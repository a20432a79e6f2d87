#include "tools/bench/tasks_benchmark.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "captioner/captioner.h"
#include "captioner/captioner_service.h"
#include "common/data/manifest.h"
#include "common/serving/connection.h"
#include "common/serving/model_registry.h"
#include "common/serving/server.h"
#include "common/serving/status.h"
#include "common/synthworld/renderer.h"
#include "common/synthworld/vocabulary.h"
#include "task_service/task_service.h"
#include "tools/bench/embed_benchmark.h"

namespace iv::bench {
namespace {

namespace pb = ::internvideo::v1;

constexpr int kClips = 8;
constexpr int kUntrimmed = 2;
constexpr int kZeroShotLabels = 6;

struct Latency {
  int n = 0;
  double p50_ms = 0, p99_ms = 0, requests_per_second = 0;
};

// Runs `call(i)` for i in [0, requests) from `clients` threads, each after
// one untimed warm-up call `call(client)`, timing every call.
absl::StatusOr<Latency> Measure(int requests, int clients,
                                const std::function<absl::Status(int)>& call) {
  for (int c = 0; c < clients; ++c) {
    if (absl::Status s = call(c); !s.ok()) return s;
  }
  std::vector<double> latencies(requests);
  std::atomic<int> next{0};
  std::mutex mu;
  absl::Status failure;
  std::vector<std::thread> workers;
  const absl::Time start = absl::Now();
  for (int c = 0; c < clients; ++c) {
    workers.emplace_back([&] {
      for (int i = next++; i < requests; i = next++) {
        const absl::Time begin = absl::Now();
        absl::Status status = call(i);
        latencies[i] = absl::ToDoubleMilliseconds(absl::Now() - begin);
        if (!status.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          failure.Update(status);
        }
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  if (!failure.ok()) return failure;
  Latency latency;
  latency.n = requests;
  latency.requests_per_second =
      requests / absl::ToDoubleSeconds(absl::Now() - start);
  std::sort(latencies.begin(), latencies.end());
  latency.p50_ms = latencies[latencies.size() / 2];
  latency.p99_ms =
      latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
  return latency;
}

// One request type: the same request through gRPC and in-process.
struct Case {
  std::string name;
  int requests;
  std::function<absl::Status(int)> remote, local;
};

// Wraps a unary gRPC call as a status.
template <typename Response, typename Call>
absl::Status Remote(Call call) {
  grpc::ClientContext context;
  Response response;
  return serving::FromGrpcStatus(call(&context, &response));
}

}  // namespace

absl::Status RunTasksBenchmark(const TasksBenchmarkOptions& options) {
  if (!std::filesystem::is_directory(options.model)) {
    return absl::NotFoundError(
        absl::StrCat("--model: no model folder ", options.model,
                     " (run from the repository root, or pass --model DIR)"));
  }
  const std::string& dir = options.work_dir;
  absl::StatusOr<int> prepared = PrepareModelBenchmark(dir, options.threads);
  if (!prepared.ok()) return prepared.status();
  const int threads = *prepared;

  std::printf(
      "rendering %d SynthWorld clips and %d untrimmed videos (64 px) in %s "
      "...\n",
      kClips, kUntrimmed, dir.c_str());
  std::fflush(stdout);
  synthworld::SynthOptions world;
  world.out_dir = dir;
  world.seed = 1;
  world.rendering.size = 64;
  world.train_clips = 0;
  world.val_clips = 0;
  world.test_clips = kClips;
  world.test_untrimmed = kUntrimmed;
  if (absl::Status s = synthworld::RenderWorld(world, {}); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<data::TrimmedClip>> clips =
      data::ReadTrimmedManifest(dir + "/test.jsonl");
  if (!clips.ok()) return clips.status();
  absl::StatusOr<std::vector<data::UntrimmedVideo>> untrimmed =
      data::ReadUntrimmedManifest(dir + "/test_untrimmed.jsonl");
  if (!untrimmed.ok()) return untrimmed.status();

  serving::ModelRegistryOptions registry_options;
  registry_options.model_dir = options.model;
  serving::ModelRegistry registry(registry_options, nullptr);
  if (absl::Status s = registry.Poll(); !s.ok()) return s;

  tasks::TaskOptions task_options;
  task_options.allowed_roots = {dir};
  tasks::TaskOptions uncached = task_options;
  uncached.feature_cache_bytes = 0;
  tasks::Recognizer recognizer(task_options, &registry);
  tasks::QuestionAnswerer answerer(task_options, &registry);
  tasks::Localizer localizer(task_options, &registry);
  tasks::Localizer cold_localizer(uncached, &registry);
  captioner::CaptionerOptions captioner_options;
  captioner_options.allowed_roots = {dir};
  captioner::Captioner captioner(captioner_options, &registry);
  tasks::RecognitionServiceImpl recognition(&recognizer);
  tasks::VqaServiceImpl vqa(&answerer);
  tasks::LocalizationServiceImpl localization(&localizer);
  tasks::LocalizationServiceImpl cold_localization(&cold_localizer);
  captioner::CaptionerServiceImpl captioning(&captioner);

  // Cold localization needs its own server: one service of each kind per
  // server, and it is the cache-less Localizer.
  serving::ServerOptions server_options;
  server_options.max_in_flight = 4 * options.clients;
  absl::StatusOr<std::unique_ptr<serving::Server>> server =
      serving::Server::Start(server_options,
                             {&recognition, &vqa, &localization, &captioning});
  if (!server.ok()) return server.status();
  absl::StatusOr<std::unique_ptr<serving::Server>> cold_server =
      serving::Server::Start(server_options, {&cold_localization});
  if (!cold_server.ok()) return cold_server.status();
  absl::StatusOr<serving::Connection> connection = serving::Connection::Open(
      absl::StrCat("127.0.0.1:", (*server)->port()), {});
  if (!connection.ok()) return connection.status();
  absl::StatusOr<serving::Connection> cold_connection =
      serving::Connection::Open(
          absl::StrCat("127.0.0.1:", (*cold_server)->port()), {});
  if (!cold_connection.ok()) return cold_connection.status();
  auto recognition_stub =
      pb::RecognitionService::NewStub(connection->channel());
  auto vqa_stub = pb::VQAService::NewStub(connection->channel());
  auto localization_stub =
      pb::LocalizationService::NewStub(connection->channel());
  auto cold_localization_stub =
      pb::LocalizationService::NewStub(cold_connection->channel());
  auto captioner_stub = pb::CaptionerService::NewStub(connection->channel());

  // The requests, by call number.
  auto clip = [&](int i) -> const data::TrimmedClip& {
    return (*clips)[i % clips->size()];
  };
  auto recognize = [&](int i, bool zero_shot) {
    pb::RecognizeRequest request;
    request.mutable_video()->set_path(clip(i).path);
    if (zero_shot) {
      for (int a = 0; a < kZeroShotLabels; ++a) {
        request.mutable_zero_shot()->add_labels(
            std::string(synthworld::Actions()[a].answer));
      }
    }
    return request;
  };
  auto question = [&](int i, bool multiple_choice) {
    pb::AnswerQuestionRequest request;
    request.mutable_video()->set_path(clip(i).path);
    request.set_question(clip(i).questions.empty()
                             ? "what color is the shape that moves"
                             : clip(i).questions.front().q);
    if (multiple_choice) {
      for (const char* answer : {"red", "green", "blue"}) {
        request.add_candidates(answer);
      }
    }
    return request;
  };
  auto caption = [&](int i, int beam_width) {
    pb::CaptionVideoRequest request;
    request.mutable_video()->set_path(clip(i).path);
    if (beam_width > 1) {
      request.mutable_decoding()->set_method(pb::DecodingOptions::METHOD_BEAM);
      request.mutable_decoding()->set_beam_width(beam_width);
    }
    return request;
  };
  auto localize = [&](int i) {
    pb::LocalizeRequest request;
    request.mutable_video()->set_path((*untrimmed)[i % untrimmed->size()].path);
    return request;
  };

  std::vector<Case> cases;
  for (bool zero_shot : {false, true}) {
    cases.push_back(
        {zero_shot ? "Recognize (zero-shot, 6 labels)"
                   : "Recognize (trained head)",
         options.requests,
         [&, zero_shot](int i) {
           return Remote<pb::RecognizeResponse>([&](auto* context, auto* r) {
             return recognition_stub->Recognize(context,
                                                recognize(i, zero_shot), r);
           });
         },
         [&, zero_shot](int i) {
           return recognizer.Recognize(recognize(i, zero_shot)).status();
         }});
  }
  for (bool multiple_choice : {false, true}) {
    cases.push_back({multiple_choice ? "AnswerQuestion (3 choices)"
                                     : "AnswerQuestion (open)",
                     options.requests,
                     [&, multiple_choice](int i) {
                       return Remote<pb::AnswerQuestionResponse>(
                           [&](auto* context, auto* r) {
                             return vqa_stub->AnswerQuestion(
                                 context, question(i, multiple_choice), r);
                           });
                     },
                     [&, multiple_choice](int i) {
                       return answerer
                           .AnswerQuestion(question(i, multiple_choice))
                           .status();
                     }});
  }
  for (int beam_width : {1, 3}) {
    cases.push_back(
        {beam_width > 1 ? "CaptionVideo (beam 3)" : "CaptionVideo (greedy)",
         options.requests,
         [&, beam_width](int i) {
           return Remote<pb::CaptionVideoResponse>([&](auto* context, auto* r) {
             return captioner_stub->CaptionVideo(context,
                                                 caption(i, beam_width), r);
           });
         },
         [&, beam_width](int i) {
           return captioner.CaptionVideo(caption(i, beam_width)).status();
         }});
  }
  // Cold: the cache-less Localizer computes every video's window features;
  // fewer calls, as each is a whole video's forward passes.
  cases.push_back(
      {"Localize (cold)", std::max(kUntrimmed, options.requests / 4),
       [&](int i) {
         return Remote<pb::LocalizeResponse>([&](auto* context, auto* r) {
           return cold_localization_stub->Localize(context, localize(i), r);
         });
       },
       [&](int i) { return cold_localizer.Localize(localize(i)).status(); }});
  // Cached: the warm-up calls have filled the cache of each side's
  // Localizer (the gRPC one and the in-process one are the same object).
  cases.push_back(
      {"Localize (cached)", options.requests,
       [&](int i) {
         return Remote<pb::LocalizeResponse>([&](auto* context, auto* r) {
           return localization_stub->Localize(context, localize(i), r);
         });
       },
       [&](int i) { return localizer.Localize(localize(i)).status(); }});

  std::printf(
      "model %s (%s), %d clients, %d intra-op threads; in-process = the same "
      "library call without gRPC\n",
      options.model.c_str(), registry.Current()->version.c_str(),
      options.clients, threads);
  std::printf("%-32s %5s %9s %9s %8s | %14s %7s\n", "request", "n", "p50 ms",
              "p99 ms", "req/s", "in-proc p50 ms", "ratio");
  for (const Case& c : cases) {
    absl::StatusOr<Latency> remote =
        Measure(c.requests, options.clients, c.remote);
    if (!remote.ok()) {
      return absl::Status(
          remote.status().code(),
          absl::StrCat(c.name, ": ", remote.status().message()));
    }
    absl::StatusOr<Latency> local =
        Measure(c.requests, options.clients, c.local);
    if (!local.ok()) {
      return absl::Status(
          local.status().code(),
          absl::StrCat(c.name, " in-process: ", local.status().message()));
    }
    std::printf("%-32s %5d %9.2f %9.2f %8.1f | %14.2f %6.2fx\n", c.name.c_str(),
                remote->n, remote->p50_ms, remote->p99_ms,
                remote->requests_per_second, local->p50_ms,
                remote->p50_ms / local->p50_ms);
    std::fflush(stdout);
  }
  std::printf("ratio: gRPC p50 / in-process p50 (the serving overhead)\n");
  return absl::OkStatus();
}

}  // namespace iv::bench
