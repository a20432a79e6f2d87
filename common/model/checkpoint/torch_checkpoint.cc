#include "common/model/checkpoint/torch_checkpoint.h"

#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace iv::model {
namespace {

using Ptr = std::shared_ptr<PickleValue>;
using Kind = PickleValue::Kind;

// How each format starts: a zip's first local file header; the legacy
// format's first pickle, PROTO 2 then the 10-byte LONG1 of its magic number.
constexpr absl::string_view kZipStart("PK\x03\x04", 4);
constexpr absl::string_view kLegacyStart("\x80\x02\x8a\x0a", 4);
// The legacy magic number 0x1950a86a20f9469cfc6c, little-endian, and the
// only protocol version there is.
constexpr absl::string_view kLegacyMagic(
    "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
constexpr int64_t kLegacyProtocol = 1001;

absl::Status WithContext(absl::string_view context,
                         const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(context, ": ", status.message()));
}

std::string Printable(absl::string_view text) {
  return absl::CHexEscape(text.substr(0, 80));
}

uint64_t LittleEndian(absl::string_view bytes, size_t offset, int width) {
  uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) {
    value = (value << 8) | static_cast<uint8_t>(bytes[offset + i]);
  }
  return value;
}

absl::Status ReadAt(std::ifstream& file, uint64_t file_size, uint64_t offset,
                    uint64_t n, std::string* out) {
  if (offset > file_size || n > file_size - offset) {
    return absl::DataLossError("truncated: a record lies past the end");
  }
  out->resize(n);
  file.seekg(offset);
  if (!file.read(out->data(), n)) return absl::DataLossError("read failed");
  return absl::OkStatus();
}

// The records of the archive whose data is compressed, named without the
// archive's folder. PyTorchStreamReader allocates a record's declared size
// and inflates into it, so a small deflated record could claim gigabytes;
// miniz keeps a stored record's bytes within the file. torch.save stores
// every record, so the records this reader reads must be stored.
absl::StatusOr<std::set<std::string>> CompressedRecords(std::ifstream& file,
                                                        uint64_t file_size) {
  const absl::Status truncated = absl::DataLossError(
      "not a zip archive, or a truncated one: no valid central directory");
  // The end-of-central-directory record: 22 bytes, then a comment of up to
  // 64 KiB.
  const uint64_t tail_size = std::min<uint64_t>(file_size, 22 + 0xFFFF);
  const uint64_t tail_start = file_size - tail_size;
  std::string tail;
  absl::Status status = ReadAt(file, file_size, tail_start, tail_size, &tail);
  if (!status.ok()) return status;
  const size_t end = tail.rfind("PK\x05\x06", std::string::npos, 4);
  if (end == std::string::npos || end + 22 > tail.size()) return truncated;
  uint64_t entries = LittleEndian(tail, end + 10, 2);
  uint64_t size = LittleEndian(tail, end + 12, 4);
  uint64_t offset = LittleEndian(tail, end + 16, 4);
  if (entries == 0xFFFF || size == 0xFFFFFFFF || offset == 0xFFFFFFFF) {
    // ZIP64: a 20-byte locator right before points at the ZIP64 end record.
    std::string locator, end64;
    if (tail_start + end < 20) return truncated;
    status = ReadAt(file, file_size, tail_start + end - 20, 20, &locator);
    if (!status.ok() || locator.compare(0, 4, "PK\x06\x07") != 0) {
      return truncated;
    }
    status = ReadAt(file, file_size, LittleEndian(locator, 8, 8), 56, &end64);
    if (!status.ok() || end64.compare(0, 4, "PK\x06\x06") != 0) {
      return truncated;
    }
    entries = LittleEndian(end64, 32, 8);
    size = LittleEndian(end64, 40, 8);
    offset = LittleEndian(end64, 48, 8);
  }
  std::string directory;
  if (!ReadAt(file, file_size, offset, size, &directory).ok()) return truncated;
  std::set<std::string> compressed;
  size_t pos = 0;
  for (uint64_t i = 0; i < entries; ++i) {
    if (directory.size() - pos < 46 ||
        directory.compare(pos, 4, "PK\x01\x02") != 0) {
      return truncated;
    }
    const size_t name_length = LittleEndian(directory, pos + 28, 2);
    if (LittleEndian(directory, pos + 10, 2) != 0) {
      const std::string name = directory.substr(pos + 46, name_length);
      compressed.insert(name.substr(std::min(name.size(), name.find('/') + 1)));
    }
    pos += 46 + name_length + LittleEndian(directory, pos + 30, 2) +
           LittleEndian(directory, pos + 32, 2);
  }
  return compressed;
}

