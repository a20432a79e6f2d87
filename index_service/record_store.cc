#include "index_service/record_store.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rocksdb/write_batch.h"

namespace iv::index {
namespace {

using internvideo::v1::Collection;
using internvideo::v1::Record;

constexpr char kCollectionPrefix[] = "collection/";

std::string CollectionKey(const std::string& name) {
  return absl::StrCat(kCollectionPrefix, name);
}
std::string SequenceKey(const std::string& name) {
  return absl::StrCat("sequence/", name);
}

absl::Status FromRocks(const rocksdb::Status& status, const std::string& what) {
  if (status.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", status.ToString()));
}

// Writes are acknowledged only once they are durable: the WAL is fsynced
// before a write returns.
rocksdb::WriteOptions SyncedWrite() {
  rocksdb::WriteOptions write;
  write.sync = true;
  return write;
}

absl::Status WriteSynced(rocksdb::DB* db, rocksdb::WriteBatch& batch,
                         const std::string& what) {
  return FromRocks(db->Write(SyncedWrite(), &batch), what);
}

// Sequence numbers are stored as 8 little-endian bytes.
std::string EncodeSequence(uint64_t sequence) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(sequence >> (8 * i));
  return bytes;
}

uint64_t DecodeSequence(const char* bytes) {
  uint64_t sequence = 0;
  for (int i = 0; i < 8; ++i) {
    sequence |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i]))
                << (8 * i);
  }
  return sequence;
}

bool DecodeRecord(const rocksdb::Slice& value, uint64_t& sequence,
                  Record& record) {
  if (value.size() < 8) return false;
  sequence = DecodeSequence(value.data());
  return record.ParseFromArray(value.data() + 8,
                               static_cast<int>(value.size() - 8));
}

}  // namespace

absl::StatusOr<std::vector<Collection>> RecordStore::LoadDefinitions(
    rocksdb::DB* db) {
  std::vector<Collection> definitions;
  const std::string prefix = kCollectionPrefix;
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    Collection definition;
    if (!definition.ParseFromArray(it->value().data(),
                                   static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat(
          "collection record ", it->key().ToString(), " does not parse"));
    }
    definitions.push_back(std::move(definition));
  }
  absl::Status status = FromRocks(it->status(), "cannot read collections");
  if (!status.ok()) return status;
  return definitions;
}

RecordStore::RecordStore(rocksdb::DB* db, std::string name)
    : db_(db),
      name_(std::move(name)),
      record_prefix_(absl::StrCat("record/", name_, "/")) {}

std::string RecordStore::RecordKey(const std::string& id) const {
  return record_prefix_ + id;
}

absl::Status RecordStore::PutDefinition(const Collection& definition) {
  return FromRocks(db_->Put(SyncedWrite(), CollectionKey(name_),
                            definition.SerializeAsString()),
                   absl::StrCat("cannot store collection ", name_));
}

absl::StatusOr<uint64_t> RecordStore::ReadSequence() const {
  std::string sequence;
  rocksdb::Status got =
      db_->Get(rocksdb::ReadOptions(), SequenceKey(name_), &sequence);
  if (got.ok() && sequence.size() == 8) return DecodeSequence(sequence.data());
  if (got.IsNotFound()) return 0;
  return absl::DataLossError(absl::StrCat("sequence of collection ", name_,
                                          " is unreadable: ", got.ToString()));
}

absl::Status RecordStore::PutRecords(
    uint64_t sequence, const std::vector<SerializedRecord>& records) {
  rocksdb::WriteBatch batch;
  const std::string header = EncodeSequence(sequence);
  for (const SerializedRecord& record : records) {
    batch.Put(RecordKey(record.id), header + record.bytes);
  }
  batch.Put(SequenceKey(name_), header);
  return WriteSynced(db_, batch, "cannot store the records");
}

absl::Status RecordStore::DeleteRecords(uint64_t sequence,
                                        const std::vector<std::string>& ids) {
  rocksdb::WriteBatch batch;
  for (const std::string& id : ids) batch.Delete(RecordKey(id));
  batch.Put(SequenceKey(name_), EncodeSequence(sequence));
  return WriteSynced(db_, batch, "cannot delete the records");
}

absl::Status RecordStore::DeleteCollection() {
  // Every key of the collection's records sorts before record/<name>0.
  std::string end = record_prefix_;
  end.back() = '/' + 1;
  rocksdb::WriteBatch batch;
  batch.DeleteRange(record_prefix_, end);
  batch.Delete(SequenceKey(name_));
  batch.Delete(CollectionKey(name_));
  return WriteSynced(db_, batch,
                     absl::StrCat("cannot delete collection ", name_));
}

absl::Status RecordStore::ForEachRecord(
    const std::function<void(uint64_t, Record&)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(record_prefix_);
       it->Valid() && it->key().starts_with(record_prefix_); it->Next()) {
    uint64_t sequence;
    Record record;
    if (!DecodeRecord(it->value(), sequence, record)) {
      return absl::DataLossError(
          absl::StrCat("record ", it->key().ToString(), " does not parse"));
    }
    visit(sequence, record);
  }
  return FromRocks(it->status(), "cannot read records");
}

std::vector<absl::StatusOr<Record>> RecordStore::ReadRecords(
    const std::vector<std::string>& ids) const {
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  for (const std::string& id : ids) keys.push_back(RecordKey(id));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<std::string> values;
  std::vector<rocksdb::Status> statuses =
      db_->MultiGet(rocksdb::ReadOptions(), slices, &values);
  std::vector<absl::StatusOr<Record>> records;
  records.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) {
      records.push_back(
          absl::NotFoundError(absl::StrCat("record ", keys[i], " not found")));
      continue;
    }
    if (!statuses[i].ok()) {
      records.push_back(FromRocks(statuses[i], "cannot read records"));
      continue;
    }
    uint64_t sequence;
    Record record;
    if (!DecodeRecord(values[i], sequence, record)) {
      records.push_back(absl::DataLossError(
          absl::StrCat("record ", keys[i], " does not parse")));
      continue;
    }
    records.push_back(std::move(record));
  }
  return records;
}

uint64_t RecordStore::ApproximateBytes() const {
  std::string limit = record_prefix_;
  limit.back() = '/' + 1;
  rocksdb::Range range(record_prefix_, limit);
  uint64_t bytes = 0;
  rocksdb::SizeApproximationOptions sizing;
  sizing.include_memtables = true;
  sizing.include_files = true;
  db_->GetApproximateSizes(sizing, db_->DefaultColumnFamily(), &range, 1,
                           &bytes);
  return bytes;
}

}  // namespace iv::index
