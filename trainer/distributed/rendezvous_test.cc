#include "trainer/distributed/rendezvous.h"

#include <torch/torch.h>

#include <cstdlib>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/distributed/collectives.h"
#include "trainer/distributed/testing/tiny_training.h"

namespace iv::trainer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Each test sets exactly the torchrun variables it means.
class RendezvousEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                             "MASTER_PORT", "GLOO_SOCKET_IFNAME"}) {
      unsetenv(name);
    }
  }
  void TearDown() override { SetUp(); }
};

TEST_F(RendezvousEnvTest, NoVariablesMeansOneProcess) {
  absl::StatusOr<RendezvousOptions> options = RendezvousOptionsFromEnv();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->rank, 0);
  EXPECT_EQ(options->world_size, 1);
}

TEST_F(RendezvousEnvTest, ReadsTorchrunVariables) {
  setenv("RANK", "3", 1);
  setenv("WORLD_SIZE", "4", 1);
  setenv("LOCAL_RANK", "1", 1);
  setenv("MASTER_ADDR", "10.0.0.7", 1);
  setenv("MASTER_PORT", "29400", 1);
  absl::StatusOr<RendezvousOptions> options = RendezvousOptionsFromEnv();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->rank, 3);
  EXPECT_EQ(options->world_size, 4);
  EXPECT_EQ(options->local_rank, 1);
  EXPECT_EQ(options->master_addr, "10.0.0.7");
  EXPECT_EQ(options->master_port, 29400);
}

TEST_F(RendezvousEnvTest, RankOutOfRangeIsAClearError) {
  setenv("RANK", "2", 1);
  setenv("WORLD_SIZE", "2", 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", "29400", 1);
  absl::StatusOr<RendezvousOptions> options = RendezvousOptionsFromEnv();
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(options.status().message(),
              HasSubstr("RANK=2 is out of range for WORLD_SIZE=2"));
}

TEST_F(RendezvousEnvTest, NonNumericRankIsAClearError) {
  setenv("RANK", "first", 1);
  absl::StatusOr<RendezvousOptions> options = RendezvousOptionsFromEnv();
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(options.status().message(),
              HasSubstr("RANK='first' is not an integer"));
}

TEST_F(RendezvousEnvTest, SeveralRanksNeedTheMaster) {
  setenv("RANK", "0", 1);
  setenv("WORLD_SIZE", "2", 1);
  absl::StatusOr<RendezvousOptions> options = RendezvousOptionsFromEnv();
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(options.status().message(), HasSubstr("MASTER_ADDR"));
}

TEST(RendezvousTest, RejectsInconsistentOptions) {
  RendezvousOptions options;
  options.rank = -1;
  EXPECT_EQ(Rendezvous(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.rank = 0;
  options.world_size = 2;
  options.master_port = 70000;
  EXPECT_THAT(Rendezvous(options).status().message(),
              HasSubstr("MASTER_PORT=70000"));
}

TEST(RendezvousTest, NcclNeedsANcclBuild) {
  RendezvousOptions options;
  options.backend = CommBackend::kNccl;
  absl::StatusOr<World> world = Rendezvous(options);
#ifdef USE_C10D_NCCL
  GTEST_SKIP() << "this LibTorch has NCCL";
#endif
  EXPECT_EQ(world.status().code(), absl::StatusCode::kUnimplemented);
}

TEST(RendezvousTest, UnreachableMasterTimesOutWithTheAddress) {
  RendezvousOptions options;
  options.rank = 1;
  options.world_size = 2;
  options.master_port = test::FreeLoopbackPort();  // Nobody serves it.
  options.timeout = absl::Seconds(1);
  const absl::Time start = absl::Now();
  absl::StatusOr<World> world = Rendezvous(options);
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  ASSERT_FALSE(world.ok());
  EXPECT_THAT(world.status().code(),
              ::testing::AnyOf(absl::StatusCode::kDeadlineExceeded,
                               absl::StatusCode::kUnavailable));
  EXPECT_THAT(world.status().message(),
              HasSubstr(absl::StrCat("rank 1 could not reach the rendezvous "
                                     "store at 127.0.0.1:",
                                     options.master_port)));
}

TEST(RendezvousTest, WorldOfOneNeedsNoNetwork) {
  absl::StatusOr<World> world = Rendezvous(RendezvousOptions());
  ASSERT_TRUE(world.ok()) << world.status();
  EXPECT_EQ(world->world_size(), 1);
  EXPECT_TRUE(world->is_main());
  EXPECT_TRUE(world->Barrier().ok());

  absl::StatusOr<std::vector<double>> sums =
      AllReduceScalars(*world, {1.5, -2.0}, Reduction::kMean);
  ASSERT_TRUE(sums.ok()) << sums.status();
  EXPECT_THAT(*sums, ElementsAre(1.5, -2.0));

  torch::Tensor local = torch::randn({2, 3}, torch::requires_grad());
  absl::StatusOr<torch::Tensor> gathered = AllGather(*world, local);
  ASSERT_TRUE(gathered.ok()) << gathered.status();
  EXPECT_TRUE(torch::equal(*gathered, local));
  (*gathered * 3).sum().backward();
  EXPECT_TRUE(torch::allclose(local.grad(), torch::full({2, 3}, 3.0)));
}

}  // namespace
}  // namespace iv::trainer
