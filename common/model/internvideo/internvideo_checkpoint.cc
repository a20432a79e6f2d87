#include "common/model/internvideo/internvideo_checkpoint.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/model/arch/arch.h"
#include "common/model/checkpoint/native_checkpoint.h"

namespace iv::model {
namespace {

// The weights of a native folder as the InternVideo model names them.
absl::Status AsInternVideoWeights(const std::string& dir,
                                  NativeCheckpoint& native) {
  absl::StatusOr<const Arch*> arch = FindArch(native.arch);
  if (!arch.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": holds a ", native.arch, " model, which is not an ",
                     kInternVideoArch, " model or a part of one"));
  }
  ToInternVideoNames(**arch, native.weights);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LoadedInternVideo> LoadInternVideo(const std::string& dir) {
  absl::StatusOr<NativeCheckpoint> native = ReadNativeCheckpoint(dir);
  if (!native.ok()) return native.status();
  if (absl::Status s = AsInternVideoWeights(dir, *native); !s.ok()) return s;
  LoadedInternVideo loaded;
  loaded.path = dir;
  absl::StatusOr<InternVideoModel> model =
      LoadInternVideoModel(native->config, native->weights);
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat(dir, ": ", model.status().message()));
  }
  loaded.model = *std::move(model);
  const std::string& vocab =
      native->config.multimodal_encoder().tokenizer().vocab_path();
  if (loaded.model->config().multimodal && !vocab.empty()) {
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
