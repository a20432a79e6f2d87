// The internvideo-mm arches (multimodal_arch.h): preset matching and config
// inference from shapes, and official files that
// testdata/make_multimodal_checkpoints.py writes, loaded through the Arch API
// and run against the independent Python reference's outputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/model/arch/arch.h"
#include "common/model/multimodal/clip_model.h"
#include "common/model/multimodal/config.h"
#include "common/model/reference_testing.h"
#include "common/model/state_dict.h"

namespace iv::model {
namespace {

constexpr double kTolerance = 1e-4;

MultimodalConfig Preset(const std::string& name) {
  internvideo::v1::MultimodalEncoderConfig proto;
  proto.set_preset(name);
  return *ResolveMultimodalConfig(proto);
}

// Shapes only (no values): the two weights Matches reads, as an official
// file of `config` has them.
NamedTensors MatchedShapes(const MultimodalConfig& config) {
  const int64_t p = config.vision.patch_size;
  return {
      {"visual.conv1.weight", torch::empty({config.vision.width, 3, 1, p, p})},
      {"token_embedding.weight",
       torch::empty({config.text.vocab_size, config.text.width})}};
}

TEST(MultimodalArchTest, PresetsMatchByWidthAndPatch) {
  const Arch& b16 = **FindArch("internvideo-mm-b16");
  const Arch& l14 = **FindArch("internvideo-mm-l14");
  const NamedTensors b16_shapes = MatchedShapes(Preset("b16"));
  const NamedTensors l14_shapes = MatchedShapes(Preset("l14"));
  EXPECT_TRUE(b16.Matches(b16_shapes));
  EXPECT_FALSE(l14.Matches(b16_shapes));
  EXPECT_TRUE(l14.Matches(l14_shapes));
  EXPECT_FALSE(b16.Matches(l14_shapes));
  for (const char* videomae : {"videomae-vit-b16", "videomae-vit-l16"}) {
    EXPECT_FALSE((*FindArch(videomae))->Matches(b16_shapes));
    EXPECT_FALSE((*FindArch(videomae))->Matches(l14_shapes));
  }
  // ViT-B/14 is neither; nor is a vision tower without the text tower.
  MultimodalConfig other = Preset("b16");
  other.vision.patch_size = 14;
  EXPECT_FALSE(b16.Matches(MatchedShapes(other)));
  EXPECT_FALSE(b16.Matches({b16_shapes[0]}));
}

// The project's tiny model (every dimension differs from b16's): its
// weights alone give back its config.
TEST(MultimodalArchTest, InfersTheConfigFromTheWeights) {
  const MultimodalConfig tiny = Preset("tiny");
  InternVideoClip model(tiny);
  const Arch& arch = **FindArch("internvideo-mm-b16");
  absl::StatusOr<internvideo::v1::ModelConfig> config =
      arch.InferConfig(StateDict(*model));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "internvideo-mm-b16");
  absl::StatusOr<MultimodalConfig> resolved =
      ResolveMultimodalConfig(config->multimodal_encoder());
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->embed_dim, tiny.embed_dim);
  EXPECT_EQ(resolved->vision.input_resolution, tiny.vision.input_resolution);
  EXPECT_EQ(resolved->vision.patch_size, tiny.vision.patch_size);
  EXPECT_EQ(resolved->vision.width, tiny.vision.width);
  EXPECT_EQ(resolved->vision.layers, tiny.vision.layers);
  EXPECT_EQ(resolved->vision.heads, tiny.vision.heads);
  EXPECT_EQ(resolved->vision.global_branch.n_layers,
            tiny.vision.global_branch.n_layers);
  EXPECT_EQ(resolved->vision.global_branch.return_list,
            tiny.vision.global_branch.return_list);
  EXPECT_EQ(resolved->vision.global_branch.n_head,
            tiny.vision.global_branch.n_head);
  EXPECT_EQ(resolved->vision.global_branch.mlp_factor,
            tiny.vision.global_branch.mlp_factor);
  EXPECT_EQ(resolved->text.context_length, tiny.text.context_length);
  EXPECT_EQ(resolved->text.vocab_size, tiny.text.vocab_size);
  EXPECT_EQ(resolved->text.width, tiny.text.width);
  EXPECT_EQ(resolved->text.heads, tiny.text.heads);
  EXPECT_EQ(resolved->text.layers, tiny.text.layers);
  EXPECT_FALSE(resolved->caption_decoder.has_value());

  // A width that is not a whole number of 64-channel heads.
  MultimodalConfig odd = tiny;
  odd.vision.width = 96;
  odd.vision.heads = 2;
  odd.vision.global_branch.n_head = 2;
  absl::StatusOr<internvideo::v1::ModelConfig> bad =
      arch.InferConfig(StateDict(*InternVideoClip(odd)));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "width 96"))
      << bad.status();
}

