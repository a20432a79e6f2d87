// `iv model info/import/forward` end to end on official-format checkpoints
// that Python's torch.save writes, against the project's independent Python
// reference (testdata/make_videomae_checkpoints.py).
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/process/command.h"
#include "common/safetensors/safetensors.h"
#include "common/testing/temp_dir.h"

namespace iv {
namespace {

using process::CommandResult;

// The output is stdout and stderr together.
CommandResult RunIv(const std::string& arguments) {
  return process::RunCommand(absl::StrCat("tools/iv/iv ", arguments, " 2>&1"));
}

// A failure: exit code 1 and a one-line reason that contains `reason`.
void ExpectOneLineError(const CommandResult& result,
                        const std::string& reason) {
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_EQ(result.output.find('\n'), result.output.size() - 1)
      << result.output;
  EXPECT_TRUE(absl::StrContains(result.output, reason)) << result.output;
}

class ModelCommandTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::FreshTempDir("model_command"));
    script_ = new CommandResult(process::RunCommand(
        absl::StrCat("/usr/bin/python3 "
                     "tools/iv/testdata/make_videomae_checkpoints.py ",
                     *dir_,
                     " 2>&1 && /usr/bin/python3 "
                     "common/model/arch/testdata/"
                     "make_multimodal_checkpoints.py ",
                     *dir_, " 2>&1")));
  }

  void SetUp() override {
    ASSERT_EQ(script_->exit_code, 0)
        << "make_videomae_checkpoints.py and make_multimodal_checkpoints.py "
           "need python3-torch:\n"
        << script_->output;
  }

  static std::string Path(const std::string& name) {
    return absl::StrCat(*dir_, "/", name);
  }

  // `iv model import` of `checkpoint` into the native folder `out`.
  static CommandResult Import(const std::string& arch,
                              const std::string& checkpoint,
                              const std::string& out) {
    return RunIv(absl::StrCat("model import --arch ", arch, " --checkpoint ",
                              checkpoint, " --out ", out));
  }

  // Runs `iv model forward` and compares every expected output.
  // `flags` are added to the command line.
  static void ExpectForwardMatches(
      const std::string& arch, const std::string& checkpoint,
      const std::string& expected,
      const std::string& input = "input.safetensors",
      const std::string& flags = "") {
    SCOPED_TRACE(checkpoint);
    const std::string output = Path("output.safetensors");
    CommandResult forward = RunIv(absl::StrCat(
        "model forward --arch ", arch, " --checkpoint ", checkpoint,
        " --input ", Path(input), " --output ", output, flags));
    ASSERT_EQ(forward.exit_code, 0) << forward.output;
    absl::StatusOr<TensorFile> got = ReadSafetensors(output);
    absl::StatusOr<TensorFile> want = ReadSafetensors(Path(expected));
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_EQ(got->tensors.size(), want->tensors.size());
    for (const auto& [name, reference] : want->tensors) {
      const torch::Tensor* tensor = got->Find(name);
      ASSERT_NE(tensor, nullptr) << name;
      ASSERT_EQ(tensor->sizes(), reference.sizes()) << name;
      const double error =
          ((*tensor - reference).norm() / reference.norm()).item<double>();
      EXPECT_LE(error, 1e-4) << name;
      std::cout << expected << " " << name << ": relative L2 error " << error
                << "\n";
    }
  }

  static std::string* dir_;
  static CommandResult* script_;
};

std::string* ModelCommandTest::dir_;
CommandResult* ModelCommandTest::script_;

TEST_F(ModelCommandTest, ForwardMatchesTheReferenceOnOfficialFiles) {
  ExpectForwardMatches("videomae-vit-b16", Path("finetune.pth"),
                       "finetune.expected.safetensors");
  // DeepSpeed's layout: under 'module', names prefixed with `module.`.
  ExpectForwardMatches("videomae-vit-b16", Path("finetune_module.pth"),
                       "finetune.expected.safetensors");
  ExpectForwardMatches("videomae-vit-b16-pretrain", Path("pretrain.pth"),
                       "pretrain.expected.safetensors");
}

