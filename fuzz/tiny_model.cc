#include "fuzz/tiny_model.h"

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "common/model/internvideo/testing/tiny_checkpoint.h"
#include "fuzz/fuzz_support.h"

namespace iv::fuzz {

const serving::ModelRegistry& TinyModelRegistry(
    const internvideo::v1::ModelConfig& config) {
  const std::string dir = ScratchDir() + "/model";
  if (absl::Status written =
          model::testing::WriteTinyCheckpoint(dir, 1, config);
      !written.ok()) {
    std::cerr << written << "\n";
    std::abort();
  }
  serving::ModelRegistryOptions options;
  options.model_dir = dir;
  auto* registry = new serving::ModelRegistry(options, nullptr);
  if (absl::Status loaded = registry->Poll(); !loaded.ok()) {
    std::cerr << loaded << "\n";
    std::abort();
  }
  return *registry;
}

std::string VideoRoot() {
  const std::string root = ScratchDir() + "/videos";
  std::filesystem::create_directories(root);
  return root;
}

}  // namespace iv::fuzz
