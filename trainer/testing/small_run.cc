#include "trainer/testing/small_run.h"

#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/substitute.h"
#include "common/synthworld/renderer.h"
#include "common/testing/temp_dir.h"
#include "nlohmann/json.hpp"

namespace iv::test {

std::string RenderTestWorld(const std::string& name, uint64_t seed,
                            int train_clips, int val_clips,
                            int train_untrimmed) {
  synthworld::SynthOptions options;
  options.out_dir = FreshTempDir(name);
  options.seed = seed;
  options.rendering.size = 64;
  options.train_clips = train_clips;
  options.val_clips = val_clips;
  options.test_clips = 0;
  options.train_untrimmed = train_untrimmed;
  options.test_untrimmed = 0;
  absl::Status s = synthworld::RenderWorld(options, {});
  EXPECT_TRUE(s.ok()) << s;
  return options.out_dir;
}

const std::string& SmallWorld() {
  static const std::string* dir =
      new std::string(RenderTestWorld("small_world", 3, 40, 12));
  return *dir;
}

std::string SmallRecipeText(int64_t total_steps,
                            int64_t checkpoint_every_steps) {
  return absl::Substitute(
      R"pb(
        name: "small"
        model {
          class_names: [ "a", "b", "c", "d", "e", "f", "g", "h", "i", "j" ]
          masked_encoder {
            preset: "tiny"
            img_size: 32
            patch_size: 16
            num_frames: 4
            embed_dim: 32
            depth: 2
            num_heads: 2
          }
        }
        recognition { label_smoothing: 0.1 }
        optimizer { learning_rate: 1e-3 weight_decay: 0.05 layer_decay: 0.75 }
        schedule { warmup_steps: 2 }
        global_batch_size: 8
        log_every_steps: 1
        seed: 5
        train_data {
          num_workers: 1
          manifests { path: "$0" }
        }
        total_steps: $1
        checkpoint_every_steps: $2
      )pb",
      SmallWorld() + "/train.jsonl", total_steps, checkpoint_every_steps);
}

std::map<int64_t, double> LoggedLosses(const std::string& output_dir) {
  std::ifstream in(output_dir + "/metrics.jsonl");
  std::map<int64_t, double> losses;
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json event = nlohmann::json::parse(line);
    if (event.contains("loss")) {
      losses[event["step"].get<int64_t>()] = event["loss"].get<double>();
    }
  }
  return losses;
}

}  // namespace iv::test