TEST_F(ModelCommandTest, ImportThenInfoAndForward) {
  const std::string native = Path("native_pretrain");
  CommandResult import =
      Import("videomae-vit-b16-pretrain", Path("pretrain.pth"), native);
  ASSERT_EQ(import.exit_code, 0) << import.output;
  CommandResult info = RunIv("model info --checkpoint " + native);
  ASSERT_EQ(info.exit_code, 0) << info.output;
  for (const std::string& line :
       {std::string("format: native"),
        std::string("architecture: videomae-vit-b16-pretrain"),
        std::string("parameters: 352384 in 49 tensors"),
        std::string("embed_dim: 64"), std::string("decoder_embed_dim: 64"),
        absl::StrCat("source: ", Path("pretrain.pth"))}) {
    EXPECT_TRUE(absl::StrContains(info.output, line)) << line << "\n"
                                                      << info.output;
  }
  ExpectForwardMatches("videomae-vit-b16-pretrain", native,
                       "pretrain.expected.safetensors");

  const std::string finetune = Path("native_finetune");
  ASSERT_EQ(
      Import("videomae-vit-b16", Path("finetune.pth"), finetune).exit_code, 0);
  ExpectForwardMatches("videomae-vit-b16", finetune,
                       "finetune.expected.safetensors");
  // A native folder holds one arch.
  ExpectOneLineError(
      RunIv(absl::StrCat("model forward --arch videomae-vit-b16-pretrain "
                         "--checkpoint ",
                         finetune, " --input ", Path("input.safetensors"),
                         " --output ", Path("unused.safetensors"))),
      "not videomae-vit-b16-pretrain");
}

TEST_F(ModelCommandTest, InfoOnAnOfficialFileShowsItsOtherEntries) {
  CommandResult info = RunIv("model info --checkpoint " + Path("finetune.pth"));
  ASSERT_EQ(info.exit_code, 0) << info.output;
  for (const char* line :
       {"format: official", "parameters: 198917 in 36 tensors", "epoch: 29",
        "args: argparse.Namespace object"}) {
    EXPECT_TRUE(absl::StrContains(info.output, line)) << line << "\n"
                                                      << info.output;
  }
}

TEST_F(ModelCommandTest, BadInputsGiveOneLineErrors) {
  const std::string forward = absl::StrCat(
      "model forward --output ", Path("unused.safetensors"), " --input ");
  const std::string finetune =
      " --arch videomae-vit-b16 --checkpoint " + Path("finetune.pth");
  ExpectOneLineError(
      RunIv(forward + Path("input.safetensors") + " --arch internvideo-x " +
            "--checkpoint " + Path("finetune.pth")),
      "unknown arch \"internvideo-x\"; known: videomae-vit-b16");
  ExpectOneLineError(
      RunIv(forward + Path("input.safetensors") + finetune + " --vocab v.gz"),
      "videomae-vit-b16 does not use --vocab");
  // The pretraining file has decoder weights a finetuned model lacks.
  ExpectOneLineError(
      RunIv(forward + Path("input.safetensors") +
            " --arch videomae-vit-b16 --checkpoint " + Path("pretrain.pth")),
      "unexpected");
  ExpectOneLineError(RunIv(forward + Path("input.safetensors") +
                           " --arch videomae-vit-b16-pretrain --checkpoint " +
                           Path("finetune.pth")),
                     "no encoder.patch_embed.proj.weight");

  // Inputs: no `video`, wrong rank, sizes that do not divide into tubelets.
  const std::string inputs = Path("bad_input.safetensors");
  for (const auto& [tensors, reason] :
       std::vector<std::pair<TensorFile, std::string>>{
           {{{{"frames", torch::zeros({1, 3, 4, 32, 32})}}}, "no \"video\""},
           {{{{"video", torch::zeros({3, 4, 32, 32})}}}, "[B,3,T,H,W]"},
           {{{{"video", torch::zeros({1, 3, 3, 32, 32})}}}, "multiple of 2"},
       }) {
    ASSERT_TRUE(WriteSafetensors(inputs, tensors).ok());
    ExpectOneLineError(RunIv(forward + inputs + finetune), reason);
  }

  // Truncated and corrupt checkpoints.
  const std::string truncated = Path("truncated.pth");
  std::filesystem::copy_file(Path("finetune.pth"), truncated);
  std::filesystem::resize_file(truncated, 5000);
  ExpectOneLineError(RunIv("model info --checkpoint " + truncated), truncated);
  ExpectOneLineError(RunIv("model import --arch videomae-vit-b16 "
                           "--checkpoint " +
                           truncated + " --out " + Path("never")),
                     truncated);
  EXPECT_FALSE(std::filesystem::exists(Path("never")));
  ExpectOneLineError(RunIv("model info --checkpoint " + inputs), inputs);
}

