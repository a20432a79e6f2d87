// `iv bench search`: search-by-vector through the index service over gRPC
// with concurrent clients, beside FAISS in-process on the very same HNSW
// index (read back from the service's snapshot), same queries, same number
// of threads; recall@k of both against exact search.
#ifndef TOOLS_BENCH_SEARCH_BENCHMARK_H_
#define TOOLS_BENCH_SEARCH_BENCHMARK_H_

#include <string>

#include "absl/status/status.h"

namespace iv::bench {

struct SearchBenchmarkOptions {
  int vectors = 200000;  // records in the collection
  int dim = 512;
  int clients = 16;    // concurrent clients (and in-process threads)
  int queries = 2000;  // timed queries per side and round
  int rounds = 3;      // alternating rounds of both sides
  int k = 10;
  int hnsw_m = 32;
  int ef_construction = 40;
  int ef_search = 128;
  // Holds the service's data, kept afterwards: a later run with the same
  // options reuses the built collection. Empty: a temporary folder, removed
  // at the end.
  std::string work_dir;
};

absl::Status RunSearchBenchmark(const SearchBenchmarkOptions& options);

}  // namespace iv::bench

#endif  // TOOLS_BENCH_SEARCH_BENCHMARK_H_
