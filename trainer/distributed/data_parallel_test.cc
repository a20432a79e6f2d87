#include "trainer/distributed/data_parallel.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/process/command.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/distributed/rendezvous.h"
#include "trainer/distributed/testing/tiny_training.h"

namespace iv::trainer {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<torch::Tensor> Load(const std::string& path) {
  std::vector<torch::Tensor> tensors;
  torch::load(tensors, path);
  return tensors;
}

// Starts the worker as ranks 0 and 1 of a two-process job over loopback,
// with torchrun's variables, and waits for both.
struct TwoRanks {
  int exit_codes[2] = {-1, -1};
  std::string logs[2];
  bool ok() const { return exit_codes[0] == 0 && exit_codes[1] == 0; }
  std::string Describe() const {
    return absl::StrCat("rank 0 exited ", exit_codes[0], ":\n", logs[0],
                        "\nrank 1 exited ", exit_codes[1], ":\n", logs[1]);
  }
};

TwoRanks RunTwoRanks(const std::string& arguments, const std::string& out) {
  const std::string worker = "trainer/distributed/distributed_test_worker";
  const std::string env = absl::StrCat(
      "MASTER_ADDR=127.0.0.1 MASTER_PORT=", test::FreeLoopbackPort(),
      " WORLD_SIZE=2");
  const std::string command = absl::StrCat(
      env, " RANK=0 LOCAL_RANK=0 timeout 300 ", worker, " ", arguments, " >",
      out, "/rank0.log 2>&1 & pid=$!; ", env,
      " RANK=1 LOCAL_RANK=1 timeout 300 ", worker, " ", arguments, " >", out,
      "/rank1.log 2>&1; b=$?; wait $pid; a=$?; echo $a $b");
  process::CommandResult result = process::RunCommand(command);
  TwoRanks ranks;
  std::istringstream codes(result.output);
  codes >> ranks.exit_codes[0] >> ranks.exit_codes[1];
  ranks.logs[0] = ReadFile(out + "/rank0.log");
  ranks.logs[1] = ReadFile(out + "/rank1.log");
  return ranks;
}

struct TrainCase {
  std::string optimizer;
  int micro_batches;
};

class TwoRanksTrainTest : public ::testing::TestWithParam<TrainCase> {};

// The core promise of data parallelism: two ranks on half a batch each end
// where one process on the whole batch ends, and agree with each other.
TEST_P(TwoRanksTrainTest, MatchesOneProcessOnTheGlobalBatch) {
  const TrainCase& train_case = GetParam();
  const std::string out = iv::test::FreshTempDir(
      absl::StrCat("train_", train_case.optimizer, train_case.micro_batches));
  TwoRanks ranks =
      RunTwoRanks(absl::StrCat("train ", out, " ", train_case.optimizer, " ",
                               train_case.micro_batches),
                  out);
  ASSERT_TRUE(ranks.ok()) << ranks.Describe();

  absl::StatusOr<World> alone = Rendezvous(RendezvousOptions());
  ASSERT_TRUE(alone.ok()) << alone.status();
  test::TrainConfig config;
  config.optimizer = train_case.optimizer;
  absl::StatusOr<test::TrainResult> reference = test::Train(*alone, config);
  ASSERT_TRUE(reference.ok()) << reference.status();

  std::vector<torch::Tensor> rank0 = Load(out + "/params_0.pt");
  std::vector<torch::Tensor> rank1 = Load(out + "/params_1.pt");
  ASSERT_EQ(rank0.size(), reference->parameters.size());
  ASSERT_EQ(rank1.size(), reference->parameters.size());
  double max_difference = 0;
  for (size_t i = 0; i < rank0.size(); ++i) {
    // Both ranks apply the same averaged gradient: bitwise equal.
    EXPECT_TRUE(torch::equal(rank0[i], rank1[i])) << "parameter " << i;
    const double difference =
        (rank0[i] - reference->parameters[i]).abs().max().item<double>();
    EXPECT_LT(difference, 1e-6) << "parameter " << i;
    max_difference = std::max(max_difference, difference);
  }
  // The never-used layer stayed at rank 0's initial values, as in one
  // process (find_unused_parameters leaves it without a gradient).
  std::istringstream stats(ReadFile(out + "/stats_0.txt"));
  int buckets = 0, launched = 0, during_backward = 0, local_unused = 0,
      global_unused = 0;
  stats >> buckets >> launched >> during_backward >> local_unused >>
      global_unused;
  EXPECT_GT(buckets, 2);
  EXPECT_EQ(launched, buckets);
  EXPECT_EQ(global_unused, 2);
  // Overlap: buckets were all-reduced while backward still had gradients to
  // compute, not all at the end.
  EXPECT_GE(during_backward, 1);
  std::printf(
      "%d buckets, %d launched during backward; largest difference to one "
      "process %.3g\n",
      buckets, during_backward, max_difference);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, TwoRanksTrainTest,
                         ::testing::Values(TrainCase{"adamw", 1},
                                           TrainCase{"sgd", 1},
                                           TrainCase{"adamw", 2}),
                         [](const ::testing::TestParamInfo<TrainCase>& info) {
                           return absl::StrCat(info.param.optimizer, "_micro",
                                               info.param.micro_batches);
                         });

TEST(TwoRanksTest, ConstructionBroadcastsRankZerosState) {
  const std::string out = iv::test::FreshTempDir("init");
  TwoRanks ranks = RunTwoRanks(absl::StrCat("init ", out), out);
  ASSERT_TRUE(ranks.ok()) << ranks.Describe();
  std::vector<torch::Tensor> before0 = Load(out + "/before_0.pt");
  std::vector<torch::Tensor> before1 = Load(out + "/before_1.pt");
  std::vector<torch::Tensor> after0 = Load(out + "/after_0.pt");
  std::vector<torch::Tensor> after1 = Load(out + "/after_1.pt");
  ASSERT_EQ(before0.size(), after1.size());
  for (size_t i = 0; i < before0.size(); ++i) {  // Parameters and buffer.
    EXPECT_FALSE(torch::equal(before0[i], before1[i])) << "tensor " << i;
    EXPECT_TRUE(torch::equal(after0[i], before0[i])) << "tensor " << i;
    EXPECT_TRUE(torch::equal(after1[i], before0[i])) << "tensor " << i;
  }
}

TEST(TwoRanksTest, AllGatherGradientMatchesOneProcess) {
  const std::string out = iv::test::FreshTempDir("gather");
  TwoRanks ranks = RunTwoRanks(absl::StrCat("gather ", out), out);
  ASSERT_TRUE(ranks.ok()) << ranks.Describe();

  // The worker's loss, summed over ranks, in one process: each row is
  // classified against every row of the global batch.
  constexpr int kRows = 3;
  torch::manual_seed(7);
  torch::Tensor global = torch::randn({2 * kRows, 5}).requires_grad_();
  torch::Tensor loss = torch::nn::functional::cross_entropy(
      global.matmul(global.t()), torch::arange(2 * kRows),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  loss.backward();

  for (int rank = 0; rank < 2; ++rank) {
    std::vector<torch::Tensor> result =
        Load(absl::StrCat(out, "/gather_", rank, ".pt"));
    ASSERT_EQ(result.size(), 4u);
    EXPECT_TRUE(torch::equal(result[0], global.detach()));
    torch::Tensor expected_grad = global.grad().narrow(0, rank * kRows, kRows);
    EXPECT_TRUE(torch::allclose(result[1], expected_grad, 1e-5, 1e-6))
        << result[1] << "\n"
        << expected_grad;
    // Metrics: the summed loss, the sum of rank + 1, the maximum rank.
    EXPECT_NEAR(result[2][0].item<double>(), loss.item<double>(), 1e-4);
    EXPECT_EQ(result[2][1].item<double>(), 3.0);
    EXPECT_EQ(result[3][0].item<double>(), 1.0);
  }
}

TEST(TwoRanksTest, DifferentModelsAreAClearError) {
  const std::string out = iv::test::FreshTempDir("mismatch");
  TwoRanks ranks = RunTwoRanks(absl::StrCat("mismatch ", out), out);
  ASSERT_TRUE(ranks.ok()) << ranks.Describe();
  for (const std::string& log : ranks.logs) {
    EXPECT_THAT(log, HasSubstr("FAILED_PRECONDITION: rank 1 has 2 trainable "
                               "parameters with 25 elements, rank 0 has 2 "
                               "with 20"));
  }
}

// One process: averaging over a world of one is the identity, so .grad must
// be exactly what plain autograd gives.
class OneRankTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<World> world = Rendezvous(RendezvousOptions());
    ASSERT_TRUE(world.ok()) << world.status();
    world_ = std::make_unique<World>(*std::move(world));
    torch::manual_seed(3);
    model_ = torch::nn::Linear(6, 3);
    input_ = torch::randn({4, 6});
  }

