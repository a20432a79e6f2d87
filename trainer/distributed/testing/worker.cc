// One rank of a data-parallel test: distributed_test.cc starts two of these
// over loopback, with torchrun's environment variables, and compares what
// they write to OUT_DIR against a single process.
//
//   worker MODE OUT_DIR [OPTIMIZER MICRO_BATCHES]
//   MODE: train    | trains TinyMlp, writes params_<rank>.pt, stats_<rank>.txt
//         init     | writes before_<rank>.pt and after_<rank>.pt (broadcast)
//         gather   | differentiable AllGather + metrics, writes
//         gather_<rank>.pt mismatch | rank 1 builds another model; prints the
//         status
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "trainer/distributed/collectives.h"
#include "trainer/distributed/data_parallel.h"
#include "trainer/distributed/rendezvous.h"
#include "trainer/distributed/testing/tiny_training.h"

namespace iv::trainer::test {
namespace {

std::vector<torch::Tensor> Snapshot(torch::nn::Module& module) {
  std::vector<torch::Tensor> tensors;
  for (const torch::Tensor& param : module.parameters()) {
    tensors.push_back(param.detach().clone());
  }
  for (const torch::Tensor& buffer : module.buffers()) {
    tensors.push_back(buffer.clone());
  }
  return tensors;
}

absl::Status RunTrain(const World& world, const std::string& out, int argc,
                      char** argv) {
  TrainConfig config;
  if (argc > 3) config.optimizer = argv[3];
  if (argc > 4) config.micro_batches = std::stoi(argv[4]);
  absl::StatusOr<TrainResult> result = Train(world, config);
  if (!result.ok()) return result.status();
  torch::save(result->parameters,
              absl::StrCat(out, "/params_", world.rank(), ".pt"));
  std::ofstream stats(absl::StrCat(out, "/stats_", world.rank(), ".txt"));
  stats << result->buckets << " " << result->last_stats.buckets << " "
        << result->last_stats.launched_during_backward << " "
        << result->last_stats.locally_unused_parameters << " "
        << result->last_stats.globally_unused_parameters << "\n";
  return absl::OkStatus();
}

absl::Status RunInit(const World& world, const std::string& out) {
  TinyMlp model(100 + world.rank());
  torch::save(Snapshot(*model),
              absl::StrCat(out, "/before_", world.rank(), ".pt"));
  absl::StatusOr<std::unique_ptr<DataParallel>> ddp =
      DataParallel::Create(*model, world);
  if (!ddp.ok()) return ddp.status();
  torch::save(Snapshot(*model),
              absl::StrCat(out, "/after_", world.rank(), ".pt"));
  return absl::OkStatus();
}

// Each rank owns rows of a global embedding matrix; the loss is a CLIP-style
// cross-entropy of the local rows against all gathered rows. The test
// computes the same total loss in one process over the whole matrix.
absl::Status RunGather(const World& world, const std::string& out) {
  constexpr int kRows = 3;
  torch::manual_seed(7);
  torch::Tensor global = torch::randn({kRows * world.world_size(), 5});
  torch::Tensor local =
      global.narrow(0, world.rank() * kRows, kRows).clone().requires_grad_();
  absl::StatusOr<torch::Tensor> gathered = AllGather(world, local);
  if (!gathered.ok()) return gathered.status();
  torch::Tensor logits = local.matmul(gathered->t());
  torch::Tensor labels =
      torch::arange(world.rank() * kRows, (world.rank() + 1) * kRows);
  torch::Tensor loss = torch::nn::functional::cross_entropy(
      logits, labels,
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  loss.backward();
  absl::StatusOr<std::vector<double>> sums = AllReduceScalars(
      world, {loss.item<double>(), static_cast<double>(world.rank() + 1)});
  if (!sums.ok()) return sums.status();
  absl::StatusOr<std::vector<double>> maxima = AllReduceScalars(
      world, {static_cast<double>(world.rank())}, Reduction::kMax);
  if (!maxima.ok()) return maxima.status();
  torch::save(
      std::vector<torch::Tensor>{gathered->detach(), local.grad(),
                                 torch::tensor(*sums, torch::kFloat64),
                                 torch::tensor(*maxima, torch::kFloat64)},
      absl::StrCat(out, "/gather_", world.rank(), ".pt"));
  return absl::OkStatus();
}

absl::Status RunMismatch(const World& world) {
  torch::nn::Linear model(4, world.rank() == 0 ? 4 : 5);
  return DataParallel::Create(*model, world).status();
}

int Main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODE OUT_DIR [OPTIMIZER MICRO]\n", argv[0]);
    return 2;
  }
  torch::set_num_threads(1);  // Two ranks share two cores.
  const std::string mode = argv[1];
  const std::string out = argv[2];
  absl::StatusOr<RendezvousOptions> options = RendezvousOptionsFromEnv();
  if (!options.ok()) {
    std::fprintf(stderr, "%s\n", options.status().ToString().c_str());
    return 1;
  }
  options->timeout = absl::Seconds(60);
  absl::StatusOr<World> world = Rendezvous(*options);
  if (!world.ok()) {
    std::fprintf(stderr, "%s\n", world.status().ToString().c_str());
    return 1;
  }
  absl::Status status;
  if (mode == "train") {
    status = RunTrain(*world, out, argc, argv);
  } else if (mode == "init") {
    status = RunInit(*world, out);
  } else if (mode == "gather") {
    status = RunGather(*world, out);
  } else if (mode == "mismatch") {
    status = RunMismatch(*world);
    std::printf("%s\n", status.ToString().c_str());
    return status.code() == absl::StatusCode::kFailedPrecondition ? 0 : 1;
  } else {
    status = absl::InvalidArgumentError(absl::StrCat("unknown mode ", mode));
  }
  if (!status.ok()) {
    std::fprintf(stderr, "rank %d: %s\n", world->rank(),
                 status.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace iv::trainer::test

int main(int argc, char** argv) { return iv::trainer::test::Main(argc, argv); }
