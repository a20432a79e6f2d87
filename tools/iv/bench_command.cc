#include "tools/iv/bench_command.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/substitute.h"
#include "common/process/command.h"
#include "common/synthworld/renderer.h"
#include "nlohmann/json.hpp"
#include "tools/bench/decode_benchmark.h"
#include "tools/bench/embed_benchmark.h"
#include "tools/bench/encoder_benchmark.h"
#include "tools/bench/search_benchmark.h"
#include "tools/bench/tasks_benchmark.h"

namespace iv::cli {
namespace {

void AddEncoderCommand(CLI::App& bench) {
  auto options = std::make_shared<bench::EncoderBenchmarkOptions>();
  CLI::App* encoder = bench.add_subcommand(
      "encoder",
      "VideoMAE ViT-B/16 and tiny forward (16x224 clips) in fp32 and bf16 "
      "vs the same architecture in PyTorch eager, same run and threads");
  encoder
      ->add_option("--threads", options->threads,
                   "intra-op threads of both sides (1: stable timings on a "
                   "machine shared with other work)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  encoder->add_option("--batch", options->batch, "clips per forward")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  encoder->add_option("--iters", options->iters, "timed forwards per figure")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  encoder->add_option("--models", options->models, "presets to run: b16, tiny")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::IsMember({"b16", "tiny"}));
  encoder
      ->add_option("--device", options->device,
                   "auto (CUDA when available), cpu or cuda")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  encoder
      ->add_option("--eager-script", options->eager_script,
                   "the PyTorch eager baseline (run from the repository root)")
      ->capture_default_str();
  encoder->callback([options] {
    if (!bench::RunEncoderBenchmark(*options)) throw CLI::RuntimeError(1);
  });
}

struct TrainBenchmarkOptions {
  int steps = 20;
  int clips = 200;
  int batch = 8;
};

// The training recipe of the benchmark: iv-tiny's stage 1 (its masked
// encoder with the convolutional stem, action and scene-attribute heads;
// models/iv-tiny/recipes) at a lower learning rate.
std::string TrainBenchmarkRecipe(const std::string& world,
                                 const TrainBenchmarkOptions& options) {
  return absl::Substitute(
      R"pb(
        name: "bench-train"
        model {
          class_names: [ "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" ]
          masked_encoder {
            preset: "tiny"
            img_size: 64
            patch_size: 8
            num_frames: 8
            tubelet_size: 8
            embed_dim: 96
            depth: 3
            num_heads: 3
            conv_stem_channels: [ 16, 32, 64 ]
          }
          attribute_head {
            colors: [ "red", "green", "blue", "yellow", "purple", "white" ]
            shapes: [ "circle", "square", "triangle", "cross" ]
            max_objects: 3
          }
        }
        recognition { attribute_weight: 1 }
        optimizer { learning_rate: 1e-4 weight_decay: 0.05 }
        log_every_steps: 1
        seed: 1
        train_data {
          num_workers: 1
          manifests { path: "$0" }
        }
        global_batch_size: $1
        total_steps: $2
      )pb",
      world + "/train.jsonl", options.batch, options.steps);
}

// Clips per second of a finished run, from its metrics log: the global
// clips over the time of every logged step but the first two (warm-up).
absl::StatusOr<double> ClipsPerSecond(const std::string& output_dir,
                                      int batch) {
  std::ifstream in(output_dir + "/metrics.jsonl");
  double clips = 0, seconds = 0;
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
    if (event.is_discarded() || !event.contains("clips_per_second") ||
        event.value("step", 0) <= 2) {
      continue;
    }
    clips += batch;
    seconds += batch / event["clips_per_second"].get<double>();
  }
  if (seconds <= 0) {
    return absl::InternalError(
        absl::StrCat("no timed steps in ", output_dir, "/metrics.jsonl"));
  }
  return clips / seconds;
}

absl::Status RunTrainBenchmark(const TrainBenchmarkOptions& options) {
  char self[4096] = {};
  if (readlink("/proc/self/exe", self, sizeof(self) - 1) <= 0) {
    return absl::InternalError("cannot find this binary (/proc/self/exe)");
  }
  std::string dir =
      (std::filesystem::temp_directory_path() / "iv-bench-train-XXXXXX")
          .string();
  if (mkdtemp(dir.data()) == nullptr) {
    return absl::InternalError("cannot create a temporary folder");
  }
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  } cleanup{dir};

