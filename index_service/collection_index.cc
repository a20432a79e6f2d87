#include "index_service/collection_index.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "index_service/filter.h"
#include "index_service/snapshot_file.h"
#include "index_service/vector_index.h"

namespace iv::index {
namespace {

using internvideo::v1::Collection;
using internvideo::v1::Embedding;
using internvideo::v1::Record;

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// Appends the record's vector to `vectors` and drops it from the record.
void MoveVector(Record& record, std::vector<float>& vectors) {
  vectors.insert(vectors.end(), record.embedding().values().begin(),
                 record.embedding().values().end());
  record.clear_embedding();
}

google::protobuf::Timestamp ToProto(absl::Time time) {
  google::protobuf::Timestamp proto;
  const int64_t nanos = absl::ToUnixNanos(time);
  proto.set_seconds(nanos / 1000000000);
  proto.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return proto;
}

}  // namespace

absl::StatusOr<std::unique_ptr<faiss::Index>> CollectionIndex::ReadSnapshot(
    const std::string& path, std::vector<std::string>& ids) {
  SnapshotHeader header;
  return ReadSnapshotFile(path, header, ids);
}

absl::Status CollectionIndex::CheckAndFillDefaults(Collection& definition) {
  const std::string& name = definition.name();
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
                             "wxyz0123456789_-") != std::string::npos) {
    return Invalid(
        "collection.name",
        absl::StrCat("'", name, "' is not 1-64 characters of [A-Za-z0-9_-]"));
  }
  if (definition.dimension() < 1 || definition.dimension() > kMaxDimension) {
    return Invalid("collection.dimension",
                   absl::StrCat("must be in [1, ", kMaxDimension, "], got ",
                                definition.dimension()));
  }
  if (!internvideo::v1::Metric_IsValid(definition.metric())) {
    return Invalid("collection.metric", "unknown metric");
  }
  if (definition.metric() == internvideo::v1::METRIC_UNSPECIFIED) {
    definition.set_metric(internvideo::v1::METRIC_COSINE);
  }
  return CheckAndFillIndexDefaults(definition);
}

CollectionIndex::CollectionIndex(rocksdb::DB* db, Collection definition,
                                 const CollectionOptions& options)
    : definition_(std::move(definition)),
      options_(options),
      records_(db, definition_.name()) {}

CollectionIndex::~CollectionIndex() = default;

absl::StatusOr<std::unique_ptr<CollectionIndex>> CollectionIndex::Create(
    rocksdb::DB* db, const Collection& definition,
    const CollectionOptions& options) {
  absl::Status stored =
      RecordStore(db, definition.name()).PutDefinition(definition);
  if (!stored.ok()) return stored;
  return Open(db, definition, options);
}

absl::StatusOr<std::unique_ptr<CollectionIndex>> CollectionIndex::Open(
    rocksdb::DB* db, const Collection& definition,
    const CollectionOptions& options) {
  std::unique_ptr<CollectionIndex> collection(
      new CollectionIndex(db, definition, options));
  absl::StatusOr<std::unique_ptr<faiss::Index>> probe = NewIndex(definition);
  if (!probe.ok()) return probe.status();
  collection->training_threshold_ =
      TrainingThreshold(**probe, options.train_points_per_centroid);
  collection->ivf_lists_ = IvfLists(**probe);
  absl::StatusOr<uint64_t> sequence = collection->records_.ReadSequence();
  if (!sequence.ok()) return sequence.status();
  collection->sequence_ = *sequence;
  absl::MutexLock lock(&collection->mutex_);
  bool loaded = false;
  absl::Status status = collection->LoadSnapshotLocked(loaded);
  if (!status.ok()) return status;
  if (!loaded) {
    status = collection->RebuildLocked();
    if (!status.ok()) return status;
  }
  status = collection->MaybeRebuildLocked();
  if (!status.ok()) return status;
  return collection;
}

std::string CollectionIndex::SnapshotPath() const {
  return (std::filesystem::path(options_.snapshot_dir) /
          (definition_.name() + ".snapshot"))
      .string();
}

