#include "index_service/snapshot_file.h"

#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <cstring>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files/atomic_file.h"
#include "index_service/record_store.h"

namespace iv::index {
namespace {

constexpr char kSnapshotMagic[8] = {'I', 'V', 'S', 'N', 'A', 'P', '0', '1'};
// The header is written as its bytes: a change of its size is a change of
// the file format, which existing snapshots would no longer match.
static_assert(sizeof(SnapshotHeader) == 32, "the snapshot format changed");

// FAISS's writer into an AtomicFileWriter, buffered (FAISS writes field by
// field). After the first error it writes nothing more and keeps it.
struct SnapshotWriter : faiss::IOWriter {
  explicit SnapshotWriter(files::AtomicFileWriter& file) : file(file) {}
  size_t operator()(const void* data, size_t size, size_t items) override {
    buffer.append(static_cast<const char*>(data), size * items);
    if (buffer.size() >= (1 << 20) && !Flush().ok()) return 0;
    return status.ok() ? items : 0;
  }
  absl::Status Flush() {
    if (status.ok()) status = file.Append(buffer.data(), buffer.size());
    buffer.clear();
    return status;
  }
  files::AtomicFileWriter& file;
  std::string buffer;
  absl::Status status;
};

bool WriteAll(faiss::IOWriter& writer, const void* data, size_t size) {
  return size == 0 || writer(data, size, 1) == 1;
}
bool ReadAll(faiss::IOReader& reader, void* data, size_t size) {
  return size == 0 || reader(data, size, 1) == 1;
}

// Null if the file is unreadable or not a snapshot.
std::unique_ptr<faiss::Index> ReadIndex(const std::string& path,
                                        SnapshotHeader& header,
                                        std::vector<std::string>& ids) {
  try {
    faiss::FileIOReader reader(path.c_str());
    char magic[8];
    uint64_t labels = 0;
    bool ok = ReadAll(reader, magic, 8) &&
              std::memcmp(magic, kSnapshotMagic, 8) == 0 &&
              ReadAll(reader, &header, sizeof(header)) &&
              ReadAll(reader, &labels, sizeof(labels));
    for (uint64_t i = 0; ok && i < labels; ++i) {
      uint32_t size = 0;
      // Ids are record ids: a longer one is a corrupt size, not to be
      // allocated.
      ok = ReadAll(reader, &size, sizeof(size)) && size <= kMaxIdBytes;
      std::string id(ok ? size : 0, '\0');
      ok = ok && ReadAll(reader, id.data(), size);
      ids.push_back(std::move(id));
    }
    if (!ok) return nullptr;
    return std::unique_ptr<faiss::Index>(faiss::read_index(&reader));
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // namespace

absl::Status WriteSnapshotFile(const std::string& path,
                               const SnapshotHeader& header,
                               const std::vector<std::string>& ids,
                               const faiss::Index& index) {
  absl::StatusOr<std::unique_ptr<files::AtomicFileWriter>> file =
      files::AtomicFileWriter::Open(path);
  if (!file.ok()) return file.status();
  SnapshotWriter writer(**file);
  try {
    const uint64_t labels = ids.size();
    bool ok = WriteAll(writer, kSnapshotMagic, 8) &&
              WriteAll(writer, &header, sizeof(header)) &&
              WriteAll(writer, &labels, sizeof(labels));
    for (const std::string& id : ids) {
      const uint32_t size = static_cast<uint32_t>(id.size());
      ok = ok && WriteAll(writer, &size, sizeof(size)) &&
           WriteAll(writer, id.data(), id.size());
    }
    if (ok) faiss::write_index(&index, &writer);
  } catch (const std::exception& e) {
    // A throw after a write error is that error's consequence: report the
    // write error (below), which carries errno's code.
    if (writer.status.ok()) return absl::InternalError(e.what());
  }
  absl::Status committed = writer.Flush();
  if (committed.ok()) committed = (*file)->Commit();
  return committed;
}

absl::StatusOr<std::unique_ptr<faiss::Index>> ReadSnapshotFile(
    const std::string& path, SnapshotHeader& header,
    std::vector<std::string>& ids) {
  ids.clear();
  std::unique_ptr<faiss::Index> index = ReadIndex(path, header, ids);
  if (index == nullptr) {
    return absl::DataLossError(
        absl::StrCat(path, " is not a readable index snapshot"));
  }
  return index;
}

}  // namespace iv::index
