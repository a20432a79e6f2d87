#include "tools/bench/encoder_benchmark.h"

#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "common/model/videomae/config_types.h"
#include "common/model/videomae/vision_transformer.h"

namespace iv::bench {
namespace {

// The sizes of config.cc's presets of the same names.
struct Preset {
  const char* name;
  int64_t embed_dim;
  int64_t depth;
  int64_t num_heads;
};
constexpr std::array<Preset, 2> kPresets = {{
    {"b16", 768, 12, 12},
    {"tiny", 192, 6, 3},
}};

constexpr int64_t kFrames = 16;
constexpr int64_t kSize = 224;

// Whether this CPU has bf16 dot products (avx512_bf16) or AMX tiles, the
// instructions that make LibTorch's bf16 matmuls faster than fp32 ones.
bool CpuHasBf16() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream flags(line);
    std::string flag;
    while (flags >> flag) {
      if (flag == "avx512_bf16" || flag == "amx_bf16") return true;
    }
    return false;
  }
  return false;
}

std::string CpuName() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      return line.substr(line.find(':') + 2);
    }
  }
  return "unknown CPU";
}

std::string LoadAverage() {
  std::ifstream loadavg("/proc/loadavg");
  std::string one, five, fifteen;
  loadavg >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

struct Rate {
  double wall = 0;  // clips per second of wall time
  double cpu = 0;   // clips per second of this process's CPU time
};

double CpuSeconds() {
  timespec now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return now.tv_sec + now.tv_nsec * 1e-9;
}

// The rates of model(video) in the fastest of `iters` timed forwards after a
// warm-up one (on a machine shared with other work, the fastest is the
// least disturbed, and CPU time does not count waiting for a core). Copying
// the features to the CPU waits for the GPU.
Rate ClipsPerSecond(model::VisionTransformer& model, const torch::Tensor& video,
                    int iters, torch::Tensor* features) {
  double wall = 0;
  double cpu = 0;
  for (int i = 0; i <= iters; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const double start_cpu = CpuSeconds();
    *features = model->forward(video).features.to(torch::kCPU, torch::kFloat);
    const std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - start;
    const double took_cpu = CpuSeconds() - start_cpu;
    if (i == 0) continue;
    if (wall == 0 || took.count() < wall) wall = took.count();
    if (cpu == 0 || took_cpu < cpu) cpu = took_cpu;
  }
  return {video.size(0) / wall, video.size(0) / cpu};
}

// The number after "key": in the script's one-line JSON, or 0.
double JsonNumber(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return 0;
  return std::strtod(json.c_str() + at + key.size() + 3, nullptr);
}

// Runs the PyTorch eager baseline; its JSON line, or an empty string (with
// its output on stderr) when it fails.
std::string RunEager(const EncoderBenchmarkOptions& options,
                     const Preset& preset, const std::string& device,
                     const std::string& precisions) {
  std::ostringstream command;
  command << options.python << " " << options.eager_script << " --dim "
          << preset.embed_dim << " --depth " << preset.depth << " --heads "
          << preset.num_heads << " --frames " << kFrames << " --size " << kSize
          << " --threads " << options.threads << " --batch " << options.batch
          << " --iters " << options.iters << " --precisions " << precisions
          << " --device " << device << " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.str().c_str(), "r"),
                                             pclose);
  if (!pipe) return "";
  std::string output;
  std::array<char, 4096> chunk;
  size_t n;
  while ((n = std::fread(chunk.data(), 1, chunk.size(), pipe.get())) > 0) {
    output.append(chunk.data(), n);
  }
  const int status = pclose(pipe.release());
  const size_t line = output.rfind("{\"torch\"");
  if (status != 0 || line == std::string::npos) {
    std::fprintf(stderr, "PyTorch eager baseline failed: %s\n%s\n",
                 command.str().c_str(), output.c_str());
    return "";
  }
  return output.substr(line);
}

struct Row {
  std::string model;
  std::string precision;
  Rate iv;
  Rate eager;
};

}  // namespace

