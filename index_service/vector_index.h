// The FAISS side of a collection: which factory strings are allowed, the
// index a definition makes, and what its type implies (training, IVF
// lists, search parameters). Everything that depends on a concrete FAISS
// index type (HNSW, IVF, PQ) is decided here and nowhere else; callers hold
// a plain faiss::Index.
//
// Sizes FAISS allocates by, and a search's work, are bounded by Milvus's
// limits (README "Limits"): some FAISS allocates as soon as a factory
// string is parsed (IVF list heads, PQ codebooks), so they are checked
// before FAISS sees the string.
#ifndef INDEX_SERVICE_VECTOR_INDEX_H_
#define INDEX_SERVICE_VECTOR_INDEX_H_

#include <faiss/Index.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "protos/index_service.pb.h"

namespace iv::index {

inline constexpr int kMaxDimension = 65536;
// A search's work grows with ef and nprobe (HNSW efSearch, IVF lists
// probed), for a collection's defaults and a request's own values alike.
inline constexpr int64_t kMaxHnswEf = 32768;
inline constexpr int64_t kMaxIvfNprobe = 65536;

// Checks the index fields of a definition whose dimension and metric are
// valid, and fills their defaults ("Flat", efConstruction 40, efSearch 64,
// nprobe 16 or the IVF list count if smaller). INVALID_ARGUMENT names the
// field, e.g. "collection.index_factory: FAISS cannot parse 'HNSWx'", also
// for sizes over the limits, which are refused before FAISS allocates
// anything.
absl::Status CheckAndFillIndexDefaults(internvideo::v1::Collection& definition);

// INVALID_ARGUMENT ("collection.index_factory: ...") if a number in the
// factory string is 0 or over its limit: IVF<lists>, HNSW<M> / NSG<R>,
// <M>x<bits> codes (IMI<2>x<bits> lists), anything else as a dimension.
absl::Status CheckFactorySizes(const std::string& factory);

// A fresh, empty index of the definition's factory string, metric and
// parameters. INVALID_ARGUMENT if FAISS cannot parse the factory string.
absl::StatusOr<std::unique_ptr<faiss::Index>> NewIndex(
    const internvideo::v1::Collection& definition);

// A flat (exact) index of the definition's dimension and metric: the
// stand-in for an index that is not trained yet.
std::unique_ptr<faiss::Index> NewExactIndex(
    const internvideo::v1::Collection& definition);

// The vectors `index` waits for before it is trained: `points_per_centroid`
// for each centroid it learns (IVF lists, PQ codewords); 0 if it needs no
// training.
int64_t TrainingThreshold(const faiss::Index& index, int points_per_centroid);

// The IVF lists of `index`, the upper bound of nprobe; 0 if it is not IVF.
int64_t IvfLists(const faiss::Index& index);

// The parameters of one search of `index`: efSearch for HNSW, nprobe
// (at most the lists) for IVF; null for an index that takes neither.
std::unique_ptr<faiss::SearchParameters> NewSearchParameters(
    const faiss::Index& index, int64_t ef_search, int64_t nprobe);

// The bytes faiss::write_index writes for `index`: its size, for any type.
// INTERNAL if FAISS throws.
absl::StatusOr<int64_t> IndexBytes(const faiss::Index& index);

}  // namespace iv::index

#endif  // INDEX_SERVICE_VECTOR_INDEX_H_
