#include "common/testing/damaged_checkpoint.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/files/read_file.h"

namespace iv::test {

absl::Status GiveATensorShape(const std::string& weights,
                              const std::string& shape) {
  absl::StatusOr<std::string> bytes = files::ReadFile(weights);
  if (!bytes.ok()) return bytes.status();
  uint64_t header_size = 0;
  if (bytes->size() < sizeof(header_size)) {
    return absl::InvalidArgumentError(absl::StrCat(weights, ": too short"));
  }
  std::memcpy(&header_size, bytes->data(), sizeof(header_size));
  nlohmann::ordered_json header = nlohmann::ordered_json::parse(
      bytes->substr(sizeof(header_size), header_size));
  for (auto& [name, tensor] : header.items()) {
    if (name == "__metadata__") continue;
    tensor["shape"] = nlohmann::ordered_json::parse(shape);
    tensor["data_offsets"][1] = tensor["data_offsets"][0];
    break;
  }
  const std::string text = header.dump();
  const uint64_t new_size = text.size();
  std::ofstream out(weights, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(&new_size), sizeof(new_size));
  out << text << bytes->substr(sizeof(header_size) + header_size);
  out.close();
  if (!out) return absl::InternalError(absl::StrCat(weights, ": not written"));
  return absl::OkStatus();
}

}  // namespace iv::test
