#include "common/model/checkpoint/torch_checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/process/command.h"
#include "common/safetensors/safetensors.h"
#include "common/testing/temp_dir.h"

namespace iv::model {
namespace {

using Kind = PickleValue::Kind;

// Python's torch.save writes every file these tests read; see the script.
class TorchCheckpointTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::FreshTempDir("checkpoints"));
    script_ = new process::CommandResult(process::RunCommand(
        absl::StrCat("/usr/bin/python3 "
                     "common/model/checkpoint/testdata/make_checkpoints.py ",
                     *dir_, " 2>&1")));
    manifest_ = new nlohmann::json;
    if (script_->exit_code == 0) {
      std::ifstream(Path("manifest.json")) >> *manifest_;
    }
  }

  void SetUp() override {
    ASSERT_EQ(script_->exit_code, 0)
        << "make_checkpoints.py needs python3-torch:\n"
        << script_->output;
  }

  static std::string Path(const std::string& name) {
    return absl::StrCat(*dir_, "/", name);
  }

  static const PickleValue& Get(const PickleValue& value,
                                const std::string& key) {
    const PickleValue* found = value.Find(key);
    EXPECT_NE(found, nullptr) << key;
    static const PickleValue kNone;
    return found != nullptr ? *found : kNone;
  }

  static std::string* dir_;
  static process::CommandResult* script_;
  static nlohmann::json* manifest_;
};

std::string* TorchCheckpointTest::dir_;
process::CommandResult* TorchCheckpointTest::script_;
nlohmann::json* TorchCheckpointTest::manifest_;

void ExpectSameWeights(const std::string& file, const nlohmann::json& expected,
                       const TensorFile& reference,
                       const NamedTensors& weights) {
  ASSERT_EQ(weights.size(), reference.tensors.size()) << file;
  for (size_t i = 0; i < weights.size(); ++i) {
    const auto& [name, tensor] = weights[i];
    const auto& [reference_name, reference_tensor] = reference.tensors[i];
    SCOPED_TRACE(absl::StrCat(file, " ", name));
    EXPECT_EQ(name, reference_name) << "state_dict order";
    EXPECT_EQ(tensor.scalar_type(), reference_tensor.scalar_type());
    EXPECT_EQ(tensor.sizes(), reference_tensor.sizes());
    EXPECT_TRUE(torch::equal(tensor, reference_tensor));
    EXPECT_EQ(tensor.strides().vec(),
              expected["strides"][name].get<std::vector<int64_t>>());
    EXPECT_EQ(tensor.storage_offset(), expected["offsets"][name].get<int>());
    EXPECT_TRUE(tensor.device().is_cpu());
    EXPECT_FALSE(tensor.requires_grad());
  }
}

TEST_F(TorchCheckpointTest, ReadsEveryLayoutAsTorchSaveWroteIt) {
  ASSERT_EQ(manifest_->size(), 9u);
  for (const auto& [file, expected] : manifest_->items()) {
    absl::StatusOr<TorchCheckpoint> checkpoint =
        ReadTorchCheckpointWithInfo(Path(file));
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
    EXPECT_EQ(checkpoint->weights_key, expected["weights_key"]) << file;
    std::vector<std::string> other_keys;
    for (const auto& [key, description] : checkpoint->other_entries) {
      other_keys.push_back(key);
    }
    EXPECT_EQ(other_keys,
              expected["other_keys"].get<std::vector<std::string>>())
        << file;
    absl::StatusOr<TensorFile> reference =
        ReadSafetensors(Path(expected["expected"]));
    ASSERT_TRUE(reference.ok()) << reference.status();
    ExpectSameWeights(file, expected, *reference, checkpoint->weights);
  }
}

TEST_F(TorchCheckpointTest, ViewsShareTheirStorageAsInPython) {
  for (const std::string file : {"dtypes.pth", "legacy.pth"}) {
    absl::StatusOr<NamedTensors> weights = ReadTorchCheckpoint(Path(file));
    ASSERT_TRUE(weights.ok()) << weights.status();
    std::map<std::string, torch::Tensor> by_name(weights->begin(),
                                                 weights->end());
    const auto& groups = (*manifest_)[file]["shared"];
    ASSERT_EQ(groups.size(), 1u) << "base and its views";
    for (const std::string name : groups[0]) {
      EXPECT_TRUE(by_name[name].is_alias_of(by_name["base"])) << name;
    }
    EXPECT_FALSE(by_name["f32"].is_alias_of(by_name["base"]));
    // Writing through one view shows in the others, as in PyTorch.
    by_name["base"].index_put_({1, 2}, -1.0f);
    EXPECT_EQ(by_name["slice"][0][0].item<float>(), -1.0f);
    EXPECT_EQ(by_name["transposed"][2][1].item<float>(), -1.0f);
  }
}