  torch::Tensor Loss() { return model_(input_).pow(2).sum(); }

  std::unique_ptr<World> world_;
  torch::nn::Linear model_{nullptr};
  torch::Tensor input_;
};

TEST_F(OneRankTest, GradientsAreThoseOfAutograd) {
  Loss().backward();
  torch::Tensor plain = model_->weight.grad().clone();
  model_->zero_grad();
  DataParallelOptions options;
  options.bucket_cap_bytes = 16;  // One bucket per parameter.
  absl::StatusOr<std::unique_ptr<DataParallel>> ddp =
      DataParallel::Create(*model_, *world_, options);
  ASSERT_TRUE(ddp.ok()) << ddp.status();
  EXPECT_EQ((*ddp)->num_buckets(), 2);
  Loss().backward();
  ASSERT_TRUE((*ddp)->FinishGradientSync().ok());
  EXPECT_TRUE(torch::equal(model_->weight.grad(), plain));
  EXPECT_EQ((*ddp)->last_sync_stats().buckets, 2);
}

TEST_F(OneRankTest, NoSyncAccumulatesAndTheNextBackwardSyncsTheSum) {
  absl::StatusOr<std::unique_ptr<DataParallel>> ddp =
      DataParallel::Create(*model_, *world_);
  ASSERT_TRUE(ddp.ok()) << ddp.status();
  {
    auto no_sync = (*ddp)->NoSync();
    Loss().backward();
  }
  torch::Tensor once = model_->weight.grad().clone();
  Loss().backward();
  ASSERT_TRUE((*ddp)->FinishGradientSync().ok());
  EXPECT_TRUE(torch::allclose(model_->weight.grad(), 2 * once));
}

