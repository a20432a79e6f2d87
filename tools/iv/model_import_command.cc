// `iv model import`: an official checkpoint to the native format.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "common/model/arch/arch.h"
#include "common/model/checkpoint/native_checkpoint.h"
#include "tools/iv/model_command.h"

namespace iv::cli {
namespace {

struct ImportArgs {
  std::string arch;
  std::string checkpoint;
  std::string out;
};

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