absl::Status RefuseCompressed(const std::set<std::string>& compressed,
                              const std::string& record) {
  if (compressed.count(record) == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "record ", Printable(record),
      " is compressed, which torch.save never does; re-save the checkpoint "
      "with torch.save"));
}

// The records of a torch.save archive, refusing to read compressed ones.
class ZipRecords {
 public:
  static absl::StatusOr<std::unique_ptr<ZipRecords>> Open(
      const std::string& path, std::ifstream& file, uint64_t file_size) {
    absl::StatusOr<std::set<std::string>> compressed =
        CompressedRecords(file, file_size);
    if (!compressed.ok()) return compressed.status();
    // PyTorchStreamReader reads the format version as it opens.
    for (const char* record : {"version", ".data/version"}) {
      absl::Status status = RefuseCompressed(*compressed, record);
      if (!status.ok()) return status;
    }
    return std::unique_ptr<ZipRecords>(
        new ZipRecords(path, *std::move(compressed)));
  }

  bool Has(const std::string& record) { return reader_.hasRecord(record); }

  absl::StatusOr<std::tuple<at::DataPtr, size_t>> Read(
      const std::string& record) {
    absl::Status status = RefuseCompressed(compressed_, record);
    if (!status.ok()) return status;
    return reader_.getRecord(record);
  }

 private:
  ZipRecords(const std::string& path, std::set<std::string> compressed)
      : reader_(path), compressed_(std::move(compressed)) {}

  caffe2::serialize::PyTorchStreamReader reader_;
  std::set<std::string> compressed_;
};

// Reads storage `key` from its record data/<key>. `budget` is how many
// storage bytes are still allowed: a valid file holds each storage once, so
// all of them together fit in the file.
absl::StatusOr<torch::Tensor> ReadStorageRecord(ZipRecords& records,
                                                const std::string& key,
                                                torch::ScalarType dtype,
                                                int64_t numel,
                                                uint64_t* budget) {
  const uint64_t item_size = c10::elementSize(dtype);
  const std::string name = absl::StrCat("data/", key);
  if (static_cast<uint64_t>(numel) > *budget / item_size) {
    return absl::DataLossError(
        absl::StrCat("storage ", Printable(name), " of ", numel,
                     " elements is larger than what the file can hold"));
  }
  if (!records.Has(name)) {
    return absl::DataLossError(
        absl::StrCat("no record ", Printable(name), " for a storage"));
  }
  absl::StatusOr<std::tuple<at::DataPtr, size_t>> record = records.Read(name);
  if (!record.ok()) return record.status();
  auto& [data, size] = *record;
  const uint64_t bytes = numel * item_size;
  if (size != bytes) {
    return absl::DataLossError(absl::StrCat("record ", Printable(name), " has ",
                                            size, " bytes; its storage needs ",
                                            bytes));
  }
  *budget -= bytes;
  // The tensor owns the record's buffer, which LibTorch's allocator aligned.
  auto owner = std::make_shared<at::DataPtr>(std::move(data));
  return torch::from_blob(
      owner->get(), {numel}, [owner](void*) {},
      torch::TensorOptions().dtype(dtype));
}

absl::Status CheckByteOrder(ZipRecords& records) {
  // Storages are read as this machine's little-endian numbers; torch >= 2.1
  // records the writer's order.
  if (!records.Has("byteorder")) return absl::OkStatus();
  absl::StatusOr<std::tuple<at::DataPtr, size_t>> order =
      records.Read("byteorder");
  if (!order.ok()) return order.status();
  const absl::string_view text(static_cast<char*>(std::get<0>(*order).get()),
                               std::get<1>(*order));
  if (text == "little") return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("byte order '", Printable(text), "' is not supported"));
}

