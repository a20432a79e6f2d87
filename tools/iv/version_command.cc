#include "tools/iv/version_command.h"

#include <faiss/Index.h>
#include <google/protobuf/stubs/common.h>
#include <grpcpp/grpcpp.h>
#include <rocksdb/version.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <cstdio>
#include <string>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "common/version.h"

extern "C" {
#include <libavutil/avutil.h>
}

namespace iv::cli {
namespace {

void PrintVersion() {
  std::printf("iv %s\n", kVersion);
  auto line = [](const char* name, const std::string& version) {
    std::printf("  %-9s %s\n", name, version.c_str());
  };
  line("LibTorch", absl::StrCat(TORCH_VERSION, torch::cuda::is_available()
                                                   ? " (CUDA available)"
                                                   : " (CPU only)"));
  line("gRPC", grpc::Version());
  line("Protobuf",
       google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION));
  line("FFmpeg", av_version_info());
  line("FAISS", absl::StrCat(FAISS_VERSION_MAJOR, ".", FAISS_VERSION_MINOR, ".",
                             FAISS_VERSION_PATCH));
  line("RocksDB",
       absl::StrCat(ROCKSDB_MAJOR, ".", ROCKSDB_MINOR, ".", ROCKSDB_PATCH));
  line("Abseil", absl::StrCat(ABSL_LTS_RELEASE_VERSION));
}

}  // namespace

void AddVersionCommand(CLI::App& iv) {
  iv.add_subcommand("version",
                    "Print the version of iv and of the libraries it uses")
      ->callback(PrintVersion);
}

}  // namespace iv::cli
