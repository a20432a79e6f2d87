// The records of one collection in RocksDB, the source of truth of
// IndexService: its definition, its records and its write sequence number.
//
// RocksDB keys (one database holds every collection; names have no '/'):
//   collection/<name>     the Collection definition
//   sequence/<name>       the collection's last write sequence number
//   record/<name>/<id>    8-byte little-endian sequence number + Record
// Every write is synchronous (the WAL is fsynced before it returns), so an
// acknowledged upsert or delete survives kill -9 and power loss.
//
// A record's sequence number is that of the write that stored it: a
// snapshot covering sequence s holds exactly the records stored at s or
// before, so reopening replays only the later ones.
//
// Thread safety: RecordStore keeps no state beyond the database, which
// RocksDB makes safe for concurrent use; its callers order their writes.
#ifndef INDEX_SERVICE_RECORD_STORE_H_
#define INDEX_SERVICE_RECORD_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "protos/index_service.pb.h"
#include "rocksdb/db.h"

namespace iv::index {

// Longest record id (README "Limits").
inline constexpr size_t kMaxIdBytes = 512;

// A record to store, serialized by the caller (outside its locks).
struct SerializedRecord {
  std::string id;
  std::string bytes;  // Record::SerializeAsString(), vector included
};

class RecordStore {
 public:
  // Every stored definition, in name order.
  static absl::StatusOr<std::vector<internvideo::v1::Collection>>
  LoadDefinitions(rocksdb::DB* db);

  // The keys of collection `name` in `db`, which must outlive this object.
  RecordStore(rocksdb::DB* db, std::string name);

  RecordStore(const RecordStore&) = delete;
  RecordStore& operator=(const RecordStore&) = delete;

  // The key of record `id`, as errors name it.
  std::string RecordKey(const std::string& id) const;

  // Stores the collection's definition.
  absl::Status PutDefinition(const internvideo::v1::Collection& definition);

  // The sequence number of the collection's last write; 0 if it has none.
  // DATA_LOSS if it is unreadable.
  absl::StatusOr<uint64_t> ReadSequence() const;

  // Stores `records` (replacing those of the same ids) at `sequence`, and
  // `sequence` as the collection's last: one batch, all or none.
  absl::Status PutRecords(uint64_t sequence,
                          const std::vector<SerializedRecord>& records);

  // Deletes the records `ids` and stores `sequence` as the collection's
  // last: one batch, all or none.
  absl::Status DeleteRecords(uint64_t sequence,
                             const std::vector<std::string>& ids);

  // Deletes every record, the sequence number and the definition.
  absl::Status DeleteCollection();

  // Calls `visit(sequence, record)` for every stored record, in id order.
  // DATA_LOSS if a record does not parse.
  absl::Status ForEachRecord(
      const std::function<void(uint64_t sequence,
                               internvideo::v1::Record& record)>& visit) const;

  // The records `ids`, read in one MultiGet: one result per id, NOT_FOUND
  // for a missing record, DATA_LOSS for one that does not parse, INTERNAL
  // when RocksDB fails.
  std::vector<absl::StatusOr<internvideo::v1::Record>> ReadRecords(
      const std::vector<std::string>& ids) const;

  // The approximate disk size of the collection's records, memtables
  // included.
  uint64_t ApproximateBytes() const;

 private:
  rocksdb::DB* const db_;
  const std::string name_;
  const std::string record_prefix_;  // record/<name>/
};

}  // namespace iv::index

#endif  // INDEX_SERVICE_RECORD_STORE_H_