absl::Status CollectionIndex::NotFoundIfDropped() const {
  if (!dropped_) return absl::OkStatus();
  return absl::NotFoundError(
      absl::StrCat("collection '", definition_.name(), "' not found"));
}

absl::Status CollectionIndex::AddVectors(faiss::Index& index, int64_t n,
                                         const float* vectors) const {
  try {
    if (options_.test_hook) options_.test_hook("add", definition_.name());
    index.add(n, vectors);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(
        "adding to the index of ", definition_.name(), ": ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status CollectionIndex::RebuildLocked() {
  std::vector<Record> records;
  std::vector<float> vectors;
  absl::Status status = records_.ForEachRecord([&](uint64_t, Record& record) {
    MoveVector(record, vectors);
    records.push_back(std::move(record));
  });
  if (!status.ok()) return status;

  absl::StatusOr<std::unique_ptr<faiss::Index>> fresh = NewIndex(definition_);
  if (!fresh.ok()) return fresh.status();
  const int64_t n = static_cast<int64_t>(records.size());
  bool exact = false;
  if (!(*fresh)->is_trained) {
    if (n >= training_threshold_) {
      try {
        (*fresh)->train(n, vectors.data());
      } catch (const std::exception& e) {
        return absl::InternalError(absl::StrCat(
            "training the index of ", definition_.name(), ": ", e.what()));
      }
    } else {
      *fresh = NewExactIndex(definition_);
      exact = true;
    }
  }
  // Filled before anything is replaced: a failure leaves the old index.
  status = AddVectors(**fresh, n, vectors.data());
  if (!status.ok()) return status;
  index_ = std::move(*fresh);
  exact_until_trained_ = exact;
  id_by_label_.clear();
  record_by_label_.clear();
  label_by_id_.clear();
  tombstones_ = 0;
  segment_records_ = 0;
  RegisterLocked(std::move(records));
  index_behind_ = false;
  return absl::OkStatus();
}

absl::Status CollectionIndex::AddLocked(std::vector<Record> records,
                                        const std::vector<float>& vectors) {
  if (index_->ntotal != static_cast<int64_t>(id_by_label_.size())) {
    return absl::InternalError("index and label table disagree");
  }
  absl::Status status =
      AddVectors(*index_, static_cast<int64_t>(records.size()), vectors.data());
  if (!status.ok()) return status;
  RegisterLocked(std::move(records));
  return absl::OkStatus();
}

void CollectionIndex::RegisterLocked(std::vector<Record> records) {
  const int64_t first = static_cast<int64_t>(id_by_label_.size());
  for (size_t i = 0; i < records.size(); ++i) {
    label_by_id_[records[i].id()] = first + static_cast<int64_t>(i);
    id_by_label_.push_back(records[i].id());
    segment_records_ += records[i].has_segment();
    record_by_label_.push_back(std::move(records[i]));
  }
}

void CollectionIndex::FollowWriteLocked(std::vector<Record> records,
                                        const std::vector<float>& vectors) {
  absl::Status status;
  if (!index_behind_ && !records.empty()) {
    status = AddLocked(std::move(records), vectors);
  }
  // A rebuild reads the records back, this write's included.
  if (index_behind_ || !status.ok()) status = RebuildLocked();
  if (status.ok()) status = MaybeRebuildLocked();
  index_behind_ = !status.ok();
  if (index_behind_) {
    std::fprintf(stderr,
                 "index_service: the index of collection '%s' is behind its "
                 "records (%s); the next write rebuilds it\n",
                 definition_.name().c_str(), status.ToString().c_str());
  }
}

void CollectionIndex::TombstoneLocked(int64_t label) {
  label_by_id_.erase(id_by_label_[label]);
  id_by_label_[label].clear();
  segment_records_ -= record_by_label_[label].has_segment();
  record_by_label_[label] = Record();
  ++tombstones_;
}

absl::Status CollectionIndex::MaybeRebuildLocked() {
  const bool train =
      exact_until_trained_ &&
      static_cast<int64_t>(label_by_id_.size()) >= training_threshold_;
  const bool compact =
      tombstones_ > 0 &&
      tombstones_ > options_.rebuild_tombstone_fraction * index_->ntotal;
  return train || compact ? RebuildLocked() : absl::OkStatus();
}

absl::Status CollectionIndex::LoadSnapshotLocked(bool& loaded) {
  loaded = false;
  const std::string path = SnapshotPath();
  if (!std::filesystem::exists(path)) return absl::OkStatus();
  SnapshotHeader header;
  std::vector<std::string> snapshot_ids;
  absl::StatusOr<std::unique_ptr<faiss::Index>> index =
      ReadSnapshotFile(path, header, snapshot_ids);
  if (!index.ok() || (*index)->d != definition_.dimension() ||
      (*index)->ntotal != static_cast<int64_t>(snapshot_ids.size()) ||
      header.create_seconds != definition_.create_time().seconds() ||
      header.sequence > sequence_) {
    // Derived state only: an unusable snapshot costs a rebuild, never data.
    std::fprintf(stderr, "index_service: ignoring snapshot %s; rebuilding\n",
                 path.c_str());
    return absl::OkStatus();
  }

  absl::flat_hash_map<std::string, int64_t> snapshot_labels;
  for (size_t label = 0; label < snapshot_ids.size(); ++label) {
    if (!snapshot_ids[label].empty()) {
      snapshot_labels[snapshot_ids[label]] = static_cast<int64_t>(label);
    }
  }
  // Replay: records written after the snapshot are added again; the rest
  // keep their labels; labels whose record is gone become tombstones.
  index_ = std::move(*index);
  exact_until_trained_ = header.exact_until_trained != 0;
  id_by_label_.assign(snapshot_ids.size(), "");
  record_by_label_.assign(snapshot_ids.size(), Record());
  label_by_id_.clear();
  segment_records_ = 0;
  std::vector<Record> records;
  std::vector<float> vectors;
  absl::Status status =
      records_.ForEachRecord([&](uint64_t sequence, Record& record) {
        auto kept = snapshot_labels.find(record.id());
        if (kept != snapshot_labels.end() && sequence <= header.sequence) {
          record.clear_embedding();
          id_by_label_[kept->second] = record.id();
          label_by_id_[record.id()] = kept->second;
          segment_records_ += record.has_segment();
          record_by_label_[kept->second] = std::move(record);
        } else {
          MoveVector(record, vectors);
          records.push_back(std::move(record));
        }
      });
  if (!status.ok()) return status;
  tombstones_ = static_cast<int64_t>(id_by_label_.size() - label_by_id_.size());
  last_snapshot_nanos_ = header.snapshot_unix_nanos;
  loaded = true;
  return AddLocked(std::move(records), vectors);
}

absl::StatusOr<std::vector<float>> CollectionIndex::CheckVector(
    const Embedding& embedding, const std::string& field) const {
  const int dimension = definition_.dimension();
  if (embedding.values_size() != dimension) {
    return Invalid(field + ".values",
                   absl::StrCat(embedding.values_size(),
                                " values, collection expects ", dimension));
  }
  double norm = 0;
  for (int i = 0; i < dimension; ++i) {
    const float value = embedding.values(i);
    if (!std::isfinite(value)) {
      return Invalid(absl::StrCat(field, ".values[", i, "]"),
                     absl::StrCat("not a finite number (", value, ")"));
    }
    norm += static_cast<double>(value) * value;
  }
  if (!definition_.model_id().empty() &&
      !embedding.model().model_id().empty() &&
      embedding.model().model_id() != definition_.model_id()) {
    return absl::FailedPreconditionError(
        absl::StrCat(field, ".model.model_id: '", embedding.model().model_id(),
                     "', but collection '", definition_.name(),
                     "' holds embeddings of '", definition_.model_id(), "'"));
  }
  std::vector<float> values(embedding.values().begin(),
                            embedding.values().end());
  if (definition_.metric() == internvideo::v1::METRIC_COSINE) {
    if (norm == 0 || !std::isfinite(norm)) {
      return Invalid(field + ".values",
                     "a zero (or overflowing) vector has no cosine");
    }
    const float scale = static_cast<float>(1 / std::sqrt(norm));
    for (float& value : values) value *= scale;
  }
  return values;
}

absl::Status CollectionIndex::Drop() {
  if (options_.test_hook) options_.test_hook("drop", definition_.name());
  absl::MutexLock lock(&mutex_);
  if (absl::Status s = NotFoundIfDropped(); !s.ok()) return s;
  absl::Status status = records_.DeleteCollection();
  if (!status.ok()) return status;
  dropped_ = true;
  index_.reset();
  std::error_code ignored;
  std::filesystem::remove(SnapshotPath(), ignored);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> CollectionIndex::Upsert(
    const google::protobuf::RepeatedPtrField<Record>& records) {
  if (records.empty()) return Invalid("records", "empty");
  if (records.size() > options_.max_batch_records) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "records: ", records.size(), " records in one upsert, the limit is ",
        options_.max_batch_records, "; send smaller batches"));
  }
  // Everything is checked before anything is written: all or none.
  std::vector<Record> records_in_memory;
  std::vector<float> vectors;
  std::vector<SerializedRecord> serialized;
  absl::flat_hash_map<std::string, int> first_index;
  for (int i = 0; i < records.size(); ++i) {
    const Record& record = records[i];
    const std::string field = absl::StrCat("records[", i, "]");
    if (record.id().empty()) return Invalid(field + ".id", "empty");
    if (record.id().size() > kMaxIdBytes) {
      return Invalid(field + ".id",
                     absl::StrCat(record.id().size(), " bytes, the limit is ",
                                  kMaxIdBytes));
    }
    auto [seen, inserted] = first_index.emplace(record.id(), i);
    if (!inserted) {
      return Invalid(field + ".id",
                     absl::StrCat("'", record.id(), "' repeats records[",
                                  seen->second, "]"));
    }
    if (!record.has_embedding()) return Invalid(field + ".embedding", "unset");
    absl::StatusOr<std::vector<float>> vector =
        CheckVector(record.embedding(), field + ".embedding");
    if (!vector.ok()) return vector.status();
    if (record.has_segment()) {
      const auto& segment = record.segment();
      if (!(segment.start_s() >= 0) || !(segment.end_s() > segment.start_s()) ||
          !std::isfinite(segment.end_s())) {
        return Invalid(
            field + ".segment",
            absl::StrCat("needs 0 <= start_s < end_s, got [", segment.start_s(),
                         ", ", segment.end_s(), ")"));
      }
    }
    size_t metadata_bytes = 0;
    for (const auto& [key, value] : record.metadata()) {
      metadata_bytes += key.size() + value.ByteSizeLong();
    }
    if (metadata_bytes > static_cast<size_t>(options_.max_metadata_bytes)) {
      return Invalid(field + ".metadata",
                     absl::StrCat(metadata_bytes, " bytes, the limit is ",
                                  options_.max_metadata_bytes));
    }
    Record stored = record;
    stored.mutable_embedding()->mutable_values()->Assign(vector->begin(),
                                                         vector->end());
    serialized.push_back({stored.id(), stored.SerializeAsString()});
    stored.clear_embedding();
    records_in_memory.push_back(std::move(stored));
    vectors.insert(vectors.end(), vector->begin(), vector->end());
  }

  absl::MutexLock lock(&mutex_);
  if (absl::Status s = NotFoundIfDropped(); !s.ok()) return s;
  const uint64_t sequence = sequence_ + 1;
  absl::Status status = records_.PutRecords(sequence, serialized);
  if (!status.ok()) return status;
  sequence_ = sequence;

  // Durable from here on, so acknowledged: the index is derived state and
  // follows (or is rebuilt from RocksDB).
  for (const Record& record : records_in_memory) {
    auto old = label_by_id_.find(record.id());
    if (old != label_by_id_.end()) TombstoneLocked(old->second);
  }
  const int64_t count = static_cast<int64_t>(records_in_memory.size());
  FollowWriteLocked(std::move(records_in_memory), vectors);
  return count;
}

