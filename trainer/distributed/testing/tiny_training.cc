#include "trainer/distributed/testing/tiny_training.h"

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace iv::trainer::test {

constexpr int64_t kIn = 8;
constexpr int64_t kHidden = 32;
constexpr int64_t kOut = 4;

TinyMlpImpl::TinyMlpImpl(int64_t seed) {
  torch::manual_seed(seed);
  fc1 = register_module("fc1", torch::nn::Linear(kIn, kHidden));
  fc2 = register_module("fc2", torch::nn::Linear(kHidden, kHidden));
  fc3 = register_module("fc3", torch::nn::Linear(kHidden, kOut));
  unused = register_module("unused", torch::nn::Linear(kOut, kOut));
  input_scale = register_buffer("input_scale", torch::rand({kIn}) + 0.5);
}

torch::Tensor TinyMlpImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = torch::tanh(fc1(x * input_scale));
  h = torch::gelu(fc2(h));
  return fc3(h);
}

std::pair<torch::Tensor, torch::Tensor> GlobalBatch(int step, int size) {
  torch::manual_seed(1000 + step);
  torch::Tensor x = torch::randn({size, kIn});
  torch::Tensor y = torch::randn({size, kOut});
  return {x, y};
}

absl::StatusOr<TrainResult> Train(const World& world,
                                  const TrainConfig& config) {
  if (config.global_batch % (world.world_size() * config.micro_batches) != 0) {
    return absl::InvalidArgumentError("the batch does not split evenly");
  }
  TinyMlp model(100 + world.rank());
  DataParallelOptions options;
  options.bucket_cap_bytes = config.bucket_cap_bytes;
  options.find_unused_parameters = true;  // `unused` keeps no gradient.
  absl::StatusOr<std::unique_ptr<DataParallel>> ddp =
      DataParallel::Create(*model, world, options);
  if (!ddp.ok()) return ddp.status();

  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (config.optimizer == "sgd") {
    optimizer = std::make_unique<torch::optim::SGD>(
        model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  } else {
    optimizer = std::make_unique<torch::optim::AdamW>(
        model->parameters(),
        torch::optim::AdamWOptions(1e-2).weight_decay(0.01));
  }
  const int local_batch = config.global_batch / world.world_size();
  const int micro_batch = local_batch / config.micro_batches;
  for (int step = 0; step < config.steps; ++step) {
    auto [x, y] = GlobalBatch(step, config.global_batch);
    x = x.narrow(0, world.rank() * local_batch, local_batch);
    y = y.narrow(0, world.rank() * local_batch, local_batch);
    optimizer->zero_grad();
    for (int micro = 0; micro < config.micro_batches; ++micro) {
      torch::Tensor xm = x.narrow(0, micro * micro_batch, micro_batch);
      torch::Tensor ym = y.narrow(0, micro * micro_batch, micro_batch);
      // The mean over the local batch: DataParallel's average over ranks
      // then gives the mean over the global batch.
      torch::Tensor loss =
          torch::mse_loss(model->forward(xm), ym) / config.micro_batches;
      if (micro + 1 < config.micro_batches) {
        auto no_sync = (*ddp)->NoSync();
        loss.backward();
      } else {
        (*ddp)->PrepareForBackward(loss);
        loss.backward();
      }
    }
    if (absl::Status status = (*ddp)->FinishGradientSync(); !status.ok()) {
      return status;
    }
    optimizer->step();
  }
  TrainResult result;
  for (const torch::Tensor& param : model->parameters()) {
    result.parameters.push_back(param.detach().clone());
  }
  result.last_stats = (*ddp)->last_sync_stats();
  result.buckets = (*ddp)->num_buckets();
  return result;
}

int FreeLoopbackPort() { return trainer::FreeLoopbackPort(); }

}  // namespace iv::trainer::test