  std::printf("rendering a SynthWorld of %d clips at 64 px in %s ...\n",
              options.clips, dir.c_str());
  std::fflush(stdout);
  synthworld::SynthOptions world;
  world.out_dir = dir + "/world";
  world.seed = 1;
  world.rendering.size = 64;
  world.train_clips = options.clips;
  world.val_clips = 0;
  world.test_clips = 0;
  world.test_untrimmed = 0;
  if (absl::Status s = synthworld::RenderWorld(world, {}); !s.ok()) {
    return s;
  }
  const std::string recipe = dir + "/recipe.pbtxt";
  std::ofstream(recipe) << TrainBenchmarkRecipe(world.out_dir, options);

  double rates[3] = {};
  for (int nproc : {1, 2}) {
    const std::string out = absl::StrCat(dir, "/run", nproc);
    process::CommandResult run = process::RunCommand(
        absl::StrCat(self, " train ", recipe, " --nproc ", nproc,
                     " --output-dir ", out, " 2>&1"));
    if (run.exit_code != 0) {
      return absl::InternalError(
          absl::StrCat("iv train --nproc ", nproc, " failed:\n", run.output));
    }
    absl::StatusOr<double> rate = ClipsPerSecond(out, options.batch);
    if (!rate.ok()) return rate.status();
    rates[nproc] = *rate;
    std::printf("%d rank%s: %8.1f clips/s  (global batch %d, %d steps)\n",
                nproc, nproc == 1 ? " " : "s", *rate, options.batch,
                options.steps);
    std::fflush(stdout);
  }
  std::printf(
      "scaling efficiency: %.2f  (clips/s on 2 / (2 x clips/s on 1))\n"
      "note: the ranks are local processes over Gloo on loopback; with %u "
      "cores they share the cores (each rank gets cores / ranks threads), "
      "so on a 2-core machine the efficiency is bounded by compute, not by "
      "communication.\n",
      rates[2] / (2 * rates[1]), std::thread::hardware_concurrency());
  return absl::OkStatus();
}

void AddTrainBenchmarkCommand(CLI::App& bench) {
  auto options = std::make_shared<TrainBenchmarkOptions>();
  CLI::App* train = bench.add_subcommand(
      "train",
      "Training clips/s of iv-tiny's stage 1 (recognition) on 1 and 2 "
      "local ranks (`iv train --nproc`), and the scaling efficiency");
  train->add_option("--steps", options->steps, "optimizer steps per run")
      ->capture_default_str()
      ->check(CLI::Range(4, 10000));
  train->add_option("--clips", options->clips, "training clips rendered")
      ->capture_default_str()
      ->check(CLI::Range(16, 100000));
  train->callback([options] {
    absl::Status status = RunTrainBenchmark(*options);
    if (!status.ok()) {
      std::fprintf(stderr, "iv bench train: %s\n",
                   std::string(status.message()).c_str());
      throw CLI::RuntimeError(1);
    }
  });
}

