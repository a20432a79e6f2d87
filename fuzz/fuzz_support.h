// Helpers the fuzz targets share.
#ifndef FUZZ_FUZZ_SUPPORT_H_
#define FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "google/protobuf/message_lite.h"

namespace iv::fuzz {

// Fuzz input as a file, for readers that take a path: an anonymous memory
// file (memfd), named by its /proc/self/fd path. Nothing touches the disk,
// and nothing is left behind when a run is killed.
class MemoryFile {
 public:
  // Aborts if the file cannot be made: the fuzz run is then meaningless.
  MemoryFile(const uint8_t* data, size_t size);
  ~MemoryFile();
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

// Aborts (a finding) when `status` is UNKNOWN or INTERNAL: hostile input
// must get a precise status (INVALID_ARGUMENT, DATA_LOSS, ...), never an
// escaped exception or a failed allocation reported as UNKNOWN.
void CheckPreciseStatus(const absl::Status& status);

// ParseFromArray, with protobuf's complaints about the bytes (invalid UTF-8
// in a string field) silenced: they would drown the fuzzer's output.
bool ParseProto(const uint8_t* data, size_t size,
                google::protobuf::MessageLite& message);

// A folder of its own under /dev/shm (else /tmp) for stateful targets,
// removed at exit; in memory, so synced writes cost no disk flush.
std::string ScratchDir();

}  // namespace iv::fuzz

#endif  // FUZZ_FUZZ_SUPPORT_H_
