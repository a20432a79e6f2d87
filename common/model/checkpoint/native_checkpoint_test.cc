#include "common/model/checkpoint/native_checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "common/files/atomic_file.h"
#include "common/safetensors/safetensors.h"
#include "common/testing/temp_dir.h"

namespace iv::model {
namespace {

NativeCheckpoint Example() {
  NativeCheckpoint checkpoint;
  checkpoint.arch = "videomae-vit-b16";
  checkpoint.config.set_name("example");
  checkpoint.config.mutable_masked_encoder()->set_embed_dim(64);
  checkpoint.weights = {{"head.weight", torch::randn({5, 64})},
                        {"head.bias", torch::randn({5})}};
  checkpoint.metadata[kSourceMetadata] = "/somewhere/checkpoint.pth";
  return checkpoint;
}

TEST(NativeCheckpointTest, RoundTrips) {
  const std::string dir = test::FreshTempDir("native") + "/model";
  EXPECT_FALSE(IsNativeCheckpoint(dir));
  const NativeCheckpoint written = Example();
  ASSERT_TRUE(WriteNativeCheckpoint(dir, written).ok());
  EXPECT_TRUE(IsNativeCheckpoint(dir));
  absl::StatusOr<NativeCheckpoint> read = ReadNativeCheckpoint(dir);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->arch, written.arch);
  EXPECT_EQ(read->config.DebugString(), written.config.DebugString());
  EXPECT_EQ(read->metadata, written.metadata);
  ASSERT_EQ(read->weights.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(read->weights[i].first, written.weights[i].first);
    EXPECT_TRUE(
        torch::equal(read->weights[i].second, written.weights[i].second));
  }
}

TEST(NativeCheckpointTest, ErrorsNameTheFile) {
  const std::string dir = test::FreshTempDir("native_errors");
  ASSERT_TRUE(WriteNativeCheckpoint(dir, Example()).ok());
  const std::string config = dir + "/" + kNativeConfigFile;
  ASSERT_TRUE(files::WriteFileAtomically(config, "name: {{{").ok());
  absl::StatusOr<NativeCheckpoint> read = ReadNativeCheckpoint(dir);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(read.status().message(), config))
      << read.status();

  ASSERT_TRUE(files::WriteFileAtomically(config, "name: \"x\"").ok());
  const std::string weights = dir + "/" + kNativeWeightsFile;
  std::filesystem::resize_file(weights, 20);
  read = ReadNativeCheckpoint(dir);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(read.status().message(), weights))
      << read.status();

  // Weights without their arch (written by something else).
  ASSERT_TRUE(WriteSafetensors(weights, TensorFile{}).ok());
  read = ReadNativeCheckpoint(dir);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(read.status().message(), "arch"))
      << read.status();

  EXPECT_FALSE(WriteNativeCheckpoint(dir, NativeCheckpoint{}).ok());
}

}  // namespace
}  // namespace iv::model