// InternVideo-MM (make_multimodal_checkpoints.py): a Lightning checkpoint
// with a caption decoder, read with its vocabulary, and an OpenAI CLIP file.
TEST_F(ModelCommandTest, MultimodalForwardMatchesTheReference) {
  ExpectForwardMatches("internvideo-mm-b16", Path("mm_lightning.ckpt"),
                       "mm.expected.safetensors", "mm_input.safetensors",
                       " --vocab " + Path("vocab.txt"));
  ExpectForwardMatches("internvideo-mm-l14", Path("mm_openai.pt"),
                       "mm_openai.expected.safetensors",
                       "mm_input.safetensors");
  ExpectForwardMatches("internvideo-mm-b16", Path("mm_lightning.ckpt"),
                       "mm_t3.expected.safetensors", "mm_input_t3.safetensors");
}

TEST_F(ModelCommandTest, MultimodalImportThenInfoAndForward) {
  CommandResult info =
      RunIv("model info --checkpoint " + Path("mm_lightning.ckpt"));
  ASSERT_EQ(info.exit_code, 0) << info.output;
  for (const char* line :
       {"format: official", "epoch: 9", "global_step: 1234"}) {
    EXPECT_TRUE(absl::StrContains(info.output, line)) << line << "\n"
                                                      << info.output;
  }
  info = RunIv("model info --checkpoint " + Path("mm_openai.pt"));
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_TRUE(absl::StrContains(info.output, "format: official"))
      << info.output;

  const std::string native = Path("native_mm");
  CommandResult import =
      Import("internvideo-mm-b16", Path("mm_lightning.ckpt"), native);
  ASSERT_EQ(import.exit_code, 0) << import.output;
  info = RunIv("model info --checkpoint " + native);
  ASSERT_EQ(info.exit_code, 0) << info.output;
  for (const char* line :
       {"format: native", "architecture: internvideo-mm-b16", "width: 128",
        "caption_decoder {", "vocab_size: 516"}) {
    EXPECT_TRUE(absl::StrContains(info.output, line)) << line << "\n"
                                                      << info.output;
  }
  ExpectForwardMatches("internvideo-mm-b16", native, "mm.expected.safetensors",
                       "mm_input.safetensors");

  // A CLIP file imports without the weights it lacks, and still loads.
  const std::string clip = Path("native_clip");
  ASSERT_EQ(Import("internvideo-mm-b16", Path("mm_openai.pt"), clip).exit_code,
            0);
  ExpectForwardMatches("internvideo-mm-b16", clip,
                       "mm_openai.expected.safetensors",
                       "mm_input.safetensors");
}

TEST_F(ModelCommandTest, MultimodalBadInputsGiveOneLineErrors) {
  const std::string forward =
      absl::StrCat("model forward --arch internvideo-mm-b16 --output ",
                   Path("unused.safetensors"), " --checkpoint ");
  const std::string lightning = Path("mm_lightning.ckpt");
  // Another vocabulary than the model's.
  ExpectOneLineError(
      RunIv(forward + lightning + " --input " + Path("mm_input.safetensors") +
            " --vocab " + Path("vocab_515.txt")),
      "text_tokens: the tokenizer (--vocab) has 515 ids");
  // Weights missing from the file are listed.
  ExpectOneLineError(
      RunIv(forward + Path("mm_missing.ckpt") + " --input " +
            Path("mm_input.safetensors")),
      "2 missing (ln_final.weight, visual.transformer.dec.1.ln_3.bias)");
  const std::string inputs = Path("mm_bad_input.safetensors");
  for (const auto& [tensors, reason] :
       std::vector<std::pair<TensorFile, std::string>>{
           {{{{"frames", torch::zeros({1, 3, 4, 32, 32})}}}, "neither"},
           {{{{"text_tokens", torch::zeros({1, 77})}}},
            "text_tokens: int64 expected, got Float"},
           {{{{"video", torch::zeros({1, 3, 4, 16, 16})}}}, "H = W = 32"},
       }) {
    ASSERT_TRUE(WriteSafetensors(inputs, tensors).ok());
    ExpectOneLineError(RunIv(forward + lightning + " --input " + inputs),
                       reason);
  }
  const std::string truncated = Path("mm_truncated.ckpt");
  std::filesystem::copy_file(lightning, truncated);
  std::filesystem::resize_file(truncated, 100000);
  ExpectOneLineError(RunIv("model info --checkpoint " + truncated), truncated);
  ExpectOneLineError(
      RunIv(forward + truncated + " --input " + Path("mm_input.safetensors")),
      truncated);
}

}  // namespace
}  // namespace iv
