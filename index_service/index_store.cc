#include "index_service/index_store.h"

#include <filesystem>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "index_service/record_store.h"
#include "rocksdb/options.h"

namespace iv::index {

absl::StatusOr<std::unique_ptr<IndexStore>> IndexStore::Open(
    const IndexStoreOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("data_dir: empty");
  }
  const std::filesystem::path root(options.data_dir);
  std::error_code error;
  std::filesystem::create_directories(root, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the data folder ", root.string(), ": ",
                     error.message()));
  }
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  rocksdb::Status status =
      rocksdb::DB::Open(db_options, (root / "db").string(), &db);
  if (!status.ok()) {
    // A second server on the same folder fails here on RocksDB's LOCK file.
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open the index database ", (root / "db").string(),
                     ": ", status.ToString()));
  }
  IndexStoreOptions resolved = options;
  resolved.collection.snapshot_dir = (root / "snapshots").string();
  std::unique_ptr<IndexStore> store(
      new IndexStore(std::unique_ptr<rocksdb::DB>(db), std::move(resolved)));
  absl::StatusOr<std::vector<internvideo::v1::Collection>> definitions =
      RecordStore::LoadDefinitions(store->db_.get());
  if (!definitions.ok()) return definitions.status();
  for (const internvideo::v1::Collection& definition : *definitions) {
    absl::StatusOr<std::unique_ptr<CollectionIndex>> collection =
        CollectionIndex::Open(store->db_.get(), definition,
                              store->options_.collection);
    if (!collection.ok()) return collection.status();
    store->collections_[definition.name()] = std::move(*collection);
  }
  return store;
}

IndexStore::~IndexStore() {
  collections_.clear();  // before the database they point into
}

absl::StatusOr<std::shared_ptr<CollectionIndex>> IndexStore::Find(
    const std::string& name) const {
  std::shared_lock lock(mutex_);
  auto found = collections_.find(name);
  if (found == collections_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "collection '", name, "' not found (ListCollections names them)"));
  }
  return found->second;
}

absl::StatusOr<internvideo::v1::Collection> IndexStore::CreateCollection(
    internvideo::v1::Collection definition) {
  absl::Status valid = CollectionIndex::CheckAndFillDefaults(definition);
  if (!valid.ok()) return valid;
  const int64_t nanos = absl::ToUnixNanos(absl::Now());
  definition.mutable_create_time()->set_seconds(nanos / 1000000000);
  definition.mutable_create_time()->set_nanos(nanos % 1000000000);
  std::unique_lock lock(mutex_);
  if (collections_.count(definition.name()) > 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("collection '", definition.name(), "' already exists"));
  }
  absl::StatusOr<std::unique_ptr<CollectionIndex>> collection =
      CollectionIndex::Create(db_.get(), definition, options_.collection);
  if (!collection.ok()) return collection.status();
  collections_[definition.name()] = std::move(*collection);
  return definition;
}

absl::StatusOr<internvideo::v1::Collection> IndexStore::GetCollection(
    const std::string& name) const {
  absl::StatusOr<std::shared_ptr<CollectionIndex>> collection = Find(name);
  if (!collection.ok()) return collection.status();
  return (*collection)->definition();
}

std::vector<internvideo::v1::Collection> IndexStore::ListCollections() const {
  std::shared_lock lock(mutex_);
  std::vector<internvideo::v1::Collection> definitions;
  for (const auto& [name, collection] : collections_) {
    definitions.push_back(collection->definition());
  }
  return definitions;
}

absl::Status IndexStore::DeleteCollection(const std::string& name) {
  // Drop waits for the collection's running searches and writes: not under
  // mutex_, which every call on every collection takes.
  absl::StatusOr<std::shared_ptr<CollectionIndex>> collection = Find(name);
  if (!collection.ok()) return collection.status();
  absl::Status dropped = (*collection)->Drop();
  if (!dropped.ok()) return dropped;
  std::unique_lock lock(mutex_);
  auto found = collections_.find(name);
  if (found != collections_.end() && found->second == *collection) {
    collections_.erase(found);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> IndexStore::Upsert(
    const internvideo::v1::UpsertRequest& request) {
  absl::StatusOr<std::shared_ptr<CollectionIndex>> collection =
      Find(request.collection());
  if (!collection.ok()) return collection.status();
  return (*collection)->Upsert(request.records());
}

absl::StatusOr<int64_t> IndexStore::Delete(
    const internvideo::v1::DeleteRequest& request) {
  absl::StatusOr<std::shared_ptr<CollectionIndex>> collection =
      Find(request.collection());
  if (!collection.ok()) return collection.status();
  return (*collection)->Delete(request.ids());
}

absl::StatusOr<internvideo::v1::GetResponse> IndexStore::Get(
    const internvideo::v1::GetRequest& request) const {
  absl::StatusOr<std::shared_ptr<CollectionIndex>> collection =
      Find(request.collection());
  if (!collection.ok()) return collection.status();
  return (*collection)->Get(request);
}

absl::StatusOr<internvideo::v1::SearchResponse> IndexStore::Search(
    const internvideo::v1::SearchRequest& request) const {
  absl::StatusOr<std::shared_ptr<CollectionIndex>> collection =
      Find(request.collection());
  if (!collection.ok()) return collection.status();
  return (*collection)->Search(request);
}

absl::StatusOr<internvideo::v1::CollectionStats> IndexStore::GetStats(
    const std::string& name) const {
  absl::StatusOr<std::shared_ptr<CollectionIndex>> collection = Find(name);
  if (!collection.ok()) return collection.status();
  return (*collection)->Stats();
}

absl::StatusOr<internvideo::v1::SnapshotResponse> IndexStore::Snapshot(
    const std::string& name) {
  absl::StatusOr<std::shared_ptr<CollectionIndex>> collection = Find(name);
  if (!collection.ok()) return collection.status();
  return (*collection)->Snapshot();
}

}  // namespace iv::index
