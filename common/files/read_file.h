// A whole file's bytes, for the small files (configs, lists, checkpoint
// metadata) that code reads in one piece.
#ifndef COMMON_FILES_READ_FILE_H_
#define COMMON_FILES_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace iv::files {

// NOT_FOUND naming `path` when it cannot be opened.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace iv::files

#endif  // COMMON_FILES_READ_FILE_H_
