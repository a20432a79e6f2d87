// Shared by the tests that train for real (the engine, `iv train`): a small
// rendered SynthWorld, a small recognition recipe on it, and the losses a
// run logged.
#ifndef TRAINER_TESTING_SMALL_RUN_H_
#define TRAINER_TESTING_SMALL_RUN_H_

#include <cstdint>
#include <map>
#include <string>

namespace iv::test {

// Renders a 64x64 SynthWorld of `seed` into a fresh temporary folder named
// after `name` (no test split, no untrimmed videos but `train_untrimmed`)
// and returns the folder; failures are test failures.
std::string RenderTestWorld(const std::string& name, uint64_t seed,
                            int train_clips, int val_clips,
                            int train_untrimmed = 0);

// 40 train and 12 val clips of 64x64, rendered once per test process. 40 is
// divisible by the global batch of 8, so one rank on 8 clips and two on 4
// each see the same samples every step.
const std::string& SmallWorld();

// A recognition recipe (protobuf text) of a 2-block tiny encoder on
// SmallWorld()'s train split: global batch 8, log every step, seed 5, no
// dropout or drop path, no output_dir.
std::string SmallRecipeText(int64_t total_steps,
                            int64_t checkpoint_every_steps);

// step -> loss from a run's metrics.jsonl (the last entry per step wins).
std::map<int64_t, double> LoggedLosses(const std::string& output_dir);

}  // namespace iv::test

#endif  // TRAINER_TESTING_SMALL_RUN_H_
