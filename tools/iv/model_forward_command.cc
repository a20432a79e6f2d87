// `iv model forward`: one forward pass of a checkpoint on a safetensors file.
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/model/arch/arch.h"
#include "common/safetensors/safetensors.h"
#include "common/text/clip_tokenizer.h"
#include "tools/iv/model_command.h"

namespace iv::cli {
namespace {

struct ForwardArgs {
  std::string arch;
  std::string checkpoint;
  std::string input;
  std::string output;
  std::string vocab;
};

absl::Status Forward(const ForwardArgs& args) {
  absl::StatusOr<const model::Arch*> arch = model::FindArch(args.arch);
  if (!arch.ok()) return arch.status();
  if (!args.vocab.empty() && !(*arch)->UsesText()) {
    return absl::InvalidArgumentError(absl::StrCat(
        args.arch, " does not use --vocab (it has no text inputs)"));
  }
  absl::StatusOr<model::ArchCheckpoint> checkpoint =
      model::ReadArchCheckpoint(args.checkpoint, **arch);
  if (!checkpoint.ok()) return checkpoint.status();
  absl::StatusOr<std::unique_ptr<model::LoadedModel>> loaded =
      (*arch)->Load(checkpoint->config, checkpoint->weights);
  if (!loaded.ok()) {
    return absl::Status(
        loaded.status().code(),
        absl::StrCat(args.checkpoint, ": ", loaded.status().message()));
  }
  if (!args.vocab.empty()) {
    absl::StatusOr<std::unique_ptr<text::ClipTokenizer>> tokenizer =
        text::ClipTokenizer::Load(args.vocab);
    if (!tokenizer.ok()) return tokenizer.status();
    if (absl::Status s = (*loaded)->UseTokenizer((*tokenizer)->vocab_size());
        !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat(args.vocab, ": ", s.message()));
    }
  }
  absl::StatusOr<TensorFile> input = ReadSafetensors(args.input);
  if (!input.ok()) return input.status();
  const std::map<std::string, torch::Tensor> inputs(input->tensors.begin(),
                                                    input->tensors.end());
  absl::StatusOr<model::NamedTensors> outputs = (*loaded)->Forward(inputs);
  if (!outputs.ok()) {
    return absl::Status(
        outputs.status().code(),
        absl::StrCat(args.input, ": ", outputs.status().message()));
  }
  TensorFile output;
  output.tensors = *std::move(outputs);
  output.metadata["arch"] = args.arch;
  if (absl::Status s = WriteSafetensors(args.output, output); !s.ok()) {
    return s;
  }
  std::vector<std::string> names;
  for (const auto& [name, tensor] : output.tensors) names.push_back(name);
  std::printf("%s: %s\n", args.output.c_str(),
              absl::StrJoin(names, ", ").c_str());
  return absl::OkStatus();
}

}  // namespace

void AddModelForwardCommand(CLI::App& model) {
  auto args = std::make_shared<ForwardArgs>();
  CLI::App* forward = model.add_subcommand(
      "forward", "Run a checkpoint on the tensors of a safetensors file");
  forward
      ->add_option("--arch", args->arch,
                   "architecture, e.g. videomae-vit-b16 (iv model info "
                   "names a checkpoint's)")
      ->required();
  forward
      ->add_option("--checkpoint", args->checkpoint,
                   "official PyTorch file or native checkpoint folder")
      ->required();
  forward
      ->add_option("--input", args->input,
                   "safetensors file: `video` float32 [B,3,T,H,W], already "
                   "normalized; `text_tokens` int64 [B,N] for the "
                   "internvideo-mm and internvideo arches")
      ->required();
  forward->add_option("--output", args->output, "safetensors file to write")
      ->required();
  forward->add_option("--vocab", args->vocab,
                      "CLIP BPE merges file, for arches with text inputs: "
                      "checks that text_tokens are its ids and that it is "
                      "the model's vocabulary");
  forward->footer(
      "Outputs: videomae-vit-b16/l16/h16 `features` [B,D] (after fc_norm) "
      "and `logits` [B,classes]; videomae-vit-b16-pretrain `encoder_tokens` "
      "[B,N,D] (after the encoder's final norm, no masking); T, H and W may "
      "be any multiples of the tubelet and patch. internvideo-mm-b16/l14 "
      "`video_embeds` for `video` (CLIP-normalized, any T, H = W = the "
      "model's input resolution) and `text_embeds` for `text_tokens` "
      "(CLIP ids, N <= the context length), either or both, projected and "
      "not yet L2-normalized. internvideo (native folders: iv-tiny, trainer "
      "checkpoints) takes `video` as the model's clip (T frames of SxS, "
      "normalized for the encoder that reads pixels, as the services feed "
      "it) and `text_tokens`, and gives what the model has of "
      "`video_embeds`, `logits`, `features`, `encoder_tokens` and "
      "`text_embeds`. Exits 1 with a one-line "
      "reason for an unknown arch, a checkpoint that does not fit it, or "
      "missing or misshapen inputs.");
  forward->callback([args] {
    if (absl::Status s = Forward(*args); !s.ok()) {
      throw CLI::RuntimeError(ModelCommandFailed("forward", s));
    }
  });
}

}  // namespace iv::cli