// Official files that make_multimodal_checkpoints.py writes, loaded through
// the Arch API and run against the Python reference's outputs.
class MultimodalReferenceTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    RunPythonReference(
        "common/model/arch/testdata/make_multimodal_checkpoints.py");
  }

  static std::string Path(const std::string& name) {
    return absl::StrCat(testing::TempDir(), "/", name);
  }

  static const Arch& B16() { return **FindArch("internvideo-mm-b16"); }

  static std::unique_ptr<LoadedModel> Load(const ArchCheckpoint& checkpoint) {
    absl::StatusOr<std::unique_ptr<LoadedModel>> loaded =
        checkpoint.arch->Load(checkpoint.config, checkpoint.weights);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return loaded.ok() ? *std::move(loaded) : nullptr;
  }

  static std::map<std::string, torch::Tensor> Inputs(const std::string& file) {
    const TensorFile input = ReadReferenceOutput(file);
    return {input.tensors.begin(), input.tensors.end()};
  }

  // Runs `model` on `input` and compares every output with `expected`.
  static void ExpectMatches(LoadedModel& model, const std::string& input,
                            const std::string& expected) {
    SCOPED_TRACE(expected);
    absl::StatusOr<NamedTensors> outputs = model.Forward(Inputs(input));
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    const TensorFile want = ReadReferenceOutput(expected);
    ASSERT_EQ(outputs->size(), want.tensors.size());
    for (const auto& [name, tensor] : *outputs) {
      EXPECT_LE(ReferenceError(want, name, tensor, expected), kTolerance)
          << name;
    }
  }
};

TEST_F(MultimodalReferenceTest, LightningCheckpointMatchesTheReference) {
  absl::StatusOr<ArchCheckpoint> checkpoint =
      ReadArchCheckpoint(Path("mm_lightning.ckpt"), B16());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  const auto& encoder = checkpoint->config.multimodal_encoder();
  EXPECT_EQ(encoder.embed_dim(), 32);
  EXPECT_EQ(encoder.vision().width(), 128);
  EXPECT_EQ(encoder.vision().heads(), 2);
  EXPECT_EQ(encoder.vision().patch_size(), 8);
  EXPECT_EQ(encoder.vision().input_resolution(), 32);
  EXPECT_EQ(encoder.vision().global_branch().n_layers(), 2);
  EXPECT_EQ(encoder.text().vocab_size(), 516);
  EXPECT_EQ(encoder.text().context_length(), 77);
  // The caption decoder is found and loaded; the other Lightning state is
  // dropped.
  EXPECT_EQ(encoder.caption_decoder().layers(), 1);
  EXPECT_EQ(encoder.caption_decoder().heads(), 2);
  for (const auto& [name, tensor] : checkpoint->weights) {
    EXPECT_FALSE(absl::StartsWith(name, "clip")) << name;
  }
  std::unique_ptr<LoadedModel> model = Load(*checkpoint);
  ASSERT_NE(model, nullptr);
  ExpectMatches(*model, "mm_input.safetensors", "mm.expected.safetensors");
  // Another frame count and batch, video only.
  ExpectMatches(*model, "mm_input_t3.safetensors",
                "mm_t3.expected.safetensors");
}

TEST_F(MultimodalReferenceTest, ModulePrefixIsDropped) {
  absl::StatusOr<ArchCheckpoint> checkpoint =
      ReadArchCheckpoint(Path("mm_module.pth"), B16());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_FALSE(checkpoint->config.multimodal_encoder().has_caption_decoder());
  std::unique_ptr<LoadedModel> model = Load(*checkpoint);
  ASSERT_NE(model, nullptr);
  ExpectMatches(*model, "mm_input.safetensors", "mm.expected.safetensors");
}

// An OpenAI CLIP file: renamed, conv1 inflated, and the absent global
// branch at its official initialization (the reference sets it so).
TEST_F(MultimodalReferenceTest, OpenAiClipFileMatchesTheReference) {
  absl::StatusOr<ArchCheckpoint> checkpoint =
      ReadArchCheckpoint(Path("mm_openai.pt"), B16());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  bool noted = false;
  for (const auto& [key, value] : checkpoint->details) {
    noted |= key == "initialized" && absl::StrContains(value, "dec.*") &&
             absl::StrContains(value, "text_mask_embedding");
  }
  EXPECT_TRUE(noted);
  EXPECT_EQ(checkpoint->config.multimodal_encoder()
                .vision()
                .global_branch()
                .n_layers(),
            2);
  std::unique_ptr<LoadedModel> model = Load(*checkpoint);
  ASSERT_NE(model, nullptr);
  ExpectMatches(*model, "mm_input.safetensors",
                "mm_openai.expected.safetensors");

  // Only the global branch and text_mask_embedding may be absent.
  NamedTensors lacking;
  for (const auto& entry : checkpoint->weights) {
    if (entry.first != "ln_final.weight") lacking.push_back(entry);
  }
  absl::StatusOr<std::unique_ptr<LoadedModel>> loaded =
      B16().Load(checkpoint->config, lacking);
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(absl::StrContains(loaded.status().message(),
                                "1 missing (ln_final.weight)"))
      << loaded.status();
}

