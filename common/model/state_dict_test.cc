#include "common/model/state_dict.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace iv::model {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

// Two Linear layers and a buffer: names "fc.weight", "fc.bias", "out.weight",
// "running".
struct Net : torch::nn::Module {
  Net() {
    fc = register_module("fc", torch::nn::Linear(3, 4));
    out = register_module(
        "out", torch::nn::Linear(torch::nn::LinearOptions(4, 2).bias(false)));
    running = register_buffer("running", torch::zeros({2}));
  }
  torch::nn::Linear fc{nullptr};
  torch::nn::Linear out{nullptr};
  torch::Tensor running;
};

NamedTensors Weights() {
  return {{"fc.weight", torch::full({4, 3}, 1.0)},
          {"fc.bias", torch::full({4}, 2.0)},
          {"out.weight", torch::full({2, 4}, 3.0, torch::kFloat64)},
          {"running", torch::full({2}, 4.0)}};
}

TEST(StateDictTest, LoadsEveryTensorByName) {
  Net net;
  absl::StatusOr<LoadReport> report = LoadStateDict(net, Weights());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->missing.empty());
  EXPECT_TRUE(report->unexpected.empty());
  EXPECT_TRUE(torch::equal(net.fc->bias, torch::full({4}, 2.0)));
  // float64 checkpoint values land in the float32 parameter.
  EXPECT_EQ(net.out->weight.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(net.out->weight, torch::full({2, 4}, 3.0)));
  EXPECT_TRUE(torch::equal(net.running, torch::full({2}, 4.0)));
}

TEST(StateDictTest, RoundTripsThroughStateDict) {
  Net source;
  Net target;
  ASSERT_TRUE(LoadStateDict(target, StateDict(source)).ok());
  EXPECT_TRUE(torch::equal(target.fc->weight, source.fc->weight));
  std::vector<std::string> names;
  for (const auto& [name, tensor] : StateDict(source)) names.push_back(name);
  EXPECT_THAT(names,
              ElementsAre("fc.weight", "fc.bias", "out.weight", "running"));
}

TEST(StateDictTest, ReportsEveryProblemAndChangesNothing) {
  Net net;
  const torch::Tensor before = net.fc->weight.clone();
  NamedTensors tensors = Weights();
  tensors.erase(tensors.begin() + 1);                   // fc.bias missing
  tensors.push_back({"head.weight", torch::zeros(1)});  // unexpected
  tensors[0].second = torch::zeros({4, 5});             // wrong shape
  absl::StatusOr<LoadReport> report = LoadStateDict(net, tensors);
  ASSERT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(report.status().message(),
            "state dict does not fit the model: 1 missing (fc.bias); 1 "
            "unexpected (head.weight); 1 of the wrong shape (fc.weight: "
            "checkpoint [4, 5], model [4, 3])");
  EXPECT_TRUE(torch::equal(net.fc->weight, before));
}

TEST(StateDictTest, AllowsMissingAndUnexpectedWhenAsked) {
  Net net;
  NamedTensors tensors = Weights();
  tensors.erase(tensors.begin());
  tensors.push_back({"decoder.head.weight", torch::zeros(1)});
  LoadOptions options;
  options.allow_missing = true;
  options.allow_unexpected = true;
  absl::StatusOr<LoadReport> report = LoadStateDict(net, tensors, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->missing, ElementsAre("fc.weight"));
  EXPECT_THAT(report->unexpected, ElementsAre("decoder.head.weight"));
  EXPECT_TRUE(torch::equal(net.fc->bias, torch::full({4}, 2.0)));
}

TEST(StateDictTest, RejectsDuplicatesAndShortensLongLists) {
  Net net;
  NamedTensors tensors = Weights();
  tensors.push_back(tensors[1]);
  for (int i = 0; i < 10; ++i) {
    tensors.push_back({"extra." + std::to_string(i), torch::zeros(1)});
  }
  absl::StatusOr<LoadReport> report = LoadStateDict(net, tensors);
  EXPECT_THAT(report.status().message(), HasSubstr("duplicate tensor fc.bias"));
  EXPECT_THAT(report.status().message(),
              HasSubstr("10 unexpected (extra.0, extra.1, extra.2, extra.3, "
                        "extra.4, extra.5, extra.6, extra.7, and 2 more)"));
}

}  // namespace
}  // namespace iv::model
