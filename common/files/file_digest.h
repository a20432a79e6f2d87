// Content digests of files, for change detection and published artifacts.
#ifndef COMMON_FILES_FILE_DIGEST_H_
#define COMMON_FILES_FILE_DIGEST_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace iv::files {

// The SHA-256 of the file's bytes as 64 lowercase hex digits; NOT_FOUND if
// it cannot be opened, DATA_LOSS if reading fails part-way.
absl::StatusOr<std::string> Sha256File(const std::string& path);

// The SHA-256 of `bytes`, in the same form.
std::string Sha256(absl::string_view bytes);

}  // namespace iv::files

#endif  // COMMON_FILES_FILE_DIGEST_H_
