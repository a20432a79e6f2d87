#include "common/model/internvideo/internvideo_checkpoint.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/model/checkpoint/native_checkpoint.h"

namespace iv::model {

absl::StatusOr<LoadedInternVideo> LoadInternVideo(const std::string& dir) {
  absl::StatusOr<NativeCheckpoint> native = ReadNativeCheckpoint(dir);
  if (!native.ok()) return native.status();
  if (native->arch != kInternVideoArch) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": holds a ", native->arch, " model, not a trained ",
                     kInternVideoArch, " model"));
  }
  absl::StatusOr<InternVideoConfig> config =
      ResolveInternVideoConfig(native->config);
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": ", config.status().message()));
  }
  LoadedInternVideo loaded;
  loaded.path = dir;
  try {
    loaded.model = InternVideoModel(*config);
  } catch (const c10::Error& error) {
    return absl::InternalError(error.what_without_backtrace());
  }
  absl::StatusOr<LoadReport> report =
      LoadStateDict(*loaded.model, native->weights);
  if (!report.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": ", report.status().message()));
  }
  loaded.model->eval();
  const std::string& vocab =
      native->config.multimodal_encoder().tokenizer().vocab_path();
  if (config->multimodal && !vocab.empty()) {
    const std::filesystem::path path =
        std::filesystem::path(vocab).is_absolute()
            ? std::filesystem::path(vocab)
            : std::filesystem::path(dir) / vocab;
    absl::StatusOr<std::unique_ptr<text::ClipTokenizer>> tokenizer =
        text::ClipTokenizer::Load(path.string());
    if (!tokenizer.ok()) return tokenizer.status();
    loaded.tokenizer = std::move(*tokenizer);
  }
  return loaded;
}

}  // namespace iv::model