absl::StatusOr<int64_t> CollectionIndex::Delete(
    const google::protobuf::RepeatedPtrField<std::string>& ids) {
  if (ids.empty()) return Invalid("ids", "empty");
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i].empty()) return Invalid(absl::StrCat("ids[", i, "]"), "empty");
  }
  absl::MutexLock lock(&mutex_);
  if (absl::Status s = NotFoundIfDropped(); !s.ok()) return s;
  std::vector<int64_t> labels;
  std::vector<std::string> deleted_ids;
  absl::flat_hash_set<std::string> deleted;
  for (const std::string& id : ids) {
    auto found = label_by_id_.find(id);
    if (found == label_by_id_.end() || !deleted.insert(id).second) continue;
    labels.push_back(found->second);
    deleted_ids.push_back(id);
  }
  if (labels.empty()) return 0;
  const uint64_t sequence = sequence_ + 1;
  absl::Status status = records_.DeleteRecords(sequence, deleted_ids);
  if (!status.ok()) return status;
  sequence_ = sequence;
  for (int64_t label : labels) TombstoneLocked(label);
  FollowWriteLocked({}, {});
  return static_cast<int64_t>(labels.size());
}

absl::StatusOr<internvideo::v1::GetResponse> CollectionIndex::Get(
    const internvideo::v1::GetRequest& request) const {
  if (request.ids().empty()) return Invalid("ids", "empty");
  const std::vector<std::string> ids(request.ids().begin(),
                                     request.ids().end());
  absl::ReaderMutexLock lock(&mutex_);
  if (absl::Status s = NotFoundIfDropped(); !s.ok()) return s;
  std::vector<absl::StatusOr<Record>> read = records_.ReadRecords(ids);
  internvideo::v1::GetResponse response;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (absl::IsNotFound(read[i].status())) {
      response.add_missing_ids(ids[i]);
      continue;
    }
    if (!read[i].ok()) return read[i].status();
    Record* record = response.add_records();
    *record = std::move(*read[i]);
    if (!request.include_vectors()) record->clear_embedding();
  }
  return response;
}

