#include "tools/bench/search_benchmark.h"

#include <faiss/IndexHNSW.h>
#include <faiss/utils/distances.h>
#include <omp.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/serving/connection.h"
#include "common/serving/server.h"
#include "common/serving/status.h"
#include "index_service/index_service.h"
#include "index_service/index_store.h"
#include "tools/iv/progress_bar.h"

namespace iv::bench {
namespace {

// Points around vectors / 200 random centres (embeddings cluster by
// topic), the queries drawn the same way.
std::vector<float> Clustered(int n, int dim, int centres, uint32_t seed) {
  std::mt19937 centre_rng(1);
  std::normal_distribution<float> normal;
  std::vector<float> centre_values(static_cast<size_t>(centres) * dim);
  for (float& x : centre_values) x = normal(centre_rng);
  std::mt19937 rng(seed);
  std::vector<float> points(static_cast<size_t>(n) * dim);
  for (int i = 0; i < n; ++i) {
    const float* centre = &centre_values[(rng() % centres) * size_t(dim)];
    for (int d = 0; d < dim; ++d) {
      points[size_t(i) * dim + d] = centre[d] + 0.6f * normal(rng);
    }
  }
  return points;
}

// CPU seconds this process has used, all threads.
double ProcessCpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Run {
  double qps = 0;
  // CPU time per query of the whole process (for gRPC: client and server
  // together): unlike QPS, not skewed by other work on the machine.
  double cpu_ms = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double recall = 0;
};

// Runs `search(query index, found labels)` for every query from `threads`
// threads at once, timing each call.
absl::StatusOr<Run> Measure(
    int queries, int threads, int k, const std::vector<int64_t>& exact,
    const std::function<absl::Status(int, std::vector<int64_t>&)>& search) {
  std::vector<double> latencies(queries);
  std::vector<std::vector<int64_t>> found(queries);
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  absl::Status failure;
  std::vector<std::thread> workers;
  const absl::Time start = absl::Now();
  const double cpu_start = ProcessCpuSeconds();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int q = next++; q < queries && !failed; q = next++) {
        const absl::Time begin = absl::Now();
        absl::Status status = search(q, found[q]);
        latencies[q] = absl::ToDoubleMilliseconds(absl::Now() - begin);
        if (!status.ok() && !failed.exchange(true)) failure = status;
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const double cpu_seconds = ProcessCpuSeconds() - cpu_start;
  if (failed) return failure;
  Run run;
  run.qps = queries / seconds;
  run.cpu_ms = 1000 * cpu_seconds / queries;
  std::sort(latencies.begin(), latencies.end());
  run.p50_ms = latencies[latencies.size() / 2];
  run.p99_ms =
      latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
  int64_t hits = 0;
  for (int q = 0; q < queries; ++q) {
    absl::flat_hash_set<int64_t> truth(exact.begin() + int64_t{q} * k,
                                       exact.begin() + int64_t{q + 1} * k);
    for (int64_t label : found[q]) hits += truth.contains(label);
  }
  run.recall = double(hits) / (double(queries) * k);
  return run;
}

void PrintRun(const char* name, const Run& run) {
  std::printf("%-28s %10.1f %9.2f %9.2f %10.3f %10.4f\n", name, run.qps,
              run.p50_ms, run.p99_ms, run.cpu_ms, run.recall);
}

}  // namespace

absl::Status RunSearchBenchmark(const SearchBenchmarkOptions& options) {
  const int n = options.vectors, dim = options.dim, k = options.k;
  if (k > n) return absl::InvalidArgumentError("--k exceeds --vectors");
  std::string dir = options.work_dir;
  std::string temporary;  // removed at the end
  if (dir.empty()) {
    dir = (std::filesystem::temp_directory_path() / "iv-bench-search-XXXXXX")
              .string();
    if (mkdtemp(dir.data()) == nullptr) {
      return absl::InternalError("cannot create a temporary folder");
    }
    temporary = dir;
  }
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ignored;
      if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
    }
  } cleanup{temporary};

  const int centres = std::max(1, n / 200);
  std::printf(
      "generating %d x %d clustered vectors (%d centres) and %d "
      "queries ...\n",
      n, dim, centres, options.queries);
  std::fflush(stdout);
  const std::vector<float> points = Clustered(n, dim, centres, 2);
  const std::vector<float> queries =
      Clustered(options.queries, dim, centres, 3);

  // The service, on loopback in this process.
  index::IndexStoreOptions store_options;
  store_options.data_dir = dir + "/data";
  absl::StatusOr<std::unique_ptr<index::IndexStore>> store =
      index::IndexStore::Open(store_options);
  if (!store.ok()) return store.status();
  index::IndexServiceImpl service(store->get(), {});
  serving::ServerOptions server_options;
  server_options.max_in_flight = std::max(256, options.clients * 2);
  absl::StatusOr<std::unique_ptr<serving::Server>> server =
      serving::Server::Start(server_options, {&service});
  if (!server.ok()) return server.status();
  (*server)->SetServing(true);
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());
  absl::StatusOr<serving::Connection> admin =
      serving::Connection::Open(address, {});
  if (!admin.ok()) return admin.status();
  auto stub = internvideo::v1::IndexService::NewStub(admin->channel());
  auto call = [&](auto method, const auto& request, auto* response) {
    return serving::FromGrpcStatus((stub.get()->*method)(
        admin->NewContext(absl::Hours(1)).get(), request, response));
  };

  internvideo::v1::CreateCollectionRequest create;
  internvideo::v1::Collection& collection = *create.mutable_collection();
  collection.set_name("bench");
  collection.set_dimension(dim);
  collection.set_metric(internvideo::v1::METRIC_L2);
  collection.set_index_factory(absl::StrCat("HNSW", options.hnsw_m));
  collection.mutable_params()->set_hnsw_ef_construction(
      options.ef_construction);
  collection.mutable_params()->set_hnsw_ef_search(options.ef_search);
  // A --work-dir kept from an earlier run with the same options already
  // holds the collection (the data and queries are generated the same way).
  internvideo::v1::GetStatsRequest stats_request;
  stats_request.set_collection("bench");
  internvideo::v1::CollectionStats stats;
  absl::Status status = call(&internvideo::v1::IndexService::Stub::GetStats,
                             stats_request, &stats);
  const bool built = status.ok() && stats.record_count() == n;
  if (!built) {
    internvideo::v1::DeleteCollectionRequest drop;
    drop.set_name("bench");
    internvideo::v1::DeleteCollectionResponse dropped;
    call(&internvideo::v1::IndexService::Stub::DeleteCollection, drop,
         &dropped)
        .IgnoreError();  // usually there is none
    internvideo::v1::Collection created;
    status = call(&internvideo::v1::IndexService::Stub::CreateCollection,
                  create, &created);
    if (!status.ok()) return status;
    std::printf("upserting over gRPC and building %s (efConstruction %d) ...\n",
                collection.index_factory().c_str(), options.ef_construction);
  } else {
    std::printf("reusing the collection in %s\n", dir.c_str());
  }
  std::fflush(stdout);
  cli::ProgressBar progress("vectors");
  constexpr int kBatch = 1000;
  for (int start = 0; !built && start < n; start += kBatch) {
    internvideo::v1::UpsertRequest request;
    request.set_collection("bench");
    for (int i = start; i < std::min(n, start + kBatch); ++i) {
      internvideo::v1::Record* record = request.add_records();
      record->set_id(std::to_string(i));  // label i = id i (added in order)
      record->mutable_embedding()->mutable_values()->Add(
          points.begin() + int64_t{i} * dim,
          points.begin() + int64_t{i + 1} * dim);
      (*record->mutable_metadata())["path"].set_string_value(
          absl::StrCat("videos/", i, ".mp4"));
    }
    internvideo::v1::UpsertResponse response;
    status =
        call(&internvideo::v1::IndexService::Stub::Upsert, request, &response);
    if (!status.ok()) return status;
    progress.Update(std::min(n, start + kBatch), n);
  }
  const double build_seconds = built ? 0 : progress.seconds();

  // The very same index in-process: the service's snapshot, read back.
  internvideo::v1::SnapshotRequest snapshot_request;
  snapshot_request.set_collection("bench");
  internvideo::v1::SnapshotResponse snapshot;
  status = call(&internvideo::v1::IndexService::Stub::Snapshot,
                snapshot_request, &snapshot);
  if (!status.ok()) return status;
  std::vector<std::string> ids;
  absl::StatusOr<std::unique_ptr<faiss::Index>> local =
      index::CollectionIndex::ReadSnapshot(snapshot.path(), ids);
  if (!local.ok()) return local.status();
  for (int i = 0; i < n; ++i) {
    if (ids[i] != std::to_string(i)) {
      return absl::InternalError("snapshot labels are not in upsert order");
    }
  }

  std::printf("exact search for the ground truth ...\n");
  std::fflush(stdout);
  std::vector<float> exact_distances(int64_t{options.queries} * k);
  std::vector<int64_t> exact(int64_t{options.queries} * k);
  faiss::knn_L2sqr(queries.data(), points.data(), dim, options.queries, n, k,
                   exact_distances.data(), exact.data());

  const faiss::Index* hnsw = local->get();
  auto in_process = [&](int q, std::vector<int64_t>& found) {
    // As the service does: one query per call, on the calling thread.
    faiss::SearchParametersHNSW params;
    params.efSearch = std::max(options.ef_search, k);
    std::vector<float> distances(k);
    found.resize(k);
    omp_set_num_threads(1);
    hnsw->search(1, &queries[int64_t{q} * dim], k, distances.data(),
                 found.data(), &params);
    return absl::OkStatus();
  };
  std::vector<std::unique_ptr<serving::Connection>> connections;
  std::vector<std::unique_ptr<internvideo::v1::IndexService::Stub>> stubs;
  for (int c = 0; c < options.clients; ++c) {
    // A channel per client, as separate callers would have.
    grpc::ChannelArguments arguments;
    arguments.SetInt("iv_client", c);  // distinct args: distinct connections
    arguments.SetMaxReceiveMessageSize(64 << 20);
    stubs.push_back(
        internvideo::v1::IndexService::NewStub(grpc::CreateCustomChannel(
            address, grpc::InsecureChannelCredentials(), arguments)));
  }
  std::atomic<int> next_client{0};
  thread_local int client = -1;
  auto over_grpc = [&](int q, std::vector<int64_t>& found) {
    if (client < 0) client = next_client++ % options.clients;
    internvideo::v1::SearchRequest request;
    request.set_collection("bench");
    request.set_k(k);
    request.mutable_vector()->mutable_values()->Add(
        queries.begin() + int64_t{q} * dim,
        queries.begin() + int64_t{q + 1} * dim);
    internvideo::v1::SearchResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
    grpc::Status status = stubs[client]->Search(&context, request, &response);
    if (!status.ok()) return serving::FromGrpcStatus(status);
    found.clear();
    for (const auto& hit : response.hits())
      found.push_back(std::stoll(hit.id()));
    return absl::OkStatus();
  };

  // Warm both paths (connections, caches), then time them.
  const int warmup = std::min(options.queries, 4 * options.clients);
  absl::StatusOr<Run> warm =
      Measure(warmup, options.clients, k, exact, in_process);
  if (!warm.ok()) return warm.status();
  warm = Measure(warmup, options.clients, k, exact, over_grpc);
  if (!warm.ok()) return warm.status();
  // Alternate the sides, so that load from other work on the machine falls
  // on all alike; each reports its median round by QPS. In-process also
  // runs with one thread per core: more threads than cores only contend.
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  std::vector<Run> direct_runs, per_core_runs, remote_runs;
  for (int round = 0; round < options.rounds; ++round) {
    absl::StatusOr<Run> direct =
        Measure(options.queries, options.clients, k, exact, in_process);
    if (!direct.ok()) return direct.status();
    absl::StatusOr<Run> per_core =
        Measure(options.queries, cores, k, exact, in_process);
    if (!per_core.ok()) return per_core.status();
    absl::StatusOr<Run> remote =
        Measure(options.queries, options.clients, k, exact, over_grpc);
    if (!remote.ok()) return remote.status();
    std::printf(
        "round %d: in-process %.1f QPS (%d threads), %.1f QPS (%d), gRPC "
        "%.1f QPS\n",
        round + 1, direct->qps, options.clients, per_core->qps, cores,
        remote->qps);
    std::fflush(stdout);
    direct_runs.push_back(*direct);
    per_core_runs.push_back(*per_core);
    remote_runs.push_back(*remote);
  }
  auto median = [](std::vector<Run> runs) {
    std::sort(runs.begin(), runs.end(),
              [](const Run& a, const Run& b) { return a.qps < b.qps; });
    return runs[runs.size() / 2];
  };
  const Run direct = median(direct_runs);
  const Run per_core = median(per_core_runs);
  const Run remote = median(remote_runs);

  std::printf(
      "\nsearch by vector: %d x %d, HNSW%d (efConstruction %d, efSearch "
      "%d), L2, k=%d, %d concurrent clients, %d queries x %d rounds "
      "(median shown), %u cores\n"
      "index built over gRPC in %.1f s (0: reused); snapshot %.1f MB\n\n",
      n, dim, options.hnsw_m, options.ef_construction, options.ef_search, k,
      options.clients, options.queries, options.rounds,
      std::thread::hardware_concurrency(), build_seconds,
      snapshot.size_bytes() / 1e6);
  std::printf("%-28s %10s %9s %9s %10s %10s\n", "", "QPS", "p50 ms", "p99 ms",
              "CPU ms/q", absl::StrCat("recall@", k).c_str());
  PrintRun(absl::StrCat("FAISS in-process, ", options.clients, " thr").c_str(),
           direct);
  PrintRun(absl::StrCat("FAISS in-process, ", cores, " thr").c_str(), per_core);
  PrintRun(absl::StrCat("index_service gRPC, ", options.clients, " cl").c_str(),
           remote);
  std::printf(
      "\ngRPC / in-process QPS, same %d threads: %.2fx; vs the best "
      "in-process figure: %.2fx (target >= 0.70x at recall@%d >= 0.95)\n",
      options.clients, remote.qps / direct.qps,
      remote.qps / std::max(direct.qps, per_core.qps), k);
  std::printf(
      "CPU per query, in-process (best) / gRPC: %.2fx  (the QPS figures "
      "depend on the machine's other load; this does not)\n",
      std::min(direct.cpu_ms, per_core.cpu_ms) / remote.cpu_ms);
  return absl::OkStatus();
}

}  // namespace iv::bench
