// The snapshot file of a collection's index: the FAISS index and its label
// table, so that a restart loads the index instead of rebuilding it from
// every record.
//
// Layout (native byte order; snapshots do not move between machines):
//   "IVSNAP01"                 8 bytes of magic
//   SnapshotHeader             its in-memory bytes, padding included
//   uint64 label count, then per label: uint32 id size, the id bytes
//   the index, as faiss::write_index writes it
#ifndef INDEX_SERVICE_SNAPSHOT_FILE_H_
#define INDEX_SERVICE_SNAPSHOT_FILE_H_

#include <faiss/Index.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace iv::index {

// Written as its bytes: its layout is part of the file format.
struct SnapshotHeader {
  // The sequence number of the last write the index covers.
  uint64_t sequence = 0;
  // The collection's create time: a re-created collection of the same name
  // must not load an old collection's snapshot.
  int64_t create_seconds = 0;
  int64_t snapshot_unix_nanos = 0;
  // The index is the flat stand-in of an index not trained yet.
  uint8_t exact_until_trained = 0;
};

// Writes `header`, the label table `ids` (label i is record ids[i]; "" =
// deleted) and `index` to `path`, replacing the file there only once every
// write, the close and the fsync have succeeded (common/files/atomic_file):
// on an error the previous file stays. The error keeps the code of errno
// (e.g. RESOURCE_EXHAUSTED for a full disk); INTERNAL if FAISS throws.
absl::Status WriteSnapshotFile(const std::string& path,
                               const SnapshotHeader& header,
                               const std::vector<std::string>& ids,
                               const faiss::Index& index);

// The index of a snapshot file, filling `header` and the label table `ids`.
// DATA_LOSS if the file is unreadable or not a snapshot.
absl::StatusOr<std::unique_ptr<faiss::Index>> ReadSnapshotFile(
    const std::string& path, SnapshotHeader& header,
    std::vector<std::string>& ids);

}  // namespace iv::index

#endif  // INDEX_SERVICE_SNAPSHOT_FILE_H_
