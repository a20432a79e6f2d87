// A small model and training loop that the data-parallel tests run both in
// one process on the whole global batch and in several ranks on its slices,
// so the two can be compared parameter by parameter.
#ifndef TRAINER_DISTRIBUTED_TESTING_TINY_TRAINING_H_
#define TRAINER_DISTRIBUTED_TESTING_TINY_TRAINING_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "trainer/distributed/data_parallel.h"
#include "trainer/distributed/rendezvous.h"

namespace iv::trainer::test {

// Three linear layers with a buffer, plus a layer the forward never uses
// (DataParallel must still finish every step).
struct TinyMlpImpl : torch::nn::Module {
  explicit TinyMlpImpl(int64_t seed);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr}, unused{nullptr};
  torch::Tensor input_scale;
};
TORCH_MODULE(TinyMlp);

struct TrainConfig {
  std::string optimizer = "adamw";  // "adamw" or "sgd" (with momentum).
  int steps = 4;
  int global_batch = 16;
  int micro_batches = 1;           // >1: accumulate under NoSync, then sync.
  int64_t bucket_cap_bytes = 256;  // Small: several buckets, to see overlap.
};

struct TrainResult {
  std::vector<torch::Tensor> parameters;  // After training, in module order.
  GradientSyncStats last_stats;
  int buckets = 0;
};

// Builds the model seeded by 100 + rank (so ranks start different and only
// DataParallel's broadcast makes them equal), then trains on this rank's
// contiguous slice of each step's global batch.
absl::StatusOr<TrainResult> Train(const World& world,
                                  const TrainConfig& config);

// The global batch of a step: the same on every rank and in the reference.
std::pair<torch::Tensor, torch::Tensor> GlobalBatch(int step, int size);

// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's
// pick), for a test's rendezvous.
int FreeLoopbackPort();

}  // namespace iv::trainer::test

#endif  // TRAINER_DISTRIBUTED_TESTING_TINY_TRAINING_H_