absl::StatusOr<internvideo::v1::SearchResponse> CollectionIndex::Search(
    const internvideo::v1::SearchRequest& request) const {
  if (request.query_case() != internvideo::v1::SearchRequest::kVector) {
    return Invalid("query", "a vector is required here");
  }
  if (request.k() < 1 || request.k() > options_.max_k) {
    return Invalid("k", absl::StrCat("must be in [1, ", options_.max_k,
                                     "], got ", request.k()));
  }
  if (request.hnsw_ef_search() < 0 || request.hnsw_ef_search() > kMaxHnswEf) {
    return Invalid("hnsw_ef_search",
                   absl::StrCat("must be in [0, ", kMaxHnswEf,
                                "] (0: the collection's default), got ",
                                request.hnsw_ef_search()));
  }
  const int64_t max_nprobe =
      ivf_lists_ > 0 ? std::min(ivf_lists_, kMaxIvfNprobe) : kMaxIvfNprobe;
  if (request.ivf_nprobe() < 0 || request.ivf_nprobe() > max_nprobe) {
    return Invalid(
        "ivf_nprobe",
        absl::StrCat("must be in [0, ", max_nprobe,
                     "] (0: the collection's "
                     "default",
                     ivf_lists_ > 0 ? absl::StrCat("; its index has ",
                                                   ivf_lists_, " lists")
                                    : "",
                     "), got ", request.ivf_nprobe()));
  }
  if (!internvideo::v1::SegmentScope_IsValid(request.scope())) {
    return Invalid("scope", "unknown scope");
  }
  absl::Status valid = ValidateFilter(request.filter());
  if (!valid.ok()) return valid;
  absl::StatusOr<std::vector<float>> query =
      CheckVector(request.vector(), "vector");
  if (!query.ok()) return query.status();

  const int k = request.k();
  const auto scope = request.scope();
  const bool filtering = request.filter().must_size() > 0 ||
                         request.filter().must_not_size() > 0 ||
                         scope == internvideo::v1::SEGMENT_SCOPE_WHOLE_VIDEOS ||
                         scope == internvideo::v1::SEGMENT_SCOPE_SEGMENTS;
  const bool lower_is_nearer =
      definition_.metric() == internvideo::v1::METRIC_L2;

  absl::ReaderMutexLock lock(&mutex_);
  if (absl::Status s = NotFoundIfDropped(); !s.ok()) return s;
  if (options_.test_hook) options_.test_hook("search", definition_.name());
  internvideo::v1::SearchResponse response;
  const int64_t ntotal = index_->ntotal;
  if (label_by_id_.empty()) return response;

  // Of index_, not the definition: a flat stand-in has none.
  const int64_t ivf_lists = IvfLists(*index_);
  const int ef = request.hnsw_ef_search() > 0
                     ? request.hnsw_ef_search()
                     : definition_.params().hnsw_ef_search();
  int64_t nprobe = request.ivf_nprobe() > 0 ? request.ivf_nprobe()
                                            : definition_.params().ivf_nprobe();
  // Over-fetch when tombstones or a filter may drop candidates, and widen
  // (4x, and 4x the IVF lists probed) until k pass or the index is exhausted.
  int64_t fetch = std::min<int64_t>(
      ntotal, (filtering || tombstones_ > 0) ? 2 * int64_t{k} : k);
  std::vector<float> distances;
  std::vector<faiss::Index::idx_t> labels;
  while (true) {
    // HNSW returns at most efSearch candidates: ask for at least `fetch`.
    const std::unique_ptr<faiss::SearchParameters> params =
        NewSearchParameters(*index_, std::max<int64_t>(ef, fetch), nprobe);
    distances.resize(fetch);
    labels.resize(fetch);
    // One query gains nothing from an OpenMP team, and concurrent searches
    // each starting one oversubscribe the cores: search on this thread.
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    try {
      index_->search(1, query->data(), fetch, distances.data(), labels.data(),
                     params.get());
    } catch (const std::exception& e) {
      omp_set_num_threads(threads);
      return absl::InternalError(absl::StrCat("search failed: ", e.what()));
    }
    omp_set_num_threads(threads);
    response.clear_hits();
    bool exhausted = fetch >= ntotal;
    for (int64_t i = 0; i < fetch && response.hits_size() < k; ++i) {
      const int64_t label = labels[i];
      if (label < 0) {
        exhausted = true;
        break;
      }
      // A tombstone, or a vector of an add that failed half-way.
      if (label >= static_cast<int64_t>(id_by_label_.size()) ||
          id_by_label_[label].empty()) {
        continue;
      }
      const Record& record = record_by_label_[label];
      if ((scope == internvideo::v1::SEGMENT_SCOPE_WHOLE_VIDEOS &&
           record.has_segment()) ||
          (scope == internvideo::v1::SEGMENT_SCOPE_SEGMENTS &&
           !record.has_segment()) ||
          !MatchesFilter(request.filter(), record)) {
        continue;
      }
      internvideo::v1::SearchHit* hit = response.add_hits();
      hit->set_id(record.id());
      hit->set_score(distances[i]);
      *hit->mutable_metadata() = record.metadata();
      if (record.has_segment()) *hit->mutable_segment() = record.segment();
    }
    const bool ivf_can_widen = ivf_lists > 0 && nprobe < ivf_lists;
    if (response.hits_size() >= k || (exhausted && !ivf_can_widen)) break;
    fetch = std::min<int64_t>(ntotal, fetch * 4);
    nprobe *= 4;
  }
  if (request.include_vectors()) {
    std::vector<std::string> ids;
    for (const auto& hit : response.hits()) ids.push_back(hit.id());
    std::vector<absl::StatusOr<Record>> read = records_.ReadRecords(ids);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!read[i].ok()) {
        return absl::DataLossError(absl::StrCat(
            "record ", records_.RecordKey(ids[i]), " is unreadable"));
      }
      *response.mutable_hits(static_cast<int>(i))->mutable_embedding() =
          std::move(*read[i]->mutable_embedding());
    }
  }
  // Approximate indexes may return candidates slightly out of order across
  // rounds; keep the response sorted nearest first.
  std::stable_sort(
      response.mutable_hits()->begin(), response.mutable_hits()->end(),
      [lower_is_nearer](const auto& a, const auto& b) {
        return lower_is_nearer ? a.score() < b.score() : a.score() > b.score();
      });
  return response;
}

