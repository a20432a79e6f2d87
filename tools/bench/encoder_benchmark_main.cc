// The encoder benchmark as a binary of its own, for the GPU build
// (tools/gpu/build.sh), where the `iv` tool's other dependencies are
// missing. Same flags as `iv bench encoder`.
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "tools/bench/encoder_benchmark.h"

int main(int argc, char** argv) {
  iv::bench::EncoderBenchmarkOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || i + 1 >= argc) {
      std::fprintf(stderr,
                   "usage: %s [--threads N] [--batch B] [--iters K] "
                   "[--models b16,tiny] [--device auto|cpu|cuda] "
                   "[--python PATH] [--eager-script PATH]\n",
                   argv[0]);
      return flag == "--help" ? 0 : 2;
    }
    const std::string value = argv[++i];
    if (flag == "--threads") {
      options.threads = std::atoi(value.c_str());
    } else if (flag == "--batch") {
      options.batch = std::atoi(value.c_str());
    } else if (flag == "--iters") {
      options.iters = std::atoi(value.c_str());
    } else if (flag == "--models") {
      options.models.clear();
      std::istringstream names(value);
      for (std::string name; std::getline(names, name, ',');) {
        options.models.push_back(name);
      }
    } else if (flag == "--device") {
      options.device = value;
    } else if (flag == "--python") {
      options.python = value;
    } else if (flag == "--eager-script") {
      options.eager_script = value;
    } else {
      std::fprintf(stderr, "unknown flag %s (see --help)\n", flag.c_str());
      return 2;
    }
  }
  if (options.threads < 1 || options.batch < 1 || options.iters < 1) {
    std::fprintf(stderr, "--threads, --batch and --iters must be >= 1\n");
    return 2;
  }
  return iv::bench::RunEncoderBenchmark(options) ? 0 : 1;
}