absl::StatusOr<Ptr> LoadZip(const std::string& path, std::ifstream& file,
                            uint64_t file_size) {
  absl::StatusOr<std::unique_ptr<ZipRecords>> opened =
      ZipRecords::Open(path, file, file_size);
  if (!opened.ok()) return opened.status();
  ZipRecords& records = **opened;
  if (!records.Has("data.pkl")) {
    return absl::DataLossError(
        "the archive has no data.pkl: not written by torch.save");
  }
  absl::Status status = CheckByteOrder(records);
  if (!status.ok()) return status;
  absl::StatusOr<std::tuple<at::DataPtr, size_t>> pickle =
      records.Read("data.pkl");
  if (!pickle.ok()) return pickle.status();
  uint64_t budget = file_size;
  const StorageFetcher fetch = [&](const std::string& key,
                                   torch::ScalarType dtype, int64_t numel) {
    return ReadStorageRecord(records, key, dtype, numel, &budget);
  };
  absl::StatusOr<Ptr> root = UnpickleTorch(
      absl::string_view(static_cast<char*>(std::get<0>(*pickle).get()),
                        std::get<1>(*pickle)),
      fetch);
  if (!root.ok()) return WithContext("data.pkl", root.status());
  return root;
}

// The legacy format: pickles of the magic number, the protocol version, the
// system's properties, the object and the list of storage keys, then each
// storage as its element count (8 bytes) and its bytes.
class LegacyReader {
 public:
  explicit LegacyReader(absl::string_view bytes)
      : rest_(bytes), budget_(bytes.size()) {}

  absl::StatusOr<Ptr> Read() {
    absl::Status status = ReadHeader();
    if (!status.ok()) return status;
    absl::StatusOr<Ptr> root = NextPickle(
        [this](const std::string& key, torch::ScalarType dtype, int64_t numel) {
          return NewStorage(key, dtype, numel);
        });
    if (!root.ok()) return root;
    status = ReadStorages();
    if (!status.ok()) return status;
    return root;
  }

 private:
  absl::StatusOr<Ptr> NextPickle(const StorageFetcher& fetch = nullptr) {
    ++pickles_;
    size_t consumed = 0;
    absl::StatusOr<Ptr> value = UnpickleTorch(rest_, fetch, &consumed);
    if (!value.ok()) {
      return WithContext(absl::StrCat("legacy format, pickle ", pickles_),
                         value.status());
    }
    rest_.remove_prefix(consumed);
    return value;
  }

  absl::Status ReadHeader() {
    absl::StatusOr<Ptr> magic = NextPickle();
    if (!magic.ok()) return magic.status();
    if ((*magic)->kind != Kind::kBigInt || (*magic)->text != kLegacyMagic) {
      return absl::DataLossError("not a torch.save file: wrong magic number");
    }
    absl::StatusOr<Ptr> protocol = NextPickle();
    if (!protocol.ok()) return protocol.status();
    if ((*protocol)->kind != Kind::kInt ||
        (*protocol)->integer != kLegacyProtocol) {
      return absl::InvalidArgumentError("unknown legacy protocol version");
    }
    absl::StatusOr<Ptr> system = NextPickle();
    if (!system.ok()) return system.status();
    const PickleValue* little_endian = (*system)->Find("little_endian");
    if (little_endian == nullptr || little_endian->kind != Kind::kBool ||
        !little_endian->boolean) {
      return absl::InvalidArgumentError(
          "saved on a big-endian machine, which is not supported");
    }
    return absl::OkStatus();
  }

