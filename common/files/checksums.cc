#include "common/files/checksums.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/files/atomic_file.h"
#include "common/files/read_file.h"

namespace iv::files {
namespace {

uint32_t Crc32(const std::string& bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes lengths as uInt: feed large files in pieces.
  for (size_t at = 0; at < bytes.size(); at += 1u << 30) {
    const size_t n = std::min<size_t>(bytes.size() - at, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at),
                static_cast<uInt>(n));
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

absl::Status WriteChecksums(const std::string& dir,
                            const std::vector<std::string>& files) {
  std::string listing;
  for (const std::string& file : files) {
    absl::StatusOr<std::string> bytes = ReadFile(absl::StrCat(dir, "/", file));
    if (!bytes.ok()) return bytes.status();
    absl::StrAppendFormat(&listing, "%08x %d %s\n", Crc32(*bytes),
                          bytes->size(), file);
  }
  return WriteFileAtomically(absl::StrCat(dir, "/", kChecksumsFile), listing);
}

absl::Status VerifyChecksums(const std::string& dir) {
  absl::StatusOr<std::string> listing =
      ReadFile(absl::StrCat(dir, "/", kChecksumsFile));
  if (!listing.ok()) {
    return absl::NotFoundError(absl::StrCat(dir, ": no ", kChecksumsFile));
  }
  for (absl::string_view line :
       absl::StrSplit(*listing, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    uint32_t crc = 0;
    size_t size = 0;
    if (fields.size() != 3 || !absl::SimpleHexAtoi(fields[0], &crc) ||
        !absl::SimpleAtoi(fields[1], &size)) {
      return absl::DataLossError(
          absl::StrCat(dir, "/", kChecksumsFile, ": malformed line"));
    }
    absl::StatusOr<std::string> bytes =
        ReadFile(absl::StrCat(dir, "/", fields[2]));
    if (!bytes.ok() || bytes->size() != size || Crc32(*bytes) != crc) {
      return absl::DataLossError(
          absl::StrCat(dir, "/", fields[2], ": checksum mismatch (the file is ",
                       bytes.ok() ? "damaged" : "missing", ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace iv::files
