#include "index_service/vector_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace iv::index {
namespace {

using internvideo::v1::Collection;

constexpr int64_t kMaxIvfLists = 65536;
constexpr int64_t kMaxHnswM = 2048;
constexpr int64_t kMaxCodeBits = 16;  // PQ, RQ, ...: 2^bits codewords
constexpr int64_t kMaxImiBits = 8;    // IMI2x8: 2^16 lists
// Any other number in a factory string (PQ M, PCA / OPQ / RR outputs) is a
// dimension at most.
constexpr int64_t kMaxFactoryNumber = kMaxDimension;

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

faiss::MetricType FaissMetric(const Collection& definition) {
  return definition.metric() == internvideo::v1::METRIC_L2
             ? faiss::METRIC_L2
             : faiss::METRIC_INNER_PRODUCT;
}

// Counts the bytes FAISS would write.
struct CountingWriter : faiss::IOWriter {
  size_t operator()(const void*, size_t size, size_t items) override {
    bytes += size * items;
    return items;
  }
  int64_t bytes = 0;
};

}  // namespace

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

absl::Status CheckAndFillIndexDefaults(Collection& definition) {
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
  // Probing more lists than the index has is the same as probing all: a
  // default above them is lowered, an explicit one is a mistake.
  const int64_t lists = IvfLists(**index);
  if (lists > 0 && params.ivf_nprobe() > lists) {
    if (nprobe_given) {
      return Invalid(
          "collection.params.ivf_nprobe",
          absl::StrCat(params.ivf_nprobe(), " exceeds the ", lists,
                       " lists of '", definition.index_factory(), "'"));
    }
    params.set_ivf_nprobe(static_cast<int32_t>(lists));
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

std::unique_ptr<faiss::Index> NewExactIndex(const Collection& definition) {
  return std::make_unique<faiss::IndexFlat>(definition.dimension(),
                                            FaissMetric(definition));
}

int64_t TrainingThreshold(const faiss::Index& index, int points_per_centroid) {
  if (index.is_trained) return 0;
  // The centroids it learns: IVF lists, or PQ codewords.
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
  return centroids * points_per_centroid;
}

int64_t IvfLists(const faiss::Index& index) {
  auto* ivf = dynamic_cast<const faiss::IndexIVF*>(&index);
  return ivf == nullptr ? 0 : static_cast<int64_t>(ivf->nlist);
}

std::unique_ptr<faiss::SearchParameters> NewSearchParameters(
    const faiss::Index& index, int64_t ef_search, int64_t nprobe) {
  if (dynamic_cast<const faiss::IndexHNSW*>(&index) != nullptr) {
    auto params = std::make_unique<faiss::SearchParametersHNSW>();
    params->efSearch = static_cast<int>(ef_search);
    return params;
  }
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(&index)) {
    auto params = std::make_unique<faiss::SearchParametersIVF>();
    params->nprobe = std::min<int64_t>(nprobe, ivf->nlist);
    return params;
  }
  return nullptr;
}

absl::StatusOr<int64_t> IndexBytes(const faiss::Index& index) {
  CountingWriter counter;
  try {
    faiss::write_index(&index, &counter);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("sizing the index: ", e.what()));
  }
  return counter.bytes;
}

}  // namespace iv::index