  // Storages come after the object, so tensors are views of storages that
  // are allocated now and filled later. Like ReadStorageRecord, all storages
  // together must fit in the file.
  absl::StatusOr<torch::Tensor> NewStorage(const std::string& key,
                                           torch::ScalarType dtype,
                                           int64_t numel) {
    const uint64_t item_size = c10::elementSize(dtype);
    if (static_cast<uint64_t>(numel) > budget_ / item_size) {
      return absl::DataLossError(
          absl::StrCat("storage '", Printable(key), "' of ", numel,
                       " elements is larger than what the file can hold"));
    }
    budget_ -= numel * item_size;
    torch::Tensor storage = torch::empty({numel}, dtype);
    storages_.emplace(key, storage);
    return storage;
  }

  absl::Status ReadStorages() {
    absl::StatusOr<Ptr> keys = NextPickle();
    if (!keys.ok()) return keys.status();
    if ((*keys)->kind != Kind::kList) {
      return absl::DataLossError("the storage key list is not a list");
    }
    std::set<std::string> filled;
    for (const Ptr& key : (*keys)->items) {
      auto it = storages_.find(key->text);
      if (key->kind != Kind::kString || it == storages_.end() ||
          !filled.insert(key->text).second) {
        return absl::DataLossError(
            absl::StrCat("storage list names ", DescribePickleValue(*key),
                         ", which is not an unread storage of the object"));
      }
      absl::Status status = FillStorage(key->text, it->second);
      if (!status.ok()) return status;
    }
    if (filled.size() != storages_.size()) {
      return absl::DataLossError("a storage of the object has no data");
    }
    return absl::OkStatus();
  }

  absl::Status FillStorage(const std::string& key, torch::Tensor& storage) {
    const uint64_t bytes = storage.numel() * storage.element_size();
    if (rest_.size() < 8 || rest_.size() - 8 < bytes) {
      return absl::DataLossError(
          absl::StrCat("truncated: storage '", Printable(key), "' ends early"));
    }
    if (LittleEndian(rest_, 0, 8) != static_cast<uint64_t>(storage.numel())) {
      return absl::DataLossError(absl::StrCat(
          "storage '", Printable(key), "' has another size than declared"));
    }
    if (bytes > 0) std::memcpy(storage.data_ptr(), rest_.data() + 8, bytes);
    rest_.remove_prefix(8 + bytes);
    return absl::OkStatus();
  }

  absl::string_view rest_;
  uint64_t budget_;
  int pickles_ = 0;
  std::map<std::string, torch::Tensor> storages_;
};

absl::StatusOr<Ptr> LoadLegacy(std::ifstream& file, uint64_t file_size) {
  std::string bytes;
  absl::Status status = ReadAt(file, file_size, 0, file_size, &bytes);
  if (!status.ok()) return status;
  return LegacyReader(bytes).Read();
}

absl::StatusOr<Ptr> LoadByFormat(const std::string& path, std::ifstream& file,
                                 uint64_t file_size) {
  std::string start;
  absl::Status status =
      ReadAt(file, file_size, 0, std::min<uint64_t>(file_size, 4), &start);
  if (!status.ok()) return status;
  if (start == kZipStart) return LoadZip(path, file, file_size);
  if (start == kLegacyStart) return LoadLegacy(file, file_size);
  return absl::DataLossError(
      file_size == 0 ? "empty file"
                     : "not a PyTorch checkpoint: neither a zip archive nor "
                       "the legacy torch.save format");
}

// --- Finding the weights.

std::string KeyName(const PickleValue& key) {
  return key.kind == Kind::kString ? key.text : DescribePickleValue(key);
}

// Empty when `value` is a non-empty dict from names to tensors, else why not.
std::string WhyNotWeights(const PickleValue& value) {
  if (value.kind != Kind::kDict) {
    return absl::StrCat("is ", DescribePickleValue(value));
  }
  if (value.entries.empty()) return "is an empty dict";
  for (const auto& [key, entry] : value.entries) {
    if (key->kind != Kind::kString) {
      return absl::StrCat("has the key ", DescribePickleValue(*key));
    }
    if (entry->kind != Kind::kTensor) {
      return absl::StrCat("has '", Printable(key->text),
                          "' = ", DescribePickleValue(*entry),
                          ", not a tensor");
    }
  }
  return "";
}

