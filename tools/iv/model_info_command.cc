// `iv model info`: what a checkpoint holds, official file or native folder.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "common/model/arch/arch.h"
#include "common/proto/text_format.h"
#include "tools/iv/model_command.h"

namespace iv::cli {
namespace {

int Info(const std::string& path) {
  absl::StatusOr<model::ArchCheckpoint> checkpoint =
      model::InspectCheckpoint(path);
  if (!checkpoint.ok()) return ModelCommandFailed("info", checkpoint.status());
  int64_t parameters = 0;
  for (const auto& [name, tensor] : checkpoint->weights) {
    parameters += tensor.numel();
  }
  std::printf("checkpoint: %s\n", path.c_str());
  std::printf("format: %s\n", checkpoint->native ? "native" : "official");
  std::printf("architecture: %s\n",
              checkpoint->arch != nullptr
                  ? checkpoint->arch->name().c_str()
                  : "unknown (no known arch has these weights)");
  std::printf("parameters: %lld in %zu tensors\n",
              static_cast<long long>(parameters), checkpoint->weights.size());
  if (checkpoint->arch != nullptr) {
    std::printf("config:\n%s", proto::ToTextFormat(checkpoint->config).c_str());
  }
  std::printf("%s:\n", checkpoint->native ? "metadata" : "other entries");
  for (const auto& [key, value] : checkpoint->details) {
    std::printf("  %s: %s\n", key.c_str(), value.c_str());
  }
  return 0;
}

}  // namespace

void AddModelInfoCommand(CLI::App& model) {
  auto path = std::make_shared<std::string>();
  CLI::App* info = model.add_subcommand(
      "info", "Print a checkpoint's architecture, parameter count and config");
  info->add_option("--checkpoint", *path,
                   "official PyTorch file (.pth, .pt, .ckpt) or native "
                   "checkpoint folder (iv model import)")
      ->required();
  info->footer(
      "For official files the architecture is the arch whose weights match "
      "(`unknown` for sizes no arch has), the config is inferred from the "
      "weights' shapes, and the file's other top-level entries (epoch, "
      "args...) follow. Exits 1 with a one-line reason if the checkpoint "
      "cannot be read.");
  info->callback([path] {
    if (int code = Info(*path)) throw CLI::RuntimeError(code);
  });
}

}  // namespace iv::cli
