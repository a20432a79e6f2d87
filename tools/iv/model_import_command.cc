// `iv model import`: an official checkpoint to the native format.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/model/arch/arch.h"
#include "common/model/checkpoint/native_checkpoint.h"
#include "common/text/clip_tokenizer.h"
#include "tools/iv/model_command.h"

namespace iv::cli {
namespace {

struct ImportArgs {
  std::string arch;
  std::string checkpoint;
  std::string out;
  std::string vocab;
};

// Ships the tokenizer's vocabulary inside the checkpoint folder (the config
// names it by file name, relative to the folder) after checking that it
// loads and that its ids fit the text encoder's embedding table.
absl::Status AddVocabulary(const std::string& vocab, const std::string& out,
                           internvideo::v1::ModelConfig& config) {
  if (!config.has_multimodal_encoder()) {
    return absl::InvalidArgumentError(
        "--vocab: the model has no text encoder to tokenize for");
  }
  absl::StatusOr<std::unique_ptr<text::ClipTokenizer>> tokenizer =
      text::ClipTokenizer::Load(vocab);
  if (!tokenizer.ok()) {
    return absl::Status(
        tokenizer.status().code(),
        absl::StrCat("--vocab: ", tokenizer.status().message()));
  }
  const int64_t table = config.multimodal_encoder().text().vocab_size();
  if ((*tokenizer)->vocab_size() != table) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--vocab: ", vocab, " has ", (*tokenizer)->vocab_size(),
        " tokens but the text encoder's token_embedding has ", table,
        " rows; use the vocabulary the checkpoint was trained with"));
  }
  namespace fs = std::filesystem;
  const std::string name = fs::path(vocab).filename().string();
  std::error_code error;
  fs::create_directories(out, error);
  if (!error) {
    fs::copy_file(vocab, fs::path(out) / name,
                  fs::copy_options::overwrite_existing, error);
  }
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat(
        "--vocab: cannot copy ", vocab, " into ", out, ": ", error.message()));
  }
  config.mutable_multimodal_encoder()->mutable_tokenizer()->set_vocab_path(
      name);
  return absl::OkStatus();
}

int Import(const ImportArgs& args) {
  absl::StatusOr<const model::Arch*> arch = model::FindArch(args.arch);
  if (!arch.ok()) return ModelCommandFailed("import", arch.status());
  absl::StatusOr<model::ArchCheckpoint> checkpoint =
      model::ReadArchCheckpoint(args.checkpoint, **arch);
  if (!checkpoint.ok())
    return ModelCommandFailed("import", checkpoint.status());
  // Loading checks every name and shape, so that what is written loads.
  absl::StatusOr<std::unique_ptr<model::LoadedModel>> loaded =
      (*arch)->Load(checkpoint->config, checkpoint->weights);
  if (!loaded.ok()) return ModelCommandFailed("import", loaded.status());
  model::NativeCheckpoint native;
  native.arch = (*arch)->name();
  native.config = std::move(checkpoint->config);
  // The vocabulary goes in before the config that names it.
  if (!args.vocab.empty()) {
    if (absl::Status s = AddVocabulary(args.vocab, args.out, native.config);
        !s.ok()) {
      return ModelCommandFailed("import", s);
    }
  }
  native.weights = std::move(checkpoint->weights);
  std::error_code error;
  const std::filesystem::path source =
      std::filesystem::absolute(args.checkpoint, error);
  native.metadata[model::kSourceMetadata] =
      error ? args.checkpoint : source.string();
  if (absl::Status s = model::WriteNativeCheckpoint(args.out, native);
      !s.ok()) {
    return ModelCommandFailed("import", s);
  }
  std::printf("%s: %s, %lld parameters\n", args.out.c_str(),
              native.arch.c_str(),
              static_cast<long long>((*loaded)->ParameterCount()));
  return 0;
}

}  // namespace

void AddModelImportCommand(CLI::App& model) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* import = model.add_subcommand(
      "import", "Convert an official checkpoint to the native format");
  import
      ->add_option("--arch", args->arch, "architecture, e.g. videomae-vit-b16")
      ->required();
  import
      ->add_option("--checkpoint", args->checkpoint,
                   "official PyTorch file (.pth, .pt, .ckpt)")
      ->required();
  import->add_option("--out", args->out, "native checkpoint folder to write")
      ->required();
  import->add_option("--vocab", args->vocab,
                     "the text encoder's BPE vocabulary (e.g. CLIP's "
                     "bpe_simple_vocab_16e6.txt.gz), copied into OUT so the "
                     "servers can embed texts");
  import->footer(
      "Writes OUT/model.safetensors (the weights under their official names, "
      "the arch and source file in its metadata) and then "
      "OUT/model_config.textproto (the config inferred from the weights), "
      "each atomically. Exits 1 with a one-line reason if the checkpoint "
      "does not fit ARCH (missing, unexpected or misshapen weights).");
  import->callback([args] {
    if (int code = Import(*args)) throw CLI::RuntimeError(code);
});
}  // namespace iv::cli

}  // namespace iv::cli
