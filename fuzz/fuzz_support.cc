#include "fuzz/fuzz_support.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "google/protobuf/stubs/logging.h"

namespace iv::fuzz {

MemoryFile::MemoryFile(const uint8_t* data, size_t size)
    : fd_(memfd_create("fuzz_input", MFD_CLOEXEC)),
      path_("/proc/self/fd/" + std::to_string(fd_)) {
  if (fd_ < 0) {
    std::perror("memfd_create");
    std::abort();
  }
  for (size_t done = 0; done < size;) {
    const ssize_t n = write(fd_, data + done, size - done);
    if (n <= 0) {
      std::perror("write to memfd");
      std::abort();
    }
    done += n;
  }
}

MemoryFile::~MemoryFile() { close(fd_); }

void CheckPreciseStatus(const absl::Status& status) {
  if (absl::IsUnknown(status) || absl::IsInternal(status)) {
    std::cerr << "imprecise status for a hostile input: " << status << "\n";
    std::abort();
  }
}

bool ParseProto(const uint8_t* data, size_t size,
                google::protobuf::MessageLite& message) {
  static const bool silenced = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)silenced;
  return message.ParseFromArray(data, static_cast<int>(size));
}

std::string ScratchDir() {
  static const std::string* const dir = [] {
    const std::filesystem::path base =
        std::filesystem::exists("/dev/shm")
            ? "/dev/shm"
            : std::filesystem::temp_directory_path();
    std::string pattern = (base / "iv_fuzz_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    auto* made = new std::string(pattern);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(*dir, ignored);
    });
    return made;
  }();
  return *dir;
}

}  // namespace iv::fuzz