TEST_F(TorchCheckpointTest, DescribesWhatElseTheCheckpointHolds) {
  absl::StatusOr<TorchCheckpoint> finetune =
      ReadTorchCheckpointWithInfo(Path("videomae_finetune.pth"));
  ASSERT_TRUE(finetune.ok()) << finetune.status();
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"optimizer", "dict of 2"},
      {"epoch", "799"},
      {"scaler", "dict of 2"},
      {"args", "argparse.Namespace object"}};
  EXPECT_EQ(finetune->other_entries, expected);
  // The training arguments stay readable though Namespace never ran.
  const PickleValue& args = Get(*finetune->root, "args");
  EXPECT_EQ(Get(args, "nb_classes").integer, 400);
  EXPECT_EQ(Get(args, "model").text, "vit_base_patch16_224");
  EXPECT_DOUBLE_EQ(Get(args, "layer_decay").real, 0.75);
  EXPECT_EQ(DescribePickleValue(Get(args, "data_path")),
            "pathlib.PosixPath object");
  const PickleValue& adam = Get(Get(*finetune->root, "optimizer"), "state");
  ASSERT_EQ(adam.entries.size(), 2u);
  EXPECT_EQ(adam.entries[1].first->integer, 1);
  EXPECT_EQ(DescribePickleValue(Get(*adam.entries[0].second, "exp_avg")),
            "float32 tensor [8, 3, 2, 16, 16]");

  absl::StatusOr<TorchCheckpoint> lightning =
      ReadTorchCheckpointWithInfo(Path("internvideo_mm.ckpt"));
  ASSERT_TRUE(lightning.ok()) << lightning.status();
  const PickleValue& hyper = Get(*lightning->root, "hyper_parameters");
  EXPECT_EQ(DescribePickleValue(hyper), "__main__.AttributeDict object");
  EXPECT_EQ(Get(hyper, "backbone").text, "ViT-B/16");
  EXPECT_EQ(DescribePickleValue(Get(hyper, "temperature")),
            "numpy.core.multiarray.scalar object");
  EXPECT_EQ(DescribePickleValue(Get(hyper, "splits")), "builtins.set object");
  EXPECT_EQ(DescribePickleValue(Get(*lightning->root, "global_step")), "1000");
  EXPECT_EQ(
      DescribePickleValue(Get(*lightning->root, "pytorch-lightning_version")),
      "'1.5.10'");
}

TEST_F(TorchCheckpointTest, ReadsProtocolFourValues) {
  absl::StatusOr<TorchCheckpoint> checkpoint =
      ReadTorchCheckpointWithInfo(Path("protocol4.pth"));
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  const PickleValue& extras = Get(*checkpoint->root, "extras");
  EXPECT_EQ(Get(extras, "bytes").kind, Kind::kBytes);
  EXPECT_EQ(Get(extras, "bytes").text, std::string("\x00\xff", 2));
  EXPECT_EQ(Get(extras, "set").kind, Kind::kSet);
  EXPECT_EQ(Get(extras, "set").items.size(), 2u);
  EXPECT_EQ(Get(extras, "frozen").kind, Kind::kSet);
  EXPECT_EQ(Get(extras, "big").kind, Kind::kBigInt);
  EXPECT_EQ(Get(extras, "negative").integer, -(int64_t{1} << 40));
  EXPECT_EQ(Get(extras, "text").text, "\u00e9t\u00e9");
}

TEST_F(TorchCheckpointTest, PrefixesAreReplacedOrStripped) {
  absl::StatusOr<NamedTensors> deepspeed =
      ReadTorchCheckpoint(Path("deepspeed_module.pth"));
  absl::StatusOr<NamedTensors> finetune =
      ReadTorchCheckpoint(Path("videomae_finetune.pth"));
  ASSERT_TRUE(deepspeed.ok() && finetune.ok());
  ASSERT_TRUE(ReplacePrefix("backbone.", "", &*deepspeed).ok());
  for (size_t i = 0; i < deepspeed->size(); ++i) {
    EXPECT_EQ((*deepspeed)[i].first, (*finetune)[i].first);
  }
  ASSERT_TRUE(ReplacePrefix("blocks.", "encoder.blocks.", &*deepspeed).ok());
  EXPECT_EQ((*deepspeed)[2].first, "encoder.blocks.0.norm1.weight");
  EXPECT_EQ((*deepspeed)[0].first, "patch_embed.proj.weight");

  NamedTensors clash = {{"a", torch::ones(1)}, {"module.a", torch::zeros(1)}};
  const absl::Status status = ReplacePrefix("module.", "", &clash);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(clash[1].first, "module.a") << "left as it was";
}

