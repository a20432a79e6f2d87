#include "index_service/collection_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files/atomic_file.h"
#include "index_service/filter.h"
#include "rocksdb/write_batch.h"

namespace iv::index {
namespace {

using internvideo::v1::Collection;
using internvideo::v1::Embedding;
using internvideo::v1::Record;

constexpr int kMaxDimension = 65536;
constexpr size_t kMaxIdBytes = 512;
// Upper bounds of index sizes and search parameters, Milvus's (README
// "Limits"): FAISS allocates by them, some as soon as a factory string is
// parsed (IVF list heads, PQ codebooks), and a search's work grows with ef
// and nprobe.
constexpr int64_t kMaxIvfLists = 65536;
constexpr int64_t kMaxHnswM = 2048;
constexpr int64_t kMaxHnswEf = 32768;
constexpr int64_t kMaxIvfNprobe = 65536;
constexpr int64_t kMaxCodeBits = 16;  // PQ, RQ, ...: 2^bits codewords
constexpr int64_t kMaxImiBits = 8;    // IMI2x8: 2^16 lists
// Any other number in a factory string (PQ M, PCA / OPQ / RR outputs) is a
// dimension at most.
constexpr int64_t kMaxFactoryNumber = kMaxDimension;
constexpr char kSnapshotMagic[8] = {'I', 'V', 'S', 'N', 'A', 'P', '0', '1'};

std::string CollectionKey(const std::string& name) {
  return absl::StrCat("collection/", name);
}
std::string SequenceKey(const std::string& name) {
  return absl::StrCat("sequence/", name);
}
std::string RecordPrefix(const std::string& name) {
  return absl::StrCat("record/", name, "/");
}

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

absl::Status FromRocks(const rocksdb::Status& status, const std::string& what) {
  if (status.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", status.ToString()));
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

// Calls `visit(sequence, record)` for every stored record of collection
// `name`, in id order.
absl::Status ForEachRecord(
    rocksdb::DB* db, const std::string& name,
    const std::function<void(uint64_t, Record&)>& visit) {
  const std::string prefix = RecordPrefix(name);
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
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

// Appends the record's vector to `vectors` and drops it from the record.
void MoveVector(Record& record, std::vector<float>& vectors) {
  vectors.insert(vectors.end(), record.embedding().values().begin(),
                 record.embedding().values().end());
  record.clear_embedding();
}

faiss::MetricType FaissMetric(const Collection& definition) {
  return definition.metric() == internvideo::v1::METRIC_L2
             ? faiss::METRIC_L2
             : faiss::METRIC_INNER_PRODUCT;
}

// INVALID_ARGUMENT if a number in the factory string is 0 or over its limit:
// IVF<lists>, HNSW<M> / NSG<R>, <M>x<bits> codes (IMI<2>x<bits> lists),
// anything else as a dimension. Checked before FAISS parses the string.
absl::Status CheckFactorySizes(const std::string& factory) {
  auto refuse = [&](absl::string_view value, const std::string& what,
                    int64_t limit, const std::string& advice) {
    return Invalid("collection.index_factory",
                   absl::StrCat("'", factory, "': ", what, " ", value,
                                " is over the limit ", limit, "; ", advice));
  };
  auto word_before = [&](size_t end) {
    size_t start = end;
    while (start > 0 &&
           std::isalpha(static_cast<unsigned char>(factory[start - 1]))) {
      --start;
    }
    return std::make_pair(start, factory.substr(start, end - start));
  };
  for (size_t i = 0; i < factory.size();) {
    if (!std::isdigit(static_cast<unsigned char>(factory[i]))) {
      ++i;
      continue;
    }
    const size_t start = i;
    int64_t value = 0;
    for (; i < factory.size() &&
           std::isdigit(static_cast<unsigned char>(factory[i]));
         ++i) {
      value = std::min<int64_t>(value * 10 + (factory[i] - '0'), 1LL << 40);
    }
    const absl::string_view text(factory.data() + start, i - start);
    // FAISS divides by some of these (PQ0 is a division by zero) before
    // it checks them.
    if (value == 0) {
      return Invalid("collection.index_factory",
                     absl::StrCat("'", factory, "': a size of 0 (at ", start,
                                  "); every count and size is at least 1"));
    }
    const auto [word_start, word] = word_before(start);
    if (absl::EndsWith(word, "IVF") && value > kMaxIvfLists) {
      return refuse(text, "IVF list count", kMaxIvfLists,
                    "use fewer (about 4 * sqrt(vectors) is usual)");
    }
    if ((absl::EndsWith(word, "HNSW") || absl::EndsWith(word, "NSG")) &&
        value > kMaxHnswM) {
      return refuse(text, "graph degree M", kMaxHnswM,
                    "use fewer (16 to 64 is usual)");
    }
    if (word == "x" && word_start > 0 &&
        std::isdigit(static_cast<unsigned char>(factory[word_start - 1]))) {
      size_t digits = word_start - 1;
      while (digits > 0 &&
             std::isdigit(static_cast<unsigned char>(factory[digits - 1]))) {
        --digits;
      }
      const bool imi = absl::EndsWith(word_before(digits).second, "IMI");
      const int64_t limit = imi ? kMaxImiBits : kMaxCodeBits;
      if (value > limit) {
        return refuse(text, imi ? "IMI bits per half" : "bits per code", limit,
                      "use fewer (8 is usual)");
      }
      continue;
    }
    if (value > kMaxFactoryNumber) {
      return refuse(text, "size", kMaxFactoryNumber,
                    "sizes in a factory string are at most the largest "
                    "dimension");
    }
  }
  return absl::OkStatus();
}

// A fresh index of the definition's factory string and parameters.
absl::StatusOr<std::unique_ptr<faiss::Index>> NewIndex(
    const Collection& definition) {
  std::unique_ptr<faiss::Index> index;
  try {
    index.reset(faiss::index_factory(definition.dimension(),
                                     definition.index_factory().c_str(),
                                     FaissMetric(definition)));
  } catch (const std::exception& e) {
    return Invalid("collection.index_factory",
                   absl::StrCat("FAISS cannot parse '",
                                definition.index_factory(), "': ", e.what()));
  }
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index.get())) {
    hnsw->hnsw.efConstruction = definition.params().hnsw_ef_construction();
    hnsw->hnsw.efSearch = definition.params().hnsw_ef_search();
  }
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index.get())) {
    ivf->nprobe = definition.params().ivf_nprobe();
  }
  // Polysemous training only serves Hamming-threshold search, which is not
  // used here, and takes minutes.
  if (auto* pq = dynamic_cast<faiss::IndexIVFPQ*>(index.get())) {
    pq->do_polysemous_training = false;
  }
  if (auto* pq = dynamic_cast<faiss::IndexPQ*>(index.get())) {
    pq->do_polysemous_training = false;
  }
  return index;
}

// The centroids an untrained index learns: IVF lists, or PQ codewords.
int64_t Centroids(const faiss::Index& index) {
  int64_t centroids = 1;
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(&index)) {
    centroids = std::max<int64_t>(centroids, ivf->nlist);
  }
  if (auto* pq = dynamic_cast<const faiss::IndexIVFPQ*>(&index)) {
    centroids = std::max<int64_t>(centroids, pq->pq.ksub);
  }
  if (auto* pq = dynamic_cast<const faiss::IndexPQ*>(&index)) {
    centroids = std::max<int64_t>(centroids, pq->pq.ksub);
  }
  return centroids;
}