bool RunEncoderBenchmark(const EncoderBenchmarkOptions& options) {
  const bool cuda = options.device == "cuda" ||
                    (options.device == "auto" && torch::cuda::is_available());
  if (cuda && !torch::cuda::is_available()) {
    std::fprintf(stderr, "--device cuda: no CUDA device is available\n");
    return false;
  }
  const torch::Device device = cuda ? torch::kCUDA : torch::kCPU;
  const bool bf16 = cuda || CpuHasBf16();
  torch::set_num_threads(options.threads);

  std::printf(
      "iv bench encoder: VideoMAE ViT features, %lldx%lld clips, batch %d, "
      "best of %d\n",
      static_cast<long long>(kFrames), static_cast<long long>(kSize),
      options.batch, options.iters);
  std::printf(
      "device: %s; LibTorch %s; %d intra-op thread(s) on %u cores; "
      "load average %s\n",
      cuda ? "CUDA" : CpuName().c_str(), TORCH_VERSION, options.threads,
      std::thread::hardware_concurrency(), LoadAverage().c_str());
  if (!bf16) {
    std::printf(
        "bf16: skipped, /proc/cpuinfo shows neither avx512_bf16 nor amx_bf16 "
        "(bf16 would be slower than fp32 here)\n");
  }
  const std::string precisions = bf16 ? "fp32,bf16" : "fp32";

  std::vector<Row> rows;
  std::vector<std::string> accuracy;
  std::string eager_torch;
  for (const std::string& name : options.models) {
    const auto preset =
        std::find_if(kPresets.begin(), kPresets.end(),
                     [&](const Preset& p) { return name == p.name; });
    if (preset == kPresets.end()) {
      std::fprintf(stderr, "unknown model %s (b16, tiny)\n", name.c_str());
      return false;
    }
    model::VideoMaeConfig config;
    config.embed_dim = preset->embed_dim;
    config.depth = preset->depth;
    config.num_heads = preset->num_heads;
    config.num_frames = kFrames;
    config.img_size = kSize;
    torch::manual_seed(0);
    model::VisionTransformer model(config);
    model->eval();
    model->to(device);
    const torch::Tensor video = torch::randn(
        {options.batch, 3, kFrames, kSize, kSize}, torch::device(device));

    torch::Tensor fp32_features;
    torch::Tensor bf16_features;
    Rate fp32_rate;
    Rate bf16_rate;
    {
      torch::InferenceMode inference;
      fp32_rate = ClipsPerSecond(model, video, options.iters, &fp32_features);
      if (bf16) {
        // The bf16 path casts the weights once, up front (autocast would
        // cast them again in every forward); LayerNorm and softmax
        // accumulate in fp32 inside their bf16 kernels.
        model->to(torch::kBFloat16);
        bf16_rate = ClipsPerSecond(model, video.to(torch::kBFloat16),
                                   options.iters, &bf16_features);
      }
    }
    const std::string eager =
        RunEager(options, *preset, cuda ? "cuda" : "cpu", precisions);
    if (eager.empty()) return false;
    const size_t version = eager.find("\"torch\": \"");
    if (version != std::string::npos) {
      eager_torch = eager.substr(version + 10,
                                 eager.find('"', version + 10) - version - 10);
    }
    const auto eager_rate = [&](const std::string& precision) {
      return Rate{JsonNumber(eager, precision + "_wall"),
                  JsonNumber(eager, precision + "_cpu")};
    };
    rows.push_back({name, "fp32", fp32_rate, eager_rate("fp32")});
    if (bf16) {
      rows.push_back({name, "bf16", bf16_rate, eager_rate("bf16")});
      const double error =
          (bf16_features - fp32_features).norm().item<double>() /
          fp32_features.norm().item<double>();
      char line[160];
      std::snprintf(line, sizeof(line),
                    "  %-5s relative L2 of bf16 vs fp32 features: %.2e",
                    name.c_str(), error);
      accuracy.push_back(line);
    }
  }

  std::printf("PyTorch eager: torch %s from %s, bf16 = %s\n\n",
              eager_torch.c_str(), options.python.c_str(),
              cuda ? "CUDA autocast with scaled_dot_product_attention"
                   : "CPU autocast (torch.autocast)");
  std::printf("%-6s %-9s %12s %16s %7s   %s\n", "model", "precision",
              "iv clips/s", "PyTorch clips/s", "ratio",
              "(by CPU time: iv, PyTorch, ratio)");
  for (const Row& row : rows) {
    std::printf("%-6s %-9s %12.3f %16.3f %6.2fx   (%.3f, %.3f, %.2fx)\n",
                row.model.c_str(), row.precision.c_str(), row.iv.wall,
                row.eager.wall, row.iv.wall / row.eager.wall, row.iv.cpu,
                row.eager.cpu, row.iv.cpu / row.eager.cpu);
  }
  std::printf("\ntarget: iv bf16 >= %s PyTorch eager bf16\n",
              cuda ? "1.5x (GPU, eager with SDPA)" : "1.2x (CPU)");
  if (!accuracy.empty()) {
    std::printf("bf16 accuracy cost (same weights and clip):\n");
    for (const std::string& line : accuracy) std::printf("%s\n", line.c_str());
  }
  return true;
}

}  // namespace iv::bench
