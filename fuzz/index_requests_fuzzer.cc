// IndexService's request validation and handling (IndexStore, the library
// under the gRPC layer) on arbitrary requests. The first byte picks the RPC,
// the rest is its request as a binary proto: 0 CreateCollection (a
// Collection), 1 Upsert, 2 Search by vector. Each input starts from the same
// store: three small collections of every metric and index family.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz/fuzz_support.h"
#include "index_service/index_store.h"

namespace {

using internvideo::v1::Collection;
using internvideo::v1::SearchRequest;
using internvideo::v1::UpsertRequest;
using iv::fuzz::CheckPreciseStatus;
using iv::fuzz::ParseProto;
using iv::index::IndexStore;

constexpr int kDimension = 4;

// What every collection holds between inputs.
UpsertRequest BaseRecords(const std::string& collection) {
  UpsertRequest request;
  request.set_collection(collection);
  for (int i = 0; i < 8; ++i) {
    internvideo::v1::Record* record = request.add_records();
    record->set_id("r" + std::to_string(i));
    for (int d = 0; d < kDimension; ++d) {
      record->mutable_embedding()->add_values(static_cast<float>((i + d) % 5));
    }
    (*record->mutable_metadata())["label"].set_string_value(i % 2 ? "a" : "b");
    (*record->mutable_metadata())["n"].set_int_value(i);
    if (i >= 4) record->mutable_segment()->set_end_s(i);
  }
  return request;
}

const char* const kCollections[] = {"c", "h", "v"};

IndexStore& Store() {
  static IndexStore* const store = [] {
    iv::index::IndexStoreOptions options;
    options.data_dir = iv::fuzz::ScratchDir() + "/index";
    absl::StatusOr<std::unique_ptr<IndexStore>> opened =
        IndexStore::Open(options);
    if (!opened.ok()) std::abort();
    const std::pair<internvideo::v1::Metric, const char*> kinds[] = {
        {internvideo::v1::METRIC_COSINE, "Flat"},
        {internvideo::v1::METRIC_L2, "HNSW8"},
        {internvideo::v1::METRIC_INNER_PRODUCT, "IVF2,Flat"}};
    for (int i = 0; i < 3; ++i) {
      Collection collection;
      collection.set_name(kCollections[i]);
      collection.set_dimension(kDimension);
      collection.set_metric(kinds[i].first);
      collection.set_index_factory(kinds[i].second);
      if (!(*opened)->CreateCollection(collection).ok() ||
          !(*opened)->Upsert(BaseRecords(kCollections[i])).ok()) {
        std::abort();
      }
    }
    return opened->release();
  }();
  return *store;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  IndexStore& store = Store();
  switch (data[0] % 3) {
    case 0: {
      Collection collection;
      if (!ParseProto(data + 1, size - 1, collection)) return 0;
      absl::StatusOr<Collection> created = store.CreateCollection(collection);
      if (!created.ok()) {
        CheckPreciseStatus(created.status());
      } else if (!store.DeleteCollection(created->name()).ok()) {
        std::abort();
      }
      break;
    }
    case 1: {
      UpsertRequest request;
      if (!ParseProto(data + 1, size - 1, request)) return 0;
      absl::StatusOr<int64_t> upserted = store.Upsert(request);
      if (!upserted.ok()) {
        CheckPreciseStatus(upserted.status());
        break;
      }
      // Back to the base records, so that inputs do not depend on each
      // other.
      internvideo::v1::DeleteRequest undo;
      undo.set_collection(request.collection());
      for (const internvideo::v1::Record& record : request.records()) {
        undo.add_ids(record.id());
      }
      if (!store.Delete(undo).ok() ||
          !store.Upsert(BaseRecords(request.collection())).ok()) {
        std::abort();
      }
      break;
    }
    case 2: {
      SearchRequest request;
      if (!ParseProto(data + 1, size - 1, request)) return 0;
      absl::StatusOr<internvideo::v1::SearchResponse> found =
          store.Search(request);
      if (!found.ok()) {
        CheckPreciseStatus(found.status());
      } else if (found->hits_size() > request.k()) {
        std::abort();
      }
      break;
    }
  }
  return 0;
}
