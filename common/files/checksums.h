// CHECKSUMS: a folder's list of the files it is made of, one line each,
// "<CRC-32, 8 hex digits> <size in bytes> <name>", so that a reader can tell
// a file damaged after it was written (a flipped bit on disk, a partial
// copy) from a good one before it trusts the folder. The trainer writes one
// into every checkpoint; the model registry verifies it before serving.
#ifndef COMMON_FILES_CHECKSUMS_H_
#define COMMON_FILES_CHECKSUMS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace iv::files {

inline constexpr char kChecksumsFile[] = "CHECKSUMS";

// Writes <dir>/CHECKSUMS (atomically) for `files`, names relative to `dir`.
absl::Status WriteChecksums(const std::string& dir,
                            const std::vector<std::string>& files);

// Checks every file <dir>/CHECKSUMS lists. NOT_FOUND when there is no
// CHECKSUMS; DATA_LOSS naming the first file that is missing or differs,
// or a malformed line.
absl::Status VerifyChecksums(const std::string& dir);

}  // namespace iv::files

#endif  // COMMON_FILES_CHECKSUMS_H_