TEST_F(OneRankTest, BackwardTwiceWithoutFinishIsAnError) {
  absl::StatusOr<std::unique_ptr<DataParallel>> ddp =
      DataParallel::Create(*model_, *world_);
  ASSERT_TRUE(ddp.ok()) << ddp.status();
  Loss().backward();
  Loss().backward();
  absl::Status status = (*ddp)->FinishGradientSync();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("NoSync"));
  // The next step starts clean.
  model_->zero_grad();
  Loss().backward();
  EXPECT_TRUE((*ddp)->FinishGradientSync().ok());
}

TEST_F(OneRankTest, ParametersWithoutGradientAreZeroFilled) {
  absl::StatusOr<std::unique_ptr<DataParallel>> ddp =
      DataParallel::Create(*model_, *world_);
  ASSERT_TRUE(ddp.ok()) << ddp.status();
  // Only the bias takes part: the weight's bucket is completed by Finish.
  model_->bias.sum().backward();
  ASSERT_TRUE((*ddp)->FinishGradientSync().ok());
  EXPECT_EQ((*ddp)->last_sync_stats().locally_unused_parameters, 1);
  EXPECT_TRUE(
      torch::equal(model_->weight.grad(), torch::zeros_like(model_->weight)));
}

}  // namespace
}  // namespace iv::trainer