absl::StatusOr<internvideo::v1::CollectionStats> CollectionIndex::Stats()
    const {
  absl::ReaderMutexLock lock(&mutex_);
  if (absl::Status s = NotFoundIfDropped(); !s.ok()) return s;
  internvideo::v1::CollectionStats stats;
  stats.set_collection(definition_.name());
  stats.set_record_count(static_cast<int64_t>(label_by_id_.size()));
  stats.set_segment_record_count(segment_records_);
  stats.set_indexed_vector_count(index_->ntotal);
  stats.set_tombstone_count(tombstones_);
  stats.set_index_trained(!exact_until_trained_);
  absl::StatusOr<int64_t> index_bytes = IndexBytes(*index_);
  if (!index_bytes.ok()) return index_bytes.status();
  stats.set_index_memory_bytes(*index_bytes);
  uint64_t disk = records_.ApproximateBytes();
  std::error_code error;
  const auto snapshot_bytes = std::filesystem::file_size(SnapshotPath(), error);
  if (!error) disk += snapshot_bytes;
  stats.set_disk_bytes(static_cast<int64_t>(disk));
  if (const int64_t nanos = last_snapshot_nanos_.load(); nanos != 0) {
    *stats.mutable_last_snapshot_time() = ToProto(absl::FromUnixNanos(nanos));
  }
  return stats;
}