TEST_F(TorchCheckpointTest, NeverRunsWhatThePickleNames) {
  absl::StatusOr<TorchCheckpoint> evil =
      ReadTorchCheckpointWithInfo(Path("evil.pth"));
  ASSERT_TRUE(evil.ok()) << evil.status();
  EXPECT_EQ(evil->weights.size(), 1u);
  ASSERT_EQ(evil->other_entries.size(), 1u);
  EXPECT_EQ(evil->other_entries[0].second, "posix.system object");
  const PickleValue& call = Get(*evil->root, "hook");
  ASSERT_NE(call.args, nullptr);
  EXPECT_TRUE(absl::StrContains(call.args->items[0]->text, "touch"));

  absl::StatusOr<NamedTensors> weights =
      ReadTorchCheckpoint(Path("evil_weights.pth"));
  EXPECT_EQ(weights.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(weights.status().message(),
                                "'hook' = posix.system object, not a tensor"))
      << weights.status();
  EXPECT_FALSE(std::filesystem::exists(Path("pwned")));
}

TEST_F(TorchCheckpointTest, DamagedFilesAreErrorsNamingFileAndProblem) {
  std::filesystem::create_directories(Path("a_directory"));
  const struct {
    const char* file;
    absl::StatusCode code;
    const char* problem;
  } kCases[] = {
      {"missing.pth", absl::StatusCode::kNotFound, "no such file"},
      {"a_directory", absl::StatusCode::kInvalidArgument, "not a readable"},
      {"empty.pth", absl::StatusCode::kDataLoss, "empty file"},
      {"garbage.pth", absl::StatusCode::kDataLoss, "not a PyTorch checkpoint"},
      {"garbage_zip.pth", absl::StatusCode::kDataLoss, "central directory"},
      {"truncated.pth", absl::StatusCode::kDataLoss, "central directory"},
      {"truncated_end.pth", absl::StatusCode::kDataLoss, "central directory"},
      {"no_data_pkl.pth", absl::StatusCode::kDataLoss, "no data.pkl"},
      {"bad_storage_key.pth", absl::StatusCode::kDataLoss,
       "data.pkl: no record data/0 for a storage"},
      {"short_storage.pth", absl::StatusCode::kDataLoss,
       "record data/0 has 24576 bytes; its storage needs 49152"},
      {"corrupt_pickle.pth", absl::StatusCode::kDataLoss, "data.pkl: byte"},
      {"compressed.pth", absl::StatusCode::kInvalidArgument, "compressed"},
      {"big_endian.pth", absl::StatusCode::kInvalidArgument,
       "byte order 'big'"},
      {"legacy_truncated.pth", absl::StatusCode::kDataLoss, "ends early"},
      {"torchscript.pt", absl::StatusCode::kInvalidArgument, "TorchScript"},
      {"huge_storage.pth", absl::StatusCode::kDataLoss,
       "storage data/0 of 1099511627776 elements is larger than what the "
       "file can hold"},
      {"huge_storage_legacy.pth", absl::StatusCode::kDataLoss,
       "storage '0' of 1099511627776 elements is larger than"},
  };
  for (const auto& c : kCases) {
    const std::string path = Path(c.file);
    absl::StatusOr<NamedTensors> weights = ReadTorchCheckpoint(path);
    EXPECT_EQ(weights.status().code(), c.code) << weights.status();
    EXPECT_TRUE(absl::StartsWith(weights.status().message(), path + ": "))
        << weights.status();
    EXPECT_TRUE(absl::StrContains(weights.status().message(), c.problem))
        << weights.status();
  }
}

TEST_F(TorchCheckpointTest, EveryTruncationOfAFileIsAnError) {
  for (const std::string file : {"dtypes.pth", "legacy.pth"}) {
    std::ifstream in(Path(file), std::ios::binary);
    const std::string whole((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    const std::string path = Path("cut.pth");
    for (size_t size = 0; size < whole.size(); size += 37) {
      std::ofstream(path, std::ios::binary) << whole.substr(0, size);
      EXPECT_FALSE(ReadTorchCheckpoint(path).ok()) << file << " " << size;
    }
  }
}

}  // namespace
}  // namespace iv::model
