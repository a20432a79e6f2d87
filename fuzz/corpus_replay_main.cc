// The main() of the fuzz targets outside --config=fuzz: runs the target's
// LLVMFuzzerTestOneInput once over every file under the folders (or files)
// given, so that each corpus, and every crash input added to it, is replayed
// by the normal test suite. libFuzzer's own main does the same when given
// files, which is how a finding is reproduced in the fuzz build.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg = argv[i];
    if (!std::filesystem::is_directory(arg)) {
      inputs.push_back(arg);
      continue;
    }
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(arg)) {
      if (entry.is_regular_file()) inputs.push_back(entry.path());
    }
  }
  if (inputs.empty()) {
    std::cerr << "no corpus files given: pass corpus folders or files\n";
    return 1;
  }
  // A fixed order, so that a failure reproduces the same way.
  std::sort(inputs.begin(), inputs.end());
  for (const std::filesystem::path& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::cerr << "cannot read " << path << "\n";
      return 1;
    }
    const std::string bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    std::cerr << "running " << path.string() << " (" << bytes.size()
              << " bytes)\n";
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()),
                           bytes.size());
  }
  std::cerr << "replayed " << inputs.size() << " inputs\n";
  return 0;
}