absl::StatusOr<internvideo::v1::SnapshotResponse> CollectionIndex::Snapshot() {
  if (snapshot_running_.exchange(true)) {
    return absl::FailedPreconditionError(
        absl::StrCat("a snapshot of collection '", definition_.name(),
                     "' is already running; retry when it finishes"));
  }
  struct Done {
    std::atomic<bool>& running;
    ~Done() { running = false; }
  } done{snapshot_running_};

  // Searches go on meanwhile; writes wait, so the snapshot matches sequence_.
  absl::ReaderMutexLock lock(&mutex_);
  if (absl::Status s = NotFoundIfDropped(); !s.ok()) return s;
  std::error_code error;
  std::filesystem::create_directories(options_.snapshot_dir, error);
  const std::string path = SnapshotPath();
  const absl::Time now = absl::Now();
  SnapshotHeader header;
  header.sequence = sequence_;
  header.create_seconds = definition_.create_time().seconds();
  header.snapshot_unix_nanos = absl::ToUnixNanos(now);
  header.exact_until_trained = exact_until_trained_;
  // Every write, the close and the fsync are checked before the file
  // replaces the previous snapshot; on an error that one stays.
  const std::string failed =
      absl::StrCat("snapshot of collection '", definition_.name(),
                   "' not written (the previous one, if any, is kept): ");
  absl::Status written = WriteSnapshotFile(path, header, id_by_label_, *index_);
  if (!written.ok()) {
    return absl::Status(written.code(),
                        failed + std::string(written.message()));
  }
  last_snapshot_nanos_ = absl::ToUnixNanos(now);
  internvideo::v1::SnapshotResponse response;
  response.set_path(path);
  response.set_record_count(static_cast<int64_t>(label_by_id_.size()));
  response.set_size_bytes(
      static_cast<int64_t>(std::filesystem::file_size(path, error)));
  *response.mutable_snapshot_time() = ToProto(now);
  return response;
}

}  // namespace iv::index
