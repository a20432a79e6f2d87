// `iv model info` and `iv model forward` on the project's own checkpoints
// (the "internvideo" arch): models/iv-tiny, whose parameter count an
// independent reading of its safetensors header gives, and whose forward
// pass must equal what the services compute on the same clip (the one
// loader, LoadInternVideo). Trainer checkpoints: tools/iv:train_command_test.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/model/internvideo/internvideo_checkpoint.h"
#include "common/process/command.h"
#include "common/safetensors/safetensors.h"
#include "common/testing/temp_dir.h"

namespace iv {
namespace {

using process::CommandResult;
using process::RunCommand;

constexpr char kIvTiny[] = "models/iv-tiny";

CommandResult RunIv(const std::string& arguments) {
  return RunCommand(absl::StrCat("tools/iv/iv ", arguments, " 2>&1"));
}

TEST(ModelInternVideoTest, InfoDescribesIvTiny) {
  // The count from the file's JSON header, read by Python.
  const CommandResult expected = RunCommand(absl::StrCat(
      "/usr/bin/python3 -c 'import json,math,struct,sys\n"
      "f=open(sys.argv[1],\"rb\"); n=struct.unpack(\"<Q\",f.read(8))[0]\n"
      "h=json.loads(f.read(n)); h.pop(\"__metadata__\",None)\n"
      "print(\"parameters: %d in %d tensors\" % (sum(math.prod(v[\"shape\"]) "
      "for v in h.values()), len(h)))' ",
      kIvTiny, "/model.safetensors"));
  ASSERT_EQ(expected.exit_code, 0) << expected.output;
  const CommandResult info =
      RunIv(absl::StrCat("model info --checkpoint ", kIvTiny));
  ASSERT_EQ(info.exit_code, 0) << info.output;
  for (const std::string& line :
       {std::string("format: native"),
        std::string("architecture: internvideo\n"), expected.output,
        std::string("name: \"iv-tiny\"")}) {
    EXPECT_TRUE(absl::StrContains(info.output, line)) << line << "\n"
                                                      << info.output;
  }
}

TEST(ModelInternVideoTest, ForwardEqualsTheServicesModel) {
  const std::string dir = test::FreshTempDir("iv_tiny_forward");
  torch::manual_seed(3);
  // Two clips of iv-tiny's input (8 frames of 64x64, CLIP-normalized) and
  // two token rows of its vocabulary.
  const torch::Tensor video = torch::randn({2, 3, 8, 64, 64});
  const torch::Tensor tokens = torch::randint(0, 724, {2, 12}, torch::kInt64);
  ASSERT_TRUE(WriteSafetensors(dir + "/input.safetensors",
                               {{{"video", video}, {"text_tokens", tokens}}})
                  .ok());
  const CommandResult forward = RunIv(
      absl::StrCat("model forward --arch internvideo --checkpoint ", kIvTiny,
                   " --vocab ", kIvTiny, "/bpe_vocab.txt --input ", dir,
                   "/input.safetensors --output ", dir, "/output.safetensors"));
  ASSERT_EQ(forward.exit_code, 0) << forward.output;
  absl::StatusOr<TensorFile> output =
      ReadSafetensors(dir + "/output.safetensors");
  ASSERT_TRUE(output.ok()) << output.status();
  std::map<std::string, torch::Tensor> outputs(output->tensors.begin(),
                                               output->tensors.end());

  absl::StatusOr<model::LoadedInternVideo> loaded =
      model::LoadInternVideo(kIvTiny);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  model::InternVideoModelImpl& model = *loaded->model;
  torch::NoGradGuard no_grad;
  const torch::Tensor masked = model.MaskedVideo(video);
  const std::map<std::string, torch::Tensor> expected = {
      {"video_embeds", model.EmbedClips(video)},
      {"logits", model.RecognitionLogits(masked, video)},
      {"features",
       model.ClipFeatures(internvideo::v1::FEATURE_SOURCE_MASKED_ENCODER,
                          masked, video)},
      {"text_embeds", model.multimodal()->EncodeText(tokens)},
  };
  ASSERT_EQ(outputs.size(), expected.size()) << forward.output;
  for (const auto& [name, want] : expected) {
    ASSERT_TRUE(outputs.count(name)) << name << "\n" << forward.output;
    EXPECT_EQ(outputs[name].sizes(), want.sizes()) << name;
    EXPECT_TRUE(torch::allclose(outputs[name], want, 1e-5, 1e-5)) << name;
  }
  EXPECT_EQ(outputs["logits"].size(1), 10) << "iv-tiny's 10 actions";
}

TEST(ModelInternVideoTest, ABadClipIsAOneLineError) {
  const std::string dir = test::FreshTempDir("iv_tiny_bad_clip");
  ASSERT_TRUE(WriteSafetensors(dir + "/input.safetensors",
                               {{{"video", torch::zeros({1, 3, 4, 64, 64})}}})
                  .ok());
  const CommandResult forward = RunIv(absl::StrCat(
      "model forward --arch internvideo --checkpoint ", kIvTiny, " --input ",
      dir, "/input.safetensors --output ", dir, "/output.safetensors"));
  EXPECT_EQ(forward.exit_code, 1) << forward.output;
  EXPECT_TRUE(absl::StrContains(
      forward.output, "T = 8 and H = W = 64 expected (the model's clip)"))
      << forward.output;
}

}  // namespace
}  // namespace iv
