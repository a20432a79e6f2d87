#include "tools/iv/synth_command.h"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/synthworld/renderer.h"
#include "tools/iv/progress_bar.h"

namespace iv::cli {
namespace {

namespace sw = synthworld;

struct SynthArgs {
  sw::SynthOptions options;
  bool preview = false;
};

int RunSynth(const SynthArgs& args) {
  const sw::SynthOptions& o = args.options;
  ProgressBar bar("clips");
  absl::Status status = sw::RenderWorld(
      o, [&bar](const sw::SynthProgress& p) { bar.Update(p.done, p.total); });
  if (status.ok() && args.preview) status = sw::WritePreview(o);
  if (!status.ok()) {
    std::fprintf(stderr, "iv synth: %s\n", status.ToString().c_str());
    return 1;
  }
  const int clips = o.train_clips + o.val_clips + o.test_clips;
  const int videos = o.train_untrimmed + o.val_untrimmed + o.test_untrimmed;
  const double seconds = bar.seconds();
  const sw::Rendering& r = o.rendering;
  const std::string rendering =
      o.variety
          ? std::string("a variety of renderings")
          : absl::StrFormat("%dx%d %s at %d fps, noise %d", r.size, r.size,
                            sw::FormatName(r.format), r.fps, r.noise);
  std::printf(
      "iv synth: %d clips (train/val/test %d/%d/%d) and %d untrimmed videos, "
      "%s, seed %llu, in %.1f s (%.0f clips/min) -> %s%s\n",
      clips, o.train_clips, o.val_clips, o.test_clips, videos,
      rendering.c_str(), static_cast<unsigned long long>(o.seed), seconds,
      seconds > 0 ? 60 * (clips + videos) / seconds : 0, o.out_dir.c_str(),
      args.preview ? " (+ preview.png, preview.txt)" : "");
  return 0;
}

}  // namespace

void AddSynthCommand(CLI::App& iv) {
  auto args = std::make_shared<SynthArgs>();
  sw::SynthOptions& o = args->options;
  CLI::App* command = iv.add_subcommand(
      "synth", "Render a SynthWorld dataset: clips, videos and manifests");
  command->add_option("--out", o.out_dir, "output folder (created)")
      ->required();
  command
      ->add_option("--seed", o.seed,
                   "world seed: the same seed renders the same world")
      ->required();
  sw::Rendering& r = o.rendering;
  command->add_option("--size", r.size, "frame side in pixels")
      ->capture_default_str()
      ->check(CLI::Range(sw::kMinSide, sw::kMaxSide));
  command->add_option("--noise", r.noise, "background noise level")
      ->capture_default_str()
      ->check(CLI::IsMember({0, 1}));
  command
      ->add_option("--fps", r.fps,
                   "frame rate of the files (events keep their timing in "
                   "seconds)")
      ->capture_default_str()
      ->check(CLI::Range(1, 120));
  command
      ->add_option_function<std::string>(
          "--format",
          [&r](const std::string& name) { r.format = sw::FormatNamed(name); },
          "codec and container: h264-mp4 (default), h264-mkv, vp9-webm, "
          "mpeg4-avi, mjpeg-avi")
      ->check(CLI::IsMember(
          {"h264-mp4", "h264-mkv", "vp9-webm", "mpeg4-avi", "mjpeg-avi"}));
  command
      ->add_option("--compression", r.compression,
                   "0 (x264 crf 18) .. 1 (heavy); each codec's quality "
                   "setting in between")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  command
      ->add_option("--background", r.lighting.background,
                   "background grey level")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  command
      ->add_option("--contrast", r.lighting.contrast, "contrast about mid-grey")
      ->capture_default_str()
      ->check(CLI::Range(0.75, 1.25));
  command
      ->add_option("--brightness", r.lighting.brightness,
                   "levels added to every pixel")
      ->capture_default_str()
      ->check(CLI::Range(-32, 32));
  command
      ->add_option("--ramp", r.lighting.ramp,
                   "uneven light: -RAMP levels at the left edge to +RAMP at "
                   "the right")
      ->capture_default_str()
      ->check(CLI::Range(0, 32));
  command
      ->add_option_function<std::vector<int>>(
          "--variety-sizes",
          [&o](const std::vector<int>& sides) {
            o.variety_min_side = sides[0];
            o.variety_max_side = sides[1];
          },
          "MIN MAX: the frame sides --variety draws from (default 96 224; "
          "training sets can stay nearer the model's input)")
      ->expected(2)
      ->check(CLI::Range(sw::kMinSide, sw::kMaxSide));
  command->add_flag(
      "--variety", o.variety,
      "render each file differently, as real videos differ (overrides the "
      "rendering options above): sides from --variety-sizes, 16 or 25 "
      "fps, all five "
      "formats, compression up to 0.6, noise, background, contrast, "
      "brightness and ramp drawn per file from its seed; the events are the "
      "same as without it");
  auto count = [command](const char* flag, int& value, const char* what) {
    command->add_option(flag, value, what)
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
  };
  count("--train", o.train_clips, "trimmed training clips");
  count("--val", o.val_clips, "trimmed validation clips");
  count("--test", o.test_clips, "trimmed test clips");
  count("--untrimmed-train", o.train_untrimmed, "untrimmed training videos");
  count("--untrimmed-val", o.val_untrimmed, "untrimmed validation videos");
  count("--untrimmed-test", o.test_untrimmed, "untrimmed test videos");
  count("--threads", o.threads, "render threads (0 = one per core)");
  command->add_flag("--preview", args->preview,
                    "also write DIR/preview.png (one clip per action as rows, "
                    "8 frames across time as columns) and DIR/preview.txt");
  command->footer(
      "Writes DIR/clips/<split>_<n>.<ext>, DIR/untrimmed/<split>_<n>.<ext>, "
      "DIR/<split>.jsonl,\nDIR/<split>_untrimmed.jsonl and DIR/world.json "
      "(see shared/spec/SYNTHWORLD.md).\nOdd sizes are padded by one "
      "background pixel to even frames (yuv420p).");
  command->callback([args] {
    const int code = RunSynth(*args);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace iv::cli
