// One collection of IndexService: its records in RocksDB, which are the
// source of truth (record_store.h), and the FAISS index derived from them
// (vector_index.h), saved by Snapshot (snapshot_file.h). A write is
// acknowledged once it is durable in RocksDB; the index follows it.
//
// The FAISS index holds vectors under positional labels 0, 1, 2, ... (the
// order they were added); a table maps labels to record ids. FAISS cannot
// remove vectors from every index type (HNSW cannot at all), so a deleted or
// replaced record's label becomes a tombstone: searches skip it (fetching
// more candidates to make up for it), and the index is rebuilt from RocksDB
// once tombstones exceed a fraction of it.
//
// Indexes that need training (IVF, PQ) are trained once the collection
// holds enough vectors for their centroids; until then the collection is
// searched exactly by a flat index of the same metric, so small collections
// answer correctly instead of failing or training on too few points.
//
// Thread safety: every method may be called concurrently. Searches, gets and
// stats share a lock; upserts, deletes and rebuilds hold it exclusively
// (absl::Mutex: a waiting writer is not starved by a stream of searches).
#ifndef INDEX_SERVICE_COLLECTION_INDEX_H_
#define INDEX_SERVICE_COLLECTION_INDEX_H_

#include <faiss/Index.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "index_service/record_store.h"
#include "protos/index_service.pb.h"
#include "rocksdb/db.h"

namespace iv::index {

struct CollectionOptions {
  // Largest k of a search.
  int max_k = 1000;
  // Most records in one upsert (more: RESOURCE_EXHAUSTED).
  int max_batch_records = 10000;
  // Largest encoded metadata of one record.
  int max_metadata_bytes = 64 << 10;
  // The index is rebuilt once tombstones exceed this fraction of it.
  double rebuild_tombstone_fraction = 0.25;
  // Training vectors per centroid an IVF or PQ index waits for (FAISS
  // warns below 39).
  int train_points_per_centroid = 39;
  // Where Snapshot writes <name>.snapshot files.
  std::string snapshot_dir;
  // Tests only (unset in production): called at named points with the
  // collection's name, to hold a call there or to make FAISS fail by
  // throwing. "search": in Search, holding the collection's lock shared;
  // "drop": in Drop, before taking the lock; "add": where vectors are added
  // to a FAISS index.
  std::function<void(absl::string_view point, const std::string& collection)>
      test_hook;
};

class CollectionIndex {
 public:
  // Checks a definition to be created and fills its defaults (cosine,
  // "Flat", efConstruction 40, efSearch 64, nprobe 16 or the IVF list
  // count if smaller). INVALID_ARGUMENT names the field, e.g.
  // "collection.index_factory: FAISS cannot parse 'HNSWx'", also for sizes
  // over the limits (README "Limits": IVF lists, HNSW M, code bits, ef,
  // nprobe), which are refused before FAISS allocates anything.
  static absl::Status CheckAndFillDefaults(
      internvideo::v1::Collection& definition);

  // Stores a new definition (checked and filled by CheckAndFillDefaults)
  // durably and opens it.
  static absl::StatusOr<std::unique_ptr<CollectionIndex>> Create(
      rocksdb::DB* db, const internvideo::v1::Collection& definition,
      const CollectionOptions& options);

  // Opens a stored collection: loads its snapshot and replays the writes
  // made after it, or (without a usable snapshot) rebuilds the index from
  // every record.
  static absl::StatusOr<std::unique_ptr<CollectionIndex>> Open(
      rocksdb::DB* db, const internvideo::v1::Collection& definition,
      const CollectionOptions& options);

  // The FAISS index of a file Snapshot wrote, and its label table (label i
  // is record ids[i]; "" = deleted): e.g. to compare the service with FAISS
  // in-process on the very same index. DATA_LOSS if it is unreadable.
  static absl::StatusOr<std::unique_ptr<faiss::Index>> ReadSnapshot(
      const std::string& path, std::vector<std::string>& ids);

  CollectionIndex(const CollectionIndex&) = delete;
  CollectionIndex& operator=(const CollectionIndex&) = delete;
  ~CollectionIndex();

  const internvideo::v1::Collection& definition() const { return definition_; }

