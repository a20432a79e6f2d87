#include "tools/iv/synth_command.h"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

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
  std::printf(
      "iv synth: %d clips (train/val/test %d/%d/%d) and %d untrimmed videos, "
      "%dx%d, seed %llu, noise %d, in %.1f s (%.0f clips/min) -> %s%s\n",
      clips, o.train_clips, o.val_clips, o.test_clips, videos, o.size, o.size,
      static_cast<unsigned long long>(o.seed), o.noise, seconds,
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
  command->add_option("--size", o.size, "frame side in pixels")
      ->capture_default_str()
      ->check(CLI::Range(sw::kMinSide, sw::kMaxSide));
  command->add_option("--noise", o.noise, "background noise level")
      ->capture_default_str()
      ->check(CLI::IsMember({0, 1}));
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
      "Writes DIR/clips/<split>_<n>.mp4, DIR/untrimmed/<split>_<n>.mp4, "
      "DIR/<split>.jsonl,\nDIR/<split>_untrimmed.jsonl and DIR/world.json "
      "(see shared/spec/SYNTHWORLD.md).\nOdd sizes are padded by one "
      "background pixel to even frames for H.264.");
  command->callback([args] {
    const int code = RunSynth(*args);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace iv::cli
