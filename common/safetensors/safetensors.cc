#include "common/safetensors/safetensors.h"

#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/files/atomic_file.h"

namespace iv {
namespace {

// Headers are a few kB even for large checkpoints; a bigger length means the
// file is not safetensors.
constexpr uint64_t kMaxHeaderBytes = 100 << 20;

struct DtypeName {
  torch::ScalarType type;
  const char* name;
};
constexpr DtypeName kDtypes[] = {
    {torch::kFloat32, "F32"},   {torch::kFloat16, "F16"},
    {torch::kBFloat16, "BF16"}, {torch::kFloat64, "F64"},
    {torch::kInt64, "I64"},     {torch::kInt32, "I32"},
    {torch::kInt16, "I16"},     {torch::kInt8, "I8"},
    {torch::kUInt8, "U8"},      {torch::kBool, "BOOL"},
};

absl::StatusOr<const char*> DtypeToName(torch::ScalarType type) {
  for (const DtypeName& d : kDtypes) {
    if (d.type == type) return d.name;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("dtype ", c10::toString(type), " has no safetensors name"));
}

absl::StatusOr<torch::ScalarType> NameToDtype(const std::string& name) {
  for (const DtypeName& d : kDtypes) {
    if (name == d.name) return d.type;
  }
  return absl::DataLossError(absl::StrCat("unknown dtype '", name, "'"));
}

}  // namespace

const torch::Tensor* TensorFile::Find(const std::string& name) const {
  for (const auto& [key, tensor] : tensors) {
    if (key == name) return &tensor;
  }
  return nullptr;
}

absl::Status WriteSafetensors(const std::string& path, const TensorFile& file) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  std::vector<torch::Tensor> contiguous;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : file.tensors) {
    if (name.empty() || name == "__metadata__" || !names.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor name '", name, "' is empty, reserved or repeated"));
    }
    absl::StatusOr<const char*> dtype = DtypeToName(tensor.scalar_type());
    if (!dtype.ok()) return dtype.status();
    contiguous.push_back(tensor.to(torch::kCPU).contiguous());
    uint64_t bytes = contiguous.back().nbytes();
    header[name] = {{"dtype", *dtype},
                    {"shape", tensor.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text = header.dump();
  // Pad with spaces so the data starts 8-byte aligned, as the format allows.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  uint64_t header_size = header_text.size();  // x86-64: little-endian already.

  absl::StatusOr<std::unique_ptr<files::AtomicFileWriter>> out =
      files::AtomicFileWriter::Open(path);
  if (!out.ok()) return out.status();
  absl::Status status = (*out)->Append(&header_size, sizeof(header_size));
  if (status.ok()) {
    status = (*out)->Append(header_text.data(), header_text.size());
  }
  for (size_t i = 0; status.ok() && i < contiguous.size(); ++i) {
    status = (*out)->Append(contiguous[i].data_ptr(), contiguous[i].nbytes());
  }
  return status.ok() ? (*out)->Commit() : status;
}

absl::StatusOr<TensorFile> ReadSafetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in)
    return absl::NotFoundError(absl::StrCat("'", path, "': no such file"));
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  auto corrupt = [&path](const std::string& why) {
    return absl::DataLossError(
        absl::StrCat("'", path, "' is not a valid safetensors file: ", why));
  };
  uint64_t header_size = 0;
  if (file_size < sizeof(header_size) ||
      !in.read(reinterpret_cast<char*>(&header_size), sizeof(header_size))) {
    return corrupt("shorter than its 8-byte header length");
  }
  if (header_size > kMaxHeaderBytes ||
      header_size > file_size - sizeof(header_size)) {
    return corrupt(absl::StrCat("header length ", header_size,
                                " does not fit a file of ", file_size,
                                " bytes (truncated?)"));
  }
  std::string header_text(header_size, '\0');
  in.read(header_text.data(), header_size);
  nlohmann::json header = nlohmann::json::parse(header_text, nullptr, false);
  if (header.is_discarded() || !header.is_object()) {
    return corrupt("the header is not a JSON object");
  }
  const uint64_t data_size = file_size - sizeof(header_size) - header_size;

  struct Entry {
    std::string name;
    torch::ScalarType dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  TensorFile file;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return corrupt("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          return corrupt("__metadata__ values must be strings");
        file.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const nlohmann::json& t = *it;
    if (!t.is_object() || !t.contains("dtype") || !t["dtype"].is_string() ||
        !t.contains("shape") || !t["shape"].is_array() ||
        !t.contains("data_offsets") || !t["data_offsets"].is_array() ||
        t["data_offsets"].size() != 2) {
      return corrupt(absl::StrCat("tensor '", it.key(),
                                  "' lacks dtype, shape or data_offsets"));
    }
    absl::StatusOr<torch::ScalarType> dtype =
        NameToDtype(t["dtype"].get<std::string>());
    if (!dtype.ok()) return corrupt(std::string(dtype.status().message()));
    Entry entry{it.key(), *dtype, {}, 0, 0};
    // Checked like the reference reader (checked_mul): a wrapped product
    // would pass the byte-range check below and then allocate the shape.
    uint64_t elements = 1;
    for (const nlohmann::json& d : t["shape"]) {
      if (!d.is_number_unsigned())
        return corrupt("a shape entry is not a size");
      const uint64_t size = d.get<uint64_t>();
      if (size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          __builtin_mul_overflow(elements, size, &elements)) {
        return corrupt(absl::StrCat("tensor '", entry.name, "' has shape ",
                                    t["shape"].dump(),
                                    " whose element count overflows 64 bits"));
      }
      entry.shape.push_back(static_cast<int64_t>(size));
    }
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(elements, c10::elementSize(*dtype), &bytes)) {
      return corrupt(absl::StrCat("tensor '", entry.name, "' has shape ",
                                  t["shape"].dump(),
                                  " whose byte size overflows 64 bits"));
    }
    if (!t["data_offsets"][0].is_number_unsigned() ||
        !t["data_offsets"][1].is_number_unsigned()) {
      return corrupt("data_offsets are not byte positions");
    }
    entry.begin = t["data_offsets"][0].get<uint64_t>();
    entry.end = t["data_offsets"][1].get<uint64_t>();
    if (entry.begin > entry.end || entry.end > data_size ||
        entry.end - entry.begin != bytes) {
      return corrupt(absl::StrCat("tensor '", entry.name, "' claims bytes [",
                                  entry.begin, ", ", entry.end, ") of ",
                                  data_size,
                                  ", inconsistent with its shape "
                                  "(truncated?)"));
    }
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].begin < entries[i - 1].end) {
      return corrupt(absl::StrCat("tensors '", entries[i - 1].name, "' and '",
                                  entries[i].name, "' overlap"));
    }
  }
  const uint64_t data_start = sizeof(header_size) + header_size;
  for (const Entry& entry : entries) {
    torch::Tensor tensor = torch::empty(entry.shape, entry.dtype);
    in.seekg(static_cast<std::streamoff>(data_start + entry.begin));
    if (!in.read(static_cast<char*>(tensor.data_ptr()),
                 static_cast<std::streamsize>(entry.end - entry.begin))) {
      return corrupt(absl::StrCat("cannot read tensor '", entry.name, "'"));
    }
    file.tensors.emplace_back(entry.name, std::move(tensor));
  }
  return file;
}

}  // namespace iv
