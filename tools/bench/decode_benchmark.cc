#include "tools/bench/decode_benchmark.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/data/clip_loader.h"
#include "common/data/manifest.h"
#include "common/data/recognition_samples.h"
#include "common/process/command.h"
#include "common/synthworld/renderer.h"
#include "common/video/decoder.h"
#include "common/video/sampler.h"

namespace iv::bench {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// Median wall time of `repeats` runs of `run`, in seconds.
double MedianSeconds(int repeats, const std::function<void()>& run) {
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// The command's output, or an error with it if the command failed.
absl::StatusOr<std::string> Shell(const std::string& command) {
  process::CommandResult run = process::RunCommand(command);
  if (run.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("failed: ", command, "\n", run.output));
  }
  return std::move(run.output);
}

absl::StatusOr<std::string> LongVideo(const DecodeBenchmarkOptions& options) {
  const std::string path =
      absl::StrCat(options.work_dir, "/long_", options.video_seconds, "s.mp4");
  if (Exists(path)) return path;
  std::fprintf(stderr,
               "generating a %.0f s 1280x720 30 fps H.264 video with the "
               "ffmpeg CLI (keyframe every 2 s; cached in %s)...\n",
               options.video_seconds, options.work_dir.c_str());
  absl::StatusOr<std::string> made = Shell(absl::StrCat(
      "ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -t ",
      options.video_seconds,
      " -c:v libx264 -preset veryfast -g 60 -keyint_min 60 -sc_threshold 0 "
      "-pix_fmt yuv420p ",
      path, ".tmp.mp4 && mv ", path, ".tmp.mp4 ", path, " 2>&1"));
  if (!made.ok()) return made.status();
  return path;
}

absl::Status BenchSampling(const DecodeBenchmarkOptions& options) {
  absl::StatusOr<std::string> video = LongVideo(options);
  if (!video.ok()) return video.status();
  auto probe = video::VideoDecoder::Open(*video);
  if (!probe.ok()) return probe.status();
  const video::VideoInfo info = (*probe)->info();
  const std::vector<int64_t> indices = video::UniformIndices(
      info.num_frames, options.frames, video::SampleMode::kTest);

  absl::Status failure;
  int64_t decoded = 0;
  const double ours = MedianSeconds(options.repeats, [&] {
    auto decoder = video::VideoDecoder::Open(*video);
    if (!decoder.ok()) return void(failure = decoder.status());
    auto frames = (*decoder)->DecodeFrames(indices);
    if (!frames.ok()) return void(failure = frames.status());
    decoded = (*decoder)->frames_decoded();
  });
  if (!failure.ok()) return failure;

  const double whole = MedianSeconds(options.repeats, [&] {
    auto run = Shell(absl::StrCat("ffmpeg -v error -threads 0 -i ", *video,
                                  " -f null - 2>&1"));
    if (!run.ok()) failure = run.status();
  });
  if (!failure.ok()) return failure;

  double pyav = 0;
  absl::StatusOr<std::string> pyav_output = Shell(
      absl::StrCat("/usr/bin/python3 ", options.pyav_script, " ", *video, " ",
                   absl::StrJoin(indices, ","), " ", options.repeats, " 2>&1"));
  if (pyav_output.ok()) {
    pyav = nlohmann::json::parse(*pyav_output)["seconds"].get<double>();
  }

  std::printf(
      "video: %.0f s, %dx%d, %.0f fps, %s, %lld frames, keyframe "
      "every 2 s\n",
      info.duration_s, info.width, info.height, info.fps, info.codec.c_str(),
      static_cast<long long>(info.num_frames));
  std::printf(
      "%d frames sampled uniformly (median of %d runs, open "
      "included):\n",
      options.frames, options.repeats);
  std::printf("  iv VideoDecoder        %8.3f s   (%lld frames decoded)\n",
              ours, static_cast<long long>(decoded));
  std::printf(
      "  whole-file decode      %8.3f s   (ffmpeg -f null)   -> iv is "
      "%.1fx faster (target >= 10x)\n",
      whole, whole / ours);
  if (pyav > 0) {
    std::printf(
        "  PyAV seek + decode     %8.3f s   (python3-av)       -> iv "
        "is %.2fx faster (target >= 1x)\n",
        pyav, pyav / ours);
  } else {
    std::printf("  PyAV seek + decode     unavailable: %s\n",
                std::string(pyav_output.status().message()).c_str());
  }
  return absl::OkStatus();
}

// Renders (once) a small SynthWorld of `count` clips of side `side`.
absl::StatusOr<std::vector<data::TrimmedClip>> World(
    const DecodeBenchmarkOptions& options, int side, int count) {
  const std::string dir =
      absl::StrCat(options.work_dir, "/synth_", side, "_", count);
  const std::string manifest = dir + "/train.jsonl";
  if (!Exists(manifest)) {
    synthworld::SynthOptions synth;
    synth.out_dir = dir;
    synth.seed = 1;
    synth.rendering.size = side;
    synth.train_clips = count;
    synth.val_clips = 0;
    synth.test_clips = 0;
    synth.test_untrimmed = 0;
    absl::Status rendered = synthworld::RenderWorld(synth, nullptr);
    if (!rendered.ok()) return rendered;
  }
  return data::ReadTrimmedManifest(manifest);
}

absl::Status BenchLoader(const DecodeBenchmarkOptions& options) {
  struct Shape {
    int frames, side, clips;
  };
  std::printf(
      "ClipLoader throughput (training mode, batch 8, one epoch "
      "after a warm-up batch):\n");
  for (Shape shape : {Shape{8, 128, 96}, Shape{16, 224, 48}}) {
    auto clips = World(options, shape.side, shape.clips);
    if (!clips.ok()) return clips.status();
    std::vector<double> rates;
    for (int workers : {1, 2}) {
      data::ClipLoaderOptions loader_options;
      loader_options.clip.num_frames = shape.frames;
      loader_options.clip.short_side = shape.side;
      loader_options.clip.crop_size = shape.side;
      loader_options.train = true;
      loader_options.batch_size = 8;
      loader_options.workers = workers;
      auto loader = data::ClipLoader::Create(data::RecognitionSamples(*clips),
                                             loader_options);
      if (!loader.ok()) return loader.status();
      absl::Status failure;
      int64_t count = 0;
      auto first = (*loader)->Next();  // warm-up: threads, caches
      if (!first.ok()) return first.status();
      auto start = std::chrono::steady_clock::now();
      while (true) {
        auto batch = (*loader)->Next();
        if (!batch.ok()) return batch.status();
        if (!batch->has_value()) break;
        count += (*batch)->video.size(0);
      }
      double seconds = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - start)
                           .count();
      rates.push_back(count / seconds);
    }
    std::printf(
        "  %2dx%dx%d   1 worker %7.1f clips/s   2 workers %7.1f "
        "clips/s   (%.2fx)\n",
        shape.frames, shape.side, shape.side, rates[0], rates[1],
        rates[1] / rates[0]);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunDecodeBenchmark(const DecodeBenchmarkOptions& options) {
  if (mkdir(options.work_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", options.work_dir));
  }
  std::printf("iv bench decode   (%u hardware threads)\n",
              std::thread::hardware_concurrency());
  absl::Status status = BenchSampling(options);
  if (status.ok() && options.loader) status = BenchLoader(options);
  return status;
}

}  // namespace iv::bench
