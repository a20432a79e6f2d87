// index_server: the IndexService over gRPC. Records live in RocksDB under
// --data-dir; FAISS indexes are rebuilt (or loaded from snapshots) on start.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>

#include "common/serving/flags.h"
#include "common/serving/ports.h"
#include "common/serving/server.h"
#include "index_service/index_service.h"
#include "index_service/index_store.h"

int main(int argc, char** argv) {
  CLI::App app{
      "The InternVideo index service: collections of embeddings with "
      "metadata in RocksDB, searched through FAISS indexes by vector, text "
      "or video (text and video through the encoder service)."};
  iv::serving::ServerOptions server_options;
  iv::serving::AddServerFlags(app, server_options, iv::serving::kIndexPort);
  iv::index::IndexStoreOptions store_options;
  store_options.data_dir = "index_data";
  std::string encoder_address;
  iv::serving::ConnectionOptions encoder_options;
  iv::index::CollectionOptions& limits = store_options.collection;
  iv::index::IndexServiceOptions service_options;
  app.add_option("--data-dir", store_options.data_dir,
                 "folder of the record database and index snapshots")
      ->capture_default_str();
  app.add_option("--encoder-address", encoder_address,
                 "host:port of the encoder service, for text and video "
                 "queries (empty: those queries are refused)");
  app.add_option("--encoder-api-key", service_options.encoder_api_key,
                 "API key sent to the encoder service with text and inline "
                 "video queries whose caller sent no key (callers' own keys "
                 "are forwarded; a video path is never embedded with this "
                 "key)");
  app.add_option("--max-k", limits.max_k, "largest k of a search")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--max-batch-records", limits.max_batch_records,
                 "most records in one Upsert")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--rebuild-tombstone-fraction",
                 limits.rebuild_tombstone_fraction,
                 "rebuild an index once deleted vectors still in it exceed "
                 "this fraction of it")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  CLI11_PARSE(app, argc, argv);

  std::fprintf(stderr, "index_server: opening %s ...\n",
               store_options.data_dir.c_str());
  auto store = iv::index::IndexStore::Open(store_options);
  if (!store.ok()) {
    std::fprintf(stderr, "index_server: %s\n",
                 store.status().ToString().c_str());
    return 1;
  }
  if (!encoder_address.empty()) {
    auto encoder =
        iv::serving::Connection::Open(encoder_address, encoder_options);
    if (!encoder.ok()) {
      std::fprintf(stderr, "index_server: --encoder-address: %s\n",
                   encoder.status().ToString().c_str());
      return 2;
    }
    service_options.encoder = *encoder;
  }
  iv::index::IndexServiceImpl service(store->get(), service_options);
  auto server = iv::serving::Server::Start(server_options, {&service});
  if (!server.ok()) {
    std::fprintf(stderr, "index_server: %s\n",
                 server.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "index_server: serving on port %d, data in %s\n",
               (*server)->port(), store_options.data_dir.c_str());
  (*server)->SetServing(true);
  (*server)->RunUntilSignal();
  return 0;
}