TEST_F(MultimodalReferenceTest, MissingWeightsAreListed) {
  absl::StatusOr<ArchCheckpoint> checkpoint =
      ReadArchCheckpoint(Path("mm_missing.ckpt"), B16());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  absl::StatusOr<std::unique_ptr<LoadedModel>> loaded =
      B16().Load(checkpoint->config, checkpoint->weights);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  for (const char* name :
       {"2 missing", "ln_final.weight", "visual.transformer.dec.1.ln_3.bias"}) {
    EXPECT_TRUE(absl::StrContains(loaded.status().message(), name))
        << loaded.status();
  }
}

TEST_F(MultimodalReferenceTest, TruncatedFileIsAnError) {
  const std::string truncated = Path("mm_truncated.ckpt");
  std::filesystem::copy_file(Path("mm_lightning.ckpt"), truncated,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(truncated, 100000);
  absl::StatusOr<ArchCheckpoint> checkpoint =
      ReadArchCheckpoint(truncated, B16());
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kDataLoss)
      << checkpoint.status();
  EXPECT_TRUE(absl::StartsWith(checkpoint.status().message(), truncated))
      << checkpoint.status();
}

TEST_F(MultimodalReferenceTest, BadInputsAreOneLineErrors) {
  absl::StatusOr<ArchCheckpoint> checkpoint =
      ReadArchCheckpoint(Path("mm_module.pth"), B16());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  std::unique_ptr<LoadedModel> model = Load(*checkpoint);
  ASSERT_NE(model, nullptr);
  const torch::Tensor video = torch::zeros({1, 3, 2, 32, 32});
  const torch::Tensor text = torch::ones({1, 77}, torch::kInt64);
  const auto options = torch::TensorOptions().dtype(torch::kInt64);
  for (const auto& [inputs, reason] : std::vector<
           std::pair<std::map<std::string, torch::Tensor>, std::string>>{
           {{{"frames", video}}, "neither a \"video\" nor a \"text_tokens\""},
           {{{"video", video.to(torch::kFloat64)}}, "video: float32 expected"},
           {{{"video", video[0]}}, "video: [B,3,T,H,W] expected"},
           {{{"video", torch::zeros({1, 3, 2, 48, 48})}}, "H = W = 32"},
           {{{"text_tokens", text.to(torch::kFloat32)}},
            "text_tokens: int64 expected"},
           {{{"text_tokens", torch::ones({1, 78}, options)}},
            "[B,N] with 1 <= N <= 77"},
           {{{"text_tokens", torch::full({1, 5}, 516, options)}},
            "text_tokens: id 516 at [0,"},
           {{{"video", video},
             {"text_tokens", torch::full({1, 5}, -1, options)}},
            "id -1"},
       }) {
    absl::StatusOr<NamedTensors> outputs = model->Forward(inputs);
    ASSERT_FALSE(outputs.ok()) << reason;
    EXPECT_EQ(outputs.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(outputs.status().message(), reason))
        << outputs.status();
    EXPECT_EQ(outputs.status().message().find('\n'), std::string::npos);
  }
  // One input gives its output only; int32 ids (the official tokenize's)
  // are accepted.
  absl::StatusOr<NamedTensors> outputs =
      model->Forward({{"text_tokens", text.to(torch::kInt32)}});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), 1);
  EXPECT_EQ((*outputs)[0].first, "text_embeds");
  EXPECT_EQ((*outputs)[0].second.sizes(), torch::IntArrayRef({1, 32}));

  // The tokenizer must be the model's.
  absl::Status tokenizer = model->UseTokenizer(515);
  EXPECT_FALSE(tokenizer.ok());
  EXPECT_TRUE(absl::StartsWith(tokenizer.message(), "text_tokens: "))
      << tokenizer;
  EXPECT_TRUE(model->UseTokenizer(516).ok());
  outputs =
      model->Forward({{"text_tokens", torch::full({1, 5}, 516, options)}});
  ASSERT_FALSE(outputs.ok());
  EXPECT_TRUE(absl::StrContains(outputs.status().message(), "of the tokenizer"))
      << outputs.status();
}

}  // namespace
}  // namespace iv::model