google::protobuf::Timestamp ToProto(absl::Time time) {
  google::protobuf::Timestamp proto;
  const int64_t nanos = absl::ToUnixNanos(time);
  proto.set_seconds(nanos / 1000000000);
  proto.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return proto;
}

// Counts the bytes FAISS would write: the index's size, for any type.
struct CountingWriter : faiss::IOWriter {
  size_t operator()(const void*, size_t size, size_t items) override {
    bytes += size * items;
    return items;
  }
  int64_t bytes = 0;
};

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

// The snapshot file: magic, the covered sequence number, the collection's
// create time (a re-created collection must not load an old snapshot),
// the snapshot time, the flat-stand-in flag, the label table, then the FAISS
// index as faiss::write_index writes it.
struct SnapshotHeader {
  uint64_t sequence = 0;
  int64_t create_seconds = 0;
  int64_t snapshot_unix_nanos = 0;
  uint8_t exact_until_trained = 0;
};

// The index of a snapshot file, filling `header` and `ids`; null if the file
// is unreadable or not a snapshot.
std::unique_ptr<faiss::Index> ReadSnapshotFile(const std::string& path,
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

absl::StatusOr<std::unique_ptr<faiss::Index>> CollectionIndex::ReadSnapshot(
    const std::string& path, std::vector<std::string>& ids) {
  SnapshotHeader header;
  ids.clear();
  std::unique_ptr<faiss::Index> index = ReadSnapshotFile(path, header, ids);
  if (index == nullptr) {
    return absl::DataLossError(
        absl::StrCat(path, " is not a readable index snapshot"));
  }
  return index;
}

absl::Status CollectionIndex::Normalize(Collection& definition) {
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
  if (definition.index_factory().empty()) definition.set_index_factory("Flat");
  internvideo::v1::IndexParams& params = *definition.mutable_params();
  const struct {
    const char* field;
    int32_t value;
    int64_t limit;
  } bounds[] = {
      {"hnsw_ef_construction", params.hnsw_ef_construction(), kMaxHnswEf},
      {"hnsw_ef_search", params.hnsw_ef_search(), kMaxHnswEf},
      {"ivf_nprobe", params.ivf_nprobe(), kMaxIvfNprobe},
  };
  for (const auto& bound : bounds) {
    if (bound.value < 0 || bound.value > bound.limit) {
      return Invalid(absl::StrCat("collection.params.", bound.field),
                     absl::StrCat("must be in [0, ", bound.limit,
                                  "] (0: the default), got ", bound.value));
    }
  }
  absl::Status sizes = CheckFactorySizes(definition.index_factory());
  if (!sizes.ok()) return sizes;
  const bool nprobe_given = params.ivf_nprobe() > 0;
  if (params.hnsw_ef_construction() == 0) params.set_hnsw_ef_construction(40);
  if (params.hnsw_ef_search() == 0) params.set_hnsw_ef_search(64);
  if (params.ivf_nprobe() == 0) params.set_ivf_nprobe(16);
  absl::StatusOr<std::unique_ptr<faiss::Index>> index = NewIndex(definition);
  if (!index.ok()) return index.status();
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index->get());
      ivf != nullptr &&
      params.ivf_nprobe() > static_cast<int64_t>(ivf->nlist)) {
    if (nprobe_given) {
      return Invalid(
          "collection.params.ivf_nprobe",
          absl::StrCat(params.ivf_nprobe(), " exceeds the ", ivf->nlist,
                       " lists of '", definition.index_factory(), "'"));
    }
    params.set_ivf_nprobe(static_cast<int32_t>(ivf->nlist));
  }
  // Labels are positions, assigned by add(); an index that needs explicit
  // ids (IDMap) cannot hold them.
  try {
    if ((*index)->is_trained) (*index)->add(0, nullptr);
  } catch (const std::exception& e) {
    return Invalid("collection.index_factory",
                   absl::StrCat("'", definition.index_factory(),
                                "' cannot be used here: ", e.what()));
  }
  return absl::OkStatus();
}