  // Removes every record, the definition and the snapshot. Later calls on
  // this object answer NOT_FOUND.
  absl::Status Drop();

  // The RPCs of the same names, for this collection. Once a write is
  // durable it is acknowledged: if the index then fails to follow (FAISS
  // add, training or rebuild), the index is left behind the records (the
  // error is logged; searches miss the unindexed records) and every later
  // write rebuilds it until that succeeds.
  absl::StatusOr<int64_t> Upsert(
      const google::protobuf::RepeatedPtrField<internvideo::v1::Record>&
          records);
  absl::StatusOr<int64_t> Delete(
      const google::protobuf::RepeatedPtrField<std::string>& ids);
  absl::StatusOr<internvideo::v1::GetResponse> Get(
      const internvideo::v1::GetRequest& request) const;
  // Vector queries only (text and video are embedded by the caller).
  absl::StatusOr<internvideo::v1::SearchResponse> Search(
      const internvideo::v1::SearchRequest& request) const;
  absl::StatusOr<internvideo::v1::CollectionStats> Stats() const;
  absl::StatusOr<internvideo::v1::SnapshotResponse> Snapshot();

 private:
  CollectionIndex(rocksdb::DB* db, internvideo::v1::Collection definition,
                  const CollectionOptions& options);

  // Checks `embedding` against the collection (dimension, finite values,
  // model) and returns its values, L2-normalized for cosine. `field` names
  // it in errors.
  absl::StatusOr<std::vector<float>> CheckVector(
      const internvideo::v1::Embedding& embedding,
      const std::string& field) const;

  std::string SnapshotPath() const;
  absl::Status NotFoundIfDropped() const;
  // Adds `n` vectors to `index`; INTERNAL if FAISS throws.
  absl::Status AddVectors(faiss::Index& index, int64_t n,
                          const float* vectors) const;
  // The following need mutex_ held exclusively.
  // Replaces the index by one built from every record; on an error the old
  // index and tables are left as they were.
  absl::Status RebuildLocked();
  absl::Status LoadSnapshotLocked(bool& loaded);
  // Adds `records` (without their vectors) under the next labels, and
  // their `vectors` to the index.
  absl::Status AddLocked(std::vector<internvideo::v1::Record> records,
                         const std::vector<float>& vectors);
  // Puts `records` in the tables under the next labels (their vectors are
  // in the index already).
  void RegisterLocked(std::vector<internvideo::v1::Record> records);
  // After a durable write: adds its `records` to the index, or rebuilds
  // the index when that fails or it was behind; never fails the write.
  void FollowWriteLocked(std::vector<internvideo::v1::Record> records,
                         const std::vector<float>& vectors);
  void TombstoneLocked(int64_t label);
  absl::Status MaybeRebuildLocked();

  const internvideo::v1::Collection definition_;
  const CollectionOptions options_;
  RecordStore records_;  // of definition_
  // Vectors an untrained index waits for before it is trained (0: it needs
  // no training).
  int64_t training_threshold_ = 0;
  // IVF lists of the index (0: not IVF), the upper bound of nprobe.
  int64_t ivf_lists_ = 0;
  std::atomic<bool> snapshot_running_{false};
  // Unix time of the last snapshot in nanoseconds; 0: never.
  std::atomic<int64_t> last_snapshot_nanos_{0};

  mutable absl::Mutex mutex_;
  bool dropped_ = false;
  std::unique_ptr<faiss::Index> index_;
  // index_ is a flat stand-in for an index not trained yet.
  bool exact_until_trained_ = false;
  // A write is durable but the index failed to follow it.
  bool index_behind_ = false;
  std::vector<std::string> id_by_label_;  // "" = tombstone
  // The records without their vectors, so that searches and filters read
  // no disk (vectors are read from RocksDB only when a search asks for
  // them). Cleared for tombstones.
  std::vector<internvideo::v1::Record> record_by_label_;
  absl::flat_hash_map<std::string, int64_t> label_by_id_;
  int64_t tombstones_ = 0;
  int64_t segment_records_ = 0;
  uint64_t sequence_ = 0;  // of the last write
};

}  // namespace iv::index

#endif  // INDEX_SERVICE_COLLECTION_INDEX_H_
