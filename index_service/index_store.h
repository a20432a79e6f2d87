// The library behind IndexService: named collections of embeddings with
// metadata, kept in one RocksDB database (the source of truth) with a FAISS
// index per collection derived from it (see collection_index.h). No gRPC
// here: the service is a thin layer over this class.
//
// Layout of a data directory:
//   DATA_DIR/db/                     RocksDB: definitions and records
//   DATA_DIR/snapshots/NAME.snapshot FAISS index + label table (Snapshot)
#ifndef INDEX_SERVICE_INDEX_STORE_H_
#define INDEX_SERVICE_INDEX_STORE_H_

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index_service/collection_index.h"
#include "protos/index_service.pb.h"
#include "rocksdb/db.h"

namespace iv::index {

struct IndexStoreOptions {
  // Created if missing. Required.
  std::string data_dir;
  // Limits and index maintenance (snapshot_dir is set from data_dir).
  CollectionOptions collection;
};

class IndexStore {
 public:
  // Opens the store and every collection in it (each index loaded from its
  // snapshot plus later writes, or rebuilt). FAILED_PRECONDITION when
  // another process holds the database.
  static absl::StatusOr<std::unique_ptr<IndexStore>> Open(
      const IndexStoreOptions& options);

  IndexStore(const IndexStore&) = delete;
  IndexStore& operator=(const IndexStore&) = delete;
  ~IndexStore();

  // The RPCs of IndexService (Search by vector only), with the statuses
  // protos/index_service.proto documents.
  absl::StatusOr<internvideo::v1::Collection> CreateCollection(
      internvideo::v1::Collection definition);
  absl::StatusOr<internvideo::v1::Collection> GetCollection(
      const std::string& name) const;
  std::vector<internvideo::v1::Collection> ListCollections() const;
  absl::Status DeleteCollection(const std::string& name);
  absl::StatusOr<int64_t> Upsert(const internvideo::v1::UpsertRequest& request);
  absl::StatusOr<int64_t> Delete(const internvideo::v1::DeleteRequest& request);
  absl::StatusOr<internvideo::v1::GetResponse> Get(
      const internvideo::v1::GetRequest& request) const;
  absl::StatusOr<internvideo::v1::SearchResponse> Search(
      const internvideo::v1::SearchRequest& request) const;
  absl::StatusOr<internvideo::v1::CollectionStats> GetStats(
      const std::string& name) const;
  absl::StatusOr<internvideo::v1::SnapshotResponse> Snapshot(
      const std::string& name);

 private:
  IndexStore(std::unique_ptr<rocksdb::DB> db, IndexStoreOptions options)
      : db_(std::move(db)), options_(std::move(options)) {}

  // NOT_FOUND for an unknown name.
  absl::StatusOr<std::shared_ptr<CollectionIndex>> Find(
      const std::string& name) const;

  std::unique_ptr<rocksdb::DB> db_;
  const IndexStoreOptions options_;
  mutable std::shared_mutex mutex_;  // guards collections_
  std::map<std::string, std::shared_ptr<CollectionIndex>> collections_;
};

}  // namespace iv::index

#endif  // INDEX_SERVICE_INDEX_STORE_H_