absl::Status NoWeights(const PickleValue& root) {
  std::vector<std::string> reasons = {
      absl::StrCat("the top level ", WhyNotWeights(root))};
  for (const char* key : kWeightKeys) {
    if (const PickleValue* value = root.Find(key)) {
      reasons.push_back(absl::StrCat("'", key, "' ", WhyNotWeights(*value)));
    }
  }
  if (root.kind == Kind::kObject && absl::StartsWith(root.text, "__torch__")) {
    reasons.push_back(
        "this is a TorchScript archive (torch.jit.save): load it in Python "
        "and torch.save its state_dict()");
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "no dict of tensors at the top level or under '",
      absl::StrJoin(kWeightKeys, "', '"), "': ", absl::StrJoin(reasons, "; ")));
}

absl::Status FindWeights(const PickleValue& root, TorchCheckpoint* checkpoint) {
  const PickleValue* weights = nullptr;
  if (WhyNotWeights(root).empty()) {
    weights = &root;
  } else {
    for (const char* key : kWeightKeys) {
      const PickleValue* value = root.Find(key);
      if (value != nullptr && WhyNotWeights(*value).empty()) {
        weights = value;
        checkpoint->weights_key = key;
        break;
      }
    }
  }
  if (weights == nullptr) return NoWeights(root);
  std::set<std::string> names;
  for (const auto& [key, tensor] : weights->entries) {
    if (!names.insert(key->text).second) {
      return absl::DataLossError(
          absl::StrCat("weight '", Printable(key->text), "' appears twice"));
    }
    checkpoint->weights.emplace_back(key->text, tensor->tensor);
  }
  if (weights == &root) return absl::OkStatus();
  for (const auto& [key, value] : root.entries) {
    if (key->kind == Kind::kString && key->text == checkpoint->weights_key) {
      continue;
    }
    checkpoint->other_entries.emplace_back(KeyName(*key),
                                           DescribePickleValue(*value));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const PickleValue>> LoadTorchFile(
    const std::string& path) {
  std::error_code error;
  const std::filesystem::file_status status =
      std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  const uint64_t file_size = std::filesystem::file_size(path, error);
  std::ifstream file(path, std::ios::binary);
  if (!std::filesystem::is_regular_file(status) || error || !file) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a readable file"));
  }
  // LibTorch reports zip and tensor errors by throwing; a bad file must
  // never take the process down.
  try {
    absl::StatusOr<Ptr> root = LoadByFormat(path, file, file_size);
    if (!root.ok()) return WithContext(path, root.status());
    return std::shared_ptr<const PickleValue>(*std::move(root));
  } catch (const c10::Error& e) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": ", e.what()));
  }
}

absl::StatusOr<TorchCheckpoint> ReadTorchCheckpointWithInfo(
    const std::string& path) {
  absl::StatusOr<std::shared_ptr<const PickleValue>> root = LoadTorchFile(path);
  if (!root.ok()) return root.status();
  TorchCheckpoint checkpoint;
  checkpoint.root = *std::move(root);
  absl::Status status = FindWeights(*checkpoint.root, &checkpoint);
  if (!status.ok()) return WithContext(path, status);
  return checkpoint;
}

absl::StatusOr<NamedTensors> ReadTorchCheckpoint(const std::string& path) {
  absl::StatusOr<TorchCheckpoint> checkpoint =
      ReadTorchCheckpointWithInfo(path);
  if (!checkpoint.ok()) return checkpoint.status();
  return std::move(checkpoint->weights);
}

absl::Status ReplacePrefix(absl::string_view from, absl::string_view to,
                           NamedTensors* weights) {
  NamedTensors renamed = *weights;
  std::set<std::string> names;
  for (auto& [name, tensor] : renamed) {
    if (absl::StartsWith(name, from)) {
      name = absl::StrCat(to, absl::string_view(name).substr(from.size()));
    }
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("replacing the prefix '", from, "' with '", to,
                       "' gives two weights named '", name, "'"));
    }
  }
  *weights = std::move(renamed);
  return absl::OkStatus();
}

}  // namespace iv::model