CollectionIndex::CollectionIndex(rocksdb::DB* db, Collection definition,
                                 const CollectionOptions& options)
    : db_(db), definition_(std::move(definition)), options_(options) {}

CollectionIndex::~CollectionIndex() = default;

absl::StatusOr<std::unique_ptr<CollectionIndex>> CollectionIndex::Create(
    rocksdb::DB* db, const Collection& definition,
    const CollectionOptions& options) {
  rocksdb::WriteOptions write;
  write.sync = true;
  absl::Status stored =
      FromRocks(db->Put(write, CollectionKey(definition.name()),
                        definition.SerializeAsString()),
                absl::StrCat("cannot store collection ", definition.name()));
  if (!stored.ok()) return stored;
  return Open(db, definition, options);
}

absl::StatusOr<std::vector<Collection>> CollectionIndex::LoadDefinitions(
    rocksdb::DB* db) {
  std::vector<Collection> definitions;
  const std::string prefix = "collection/";
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

absl::StatusOr<std::unique_ptr<CollectionIndex>> CollectionIndex::Open(
    rocksdb::DB* db, const Collection& definition,
    const CollectionOptions& options) {
  std::unique_ptr<CollectionIndex> collection(
      new CollectionIndex(db, definition, options));
  absl::StatusOr<std::unique_ptr<faiss::Index>> probe = NewIndex(definition);
  if (!probe.ok()) return probe.status();
  if (!(*probe)->is_trained) {
    collection->training_threshold_ =
        Centroids(**probe) * options.train_points_per_centroid;
  }
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(probe->get())) {
    collection->ivf_lists_ = static_cast<int64_t>(ivf->nlist);
  }
  std::string sequence;
  rocksdb::Status got = db->Get(rocksdb::ReadOptions(),
                                SequenceKey(definition.name()), &sequence);
  if (got.ok() && sequence.size() == 8) {
    collection->sequence_ = DecodeSequence(sequence.data());
  } else if (!got.IsNotFound()) {
    return absl::DataLossError(
        absl::StrCat("sequence of collection ", definition.name(),
                     " is unreadable: ", got.ToString()));
  }
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
  absl::Status status =
      ForEachRecord(db_, definition_.name(), [&](uint64_t, Record& record) {
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
      fresh->reset(new faiss::IndexFlat(definition_.dimension(),
                                        FaissMetric(definition_)));
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
  std::unique_ptr<faiss::Index> index =
      ReadSnapshotFile(path, header, snapshot_ids);
  if (index == nullptr || index->d != definition_.dimension() ||
      index->ntotal != static_cast<int64_t>(snapshot_ids.size()) ||
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
  index_ = std::move(index);
  exact_until_trained_ = header.exact_until_trained != 0;
  id_by_label_.assign(snapshot_ids.size(), "");
  record_by_label_.assign(snapshot_ids.size(), Record());
  label_by_id_.clear();
  segment_records_ = 0;
  std::vector<Record> records;
  std::vector<float> vectors;
  absl::Status status = ForEachRecord(
      db_, definition_.name(), [&](uint64_t sequence, Record& record) {
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
  const std::string name = definition_.name();
  std::string end = RecordPrefix(name);
  end.back() = '/' + 1;
  rocksdb::WriteBatch batch;
  batch.DeleteRange(RecordPrefix(name), end);
  batch.Delete(SequenceKey(name));
  batch.Delete(CollectionKey(name));
  rocksdb::WriteOptions write;
  write.sync = true;
  absl::Status status =
      FromRocks(db_->Write(write, &batch),
                absl::StrCat("cannot delete collection ", name));
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
  std::vector<std::string> values;
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
    values.push_back(stored.SerializeAsString());
    stored.clear_embedding();
    records_in_memory.push_back(std::move(stored));
    vectors.insert(vectors.end(), vector->begin(), vector->end());
  }

  absl::MutexLock lock(&mutex_);
  if (absl::Status s = NotFoundIfDropped(); !s.ok()) return s;
  const uint64_t sequence = sequence_ + 1;
  const std::string prefix = RecordPrefix(definition_.name());
  rocksdb::WriteBatch batch;
  const std::string header = EncodeSequence(sequence);
  for (size_t i = 0; i < values.size(); ++i) {
    batch.Put(prefix + records_in_memory[i].id(), header + values[i]);
  }
  batch.Put(SequenceKey(definition_.name()), header);
  rocksdb::WriteOptions write;
  write.sync = true;
  absl::Status status =
      FromRocks(db_->Write(write, &batch), "cannot store the records");
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
  const std::string prefix = RecordPrefix(definition_.name());
  rocksdb::WriteBatch batch;
  absl::flat_hash_set<std::string> deleted;
  for (const std::string& id : ids) {
    auto found = label_by_id_.find(id);
    if (found == label_by_id_.end() || !deleted.insert(id).second) continue;
    labels.push_back(found->second);
    batch.Delete(prefix + id);
  }
  if (labels.empty()) return 0;
  const uint64_t sequence = sequence_ + 1;
  batch.Put(SequenceKey(definition_.name()), EncodeSequence(sequence));
  rocksdb::WriteOptions write;
  write.sync = true;
  absl::Status status =
      FromRocks(db_->Write(write, &batch), "cannot delete the records");
  if (!status.ok()) return status;
  sequence_ = sequence;
  for (int64_t label : labels) TombstoneLocked(label);
  FollowWriteLocked({}, {});
  return static_cast<int64_t>(labels.size());
}

absl::StatusOr<internvideo::v1::GetResponse> CollectionIndex::Get(
    const internvideo::v1::GetRequest& request) const {
  if (request.ids().empty()) return Invalid("ids", "empty");
  const std::string prefix = RecordPrefix(definition_.name());
  std::vector<std::string> keys;
  for (const std::string& id : request.ids()) keys.push_back(prefix + id);
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<std::string> values;
  absl::ReaderMutexLock lock(&mutex_);
  if (absl::Status s = NotFoundIfDropped(); !s.ok()) return s;
  std::vector<rocksdb::Status> statuses =
      db_->MultiGet(rocksdb::ReadOptions(), slices, &values);
  internvideo::v1::GetResponse response;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) {
      response.add_missing_ids(request.ids(static_cast<int>(i)));
      continue;
    }
    if (!statuses[i].ok()) {
      return FromRocks(statuses[i], "cannot read records");
    }
    uint64_t sequence;
    Record* record = response.add_records();
    if (!DecodeRecord(values[i], sequence, *record)) {
      return absl::DataLossError(
          absl::StrCat("record ", keys[i], " does not parse"));
    }
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
  const std::string prefix = RecordPrefix(definition_.name());

  absl::ReaderMutexLock lock(&mutex_);
  if (absl::Status s = NotFoundIfDropped(); !s.ok()) return s;
  if (options_.test_hook) options_.test_hook("search", definition_.name());
  internvideo::v1::SearchResponse response;
  const int64_t ntotal = index_->ntotal;
  if (label_by_id_.empty()) return response;

  faiss::SearchParametersHNSW hnsw_params;
  faiss::SearchParametersIVF ivf_params;
  const auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index_.get());
  const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index_.get());
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
    const faiss::SearchParameters* params = nullptr;
    if (hnsw != nullptr) {
      hnsw_params.efSearch = static_cast<int>(std::max<int64_t>(ef, fetch));
      params = &hnsw_params;
    } else if (ivf != nullptr) {
      ivf_params.nprobe = std::min<int64_t>(nprobe, ivf->nlist);
      params = &ivf_params;
    }
    distances.resize(fetch);
    labels.resize(fetch);
    // One query gains nothing from an OpenMP team, and concurrent searches
    // each starting one oversubscribe the cores: search on this thread.
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    try {
      index_->search(1, query->data(), fetch, distances.data(), labels.data(),
                     params);
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
    const bool ivf_can_widen = ivf != nullptr && nprobe < ivf->nlist;
    if (response.hits_size() >= k || (exhausted && !ivf_can_widen)) break;
    fetch = std::min<int64_t>(ntotal, fetch * 4);
    nprobe *= 4;
  }
  if (request.include_vectors()) {
    std::vector<std::string> keys;
    for (const auto& hit : response.hits()) keys.push_back(prefix + hit.id());
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<std::string> values;
    std::vector<rocksdb::Status> statuses =
        db_->MultiGet(rocksdb::ReadOptions(), slices, &values);
    for (size_t i = 0; i < keys.size(); ++i) {
      uint64_t sequence;
      Record record;
      if (!statuses[i].ok() || !DecodeRecord(values[i], sequence, record)) {
        return absl::DataLossError(
            absl::StrCat("record ", keys[i], " is unreadable"));
      }
      *response.mutable_hits(static_cast<int>(i))->mutable_embedding() =
          record.embedding();
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
  CountingWriter counter;
  try {
    faiss::write_index(index_.get(), &counter);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("sizing the index: ", e.what()));
  }
  stats.set_index_memory_bytes(counter.bytes);
  const std::string start = RecordPrefix(definition_.name());
  std::string limit = start;
  limit.back() = '/' + 1;
  rocksdb::Range range(start, limit);
  uint64_t disk = 0;
  rocksdb::SizeApproximationOptions sizing;
  sizing.include_memtables = true;
  sizing.include_files = true;
  db_->GetApproximateSizes(sizing, db_->DefaultColumnFamily(), &range, 1,
                           &disk);
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
  absl::StatusOr<std::unique_ptr<files::AtomicFileWriter>> file =
      files::AtomicFileWriter::Open(path);
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        failed + std::string(file.status().message()));
  }
  SnapshotWriter writer(**file);
  try {
    const uint64_t labels = id_by_label_.size();
    bool ok = WriteAll(writer, kSnapshotMagic, 8) &&
              WriteAll(writer, &header, sizeof(header)) &&
              WriteAll(writer, &labels, sizeof(labels));
    for (const std::string& id : id_by_label_) {
      const uint32_t size = static_cast<uint32_t>(id.size());
      ok = ok && WriteAll(writer, &size, sizeof(size)) &&
           WriteAll(writer, id.data(), id.size());
    }
    if (ok) faiss::write_index(index_.get(), &writer);
  } catch (const std::exception& e) {
    if (writer.status.ok()) {
      return absl::InternalError(absl::StrCat(failed, e.what()));
    }
  }
  absl::Status committed = writer.Flush();
  if (committed.ok()) committed = (*file)->Commit();
  if (!committed.ok()) {
    return absl::Status(committed.code(),
                        failed + std::string(committed.message()));
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
