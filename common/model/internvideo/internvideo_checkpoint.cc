#include "common/model/internvideo/internvideo_checkpoint.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/model/checkpoint/native_checkpoint.h"

namespace iv::model {
namespace {

// An imported part's official names as the InternVideo model names them:
// under its part's prefix (the caption decoder's already are).
absl::Status AsInternVideoWeights(const std::string& dir,
                                  NativeCheckpoint& native) {
  if (native.arch == kInternVideoArch) return absl::OkStatus();
  std::string prefix;
  if (absl::StartsWith(native.arch, "videomae-vit-")) {
    prefix = InternVideoModelImpl::PartPrefix(
        internvideo::v1::MODEL_PART_MASKED_ENCODER);
  } else if (absl::StartsWith(native.arch, "internvideo-mm-")) {
    prefix = InternVideoModelImpl::PartPrefix(
        internvideo::v1::MODEL_PART_MULTIMODAL_ENCODER);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": holds a ", native.arch, " model, which is not an ",
                     kInternVideoArch, " model or a part of one"));
  }
  const std::string decoder = InternVideoModelImpl::PartPrefix(
      internvideo::v1::MODEL_PART_CAPTION_DECODER);
  for (auto& [name, tensor] : native.weights) {
    if (!absl::StartsWith(name, decoder)) name = prefix + name;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LoadedInternVideo> LoadInternVideo(const std::string& dir) {
  absl::StatusOr<NativeCheckpoint> native = ReadNativeCheckpoint(dir);
  if (!native.ok()) return native.status();
  if (absl::Status s = AsInternVideoWeights(dir, *native); !s.ok()) return s;
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