void AddEmbedBenchmarkCommand(CLI::App& bench) {
  auto options = std::make_shared<bench::EmbedBenchmarkOptions>();
  CLI::App* embed = bench.add_subcommand(
      "embed",
      "EmbedVideo throughput of the encoder service with dynamic batching vs "
      "one request at a time, many concurrent clients on loopback");
  embed->add_option("--requests", options->requests, "timed calls per figure")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  embed->add_option("--clients", options->clients, "concurrent clients")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  embed
      ->add_option("--max-batch", options->max_batch,
                   "clips per forward of the batched server")
      ->capture_default_str()
      ->check(CLI::Range(2, 4096));
  embed
      ->add_option("--max-queue-delay-ms", options->max_queue_delay_ms,
                   "how long a request waits to fill a batch")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10000.0));
  embed
      ->add_option("--decode-threads", options->decode_threads,
                   "the servers' decoding threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  embed
      ->add_option("--threads", options->threads,
                   "intra-op threads of the model (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  embed
      ->add_option("--model", options->model,
                   "iv-tiny (its video tower, random weights) or test (the "
                   "tests' 32 px model)")
      ->capture_default_str()
      ->check(CLI::IsMember({"iv-tiny", "test"}));
  embed
      ->add_option("--work-dir", options->work_dir,
                   "emptied, then holds the videos and the model")
      ->capture_default_str();
  embed->callback([options] {
    absl::Status status = bench::RunEmbedBenchmark(*options);
    if (!status.ok()) {
      std::fprintf(stderr, "iv bench embed: %s\n",
                   std::string(status.message()).c_str());
      throw CLI::RuntimeError(1);
    }
  });
}

void AddSearchBenchmarkCommand(CLI::App& bench) {
  auto options = std::make_shared<bench::SearchBenchmarkOptions>();
  CLI::App* search = bench.add_subcommand(
      "search",
      "Search-by-vector QPS, p50/p99 latency and recall@k through the index "
      "service over gRPC with concurrent clients vs FAISS in-process on the "
      "same HNSW index, same queries and threads");
  search->add_option("--vectors", options->vectors, "records indexed")
      ->capture_default_str()
      ->check(CLI::Range(10, 10000000));
  search->add_option("--dim", options->dim, "vector dimension")
      ->capture_default_str()
      ->check(CLI::Range(2, 4096));
  search
      ->add_option("--clients", options->clients,
                   "concurrent clients (and in-process threads)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  search
      ->add_option("--queries", options->queries,
                   "timed queries per side and round")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  search
      ->add_option("--rounds", options->rounds,
                   "alternating rounds of both sides (the median is shown)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  search->add_option("--k", options->k, "results per query")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  search->add_option("--hnsw-m", options->hnsw_m, "HNSW links per node (M)")
      ->capture_default_str()
      ->check(CLI::Range(4, 128));
  search
      ->add_option("--ef-construction", options->ef_construction,
                   "HNSW efConstruction")
      ->capture_default_str()
      ->check(CLI::Range(8, 2048));
  search->add_option("--ef-search", options->ef_search, "HNSW efSearch")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  search->add_option("--work-dir", options->work_dir,
                     "folder for the service's data, kept so that a later run "
                     "with the same options reuses the built index (default: "
                     "a temporary folder, removed at the end)");
  search->callback([options] {
    absl::Status status = bench::RunSearchBenchmark(*options);
    if (!status.ok()) {
      std::fprintf(stderr, "iv bench search: %s\n",
                   std::string(status.message()).c_str());
      throw CLI::RuntimeError(1);
    }
  });
}

void AddTasksBenchmarkCommand(CLI::App& bench) {
  auto options = std::make_shared<bench::TasksBenchmarkOptions>();
  CLI::App* tasks = bench.add_subcommand(
      "tasks",
      "p50/p99 latency of each task request (Recognize, AnswerQuestion, "
      "CaptionVideo, Localize) through gRPC on loopback vs the same call "
      "in-process, a few concurrent clients");
  tasks
      ->add_option("--requests", options->requests,
                   "timed calls per request type and side")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  tasks
      ->add_option("--clients", options->clients,
                   "concurrent clients (and in-process threads)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  tasks
      ->add_option("--threads", options->threads,
                   "intra-op threads of the model (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  tasks
      ->add_option("--model", options->model,
                   "the model folder served (default: the committed iv-tiny, "
                   "relative to the repository root)")
      ->capture_default_str();
  tasks
      ->add_option("--work-dir", options->work_dir,
                   "emptied, then holds the rendered videos")
      ->capture_default_str();
  tasks->callback([options] {
    absl::Status status = bench::RunTasksBenchmark(*options);
    if (!status.ok()) {
      std::fprintf(stderr, "iv bench tasks: %s\n",
                   std::string(status.message()).c_str());
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace

void AddBenchCommand(CLI::App& iv) {
  CLI::App* bench = iv.add_subcommand(
      "bench", "Measure speed; each figure is printed beside its baseline");
  bench->require_subcommand(1);

  auto options = std::make_shared<bench::DecodeBenchmarkOptions>();
  CLI::App* decode = bench->add_subcommand(
      "decode",
      "Frame sampling from a long video vs decoding it whole and vs PyAV; "
      "ClipLoader throughput with 1 and 2 workers");
  decode
      ->add_option("--work-dir", options->work_dir,
                   "where generated videos are cached")
      ->capture_default_str();
  decode
      ->add_option("--video-seconds", options->video_seconds,
                   "length of the generated 1280x720 video")
      ->capture_default_str()
      ->check(CLI::Range(5.0, 3600.0));
  decode->add_option("--frames", options->frames, "frames to sample")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  decode->add_option("--repeats", options->repeats, "timings per figure")
      ->capture_default_str()
      ->check(CLI::Range(1, 20));
  decode
      ->add_option("--pyav-script", options->pyav_script,
                   "the PyAV baseline (run from the repository root)")
      ->capture_default_str();
  decode->add_flag("!--no-loader", options->loader,
                   "skip the ClipLoader throughput part");
  decode->callback([options] {
    absl::Status status = bench::RunDecodeBenchmark(*options);
    if (!status.ok()) {
      std::fprintf(stderr, "iv bench decode: %s\n",
                   std::string(status.message()).c_str());
      throw CLI::RuntimeError(1);
    }
  });
  AddEncoderCommand(*bench);
  AddTrainBenchmarkCommand(*bench);
  AddEmbedBenchmarkCommand(*bench);
  AddSearchBenchmarkCommand(*bench);
  AddTasksBenchmarkCommand(*bench);
}

}  // namespace iv::cli
