#include "tools/iv/ingest_command.h"

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/serving/connection.h"
#include "common/serving/flags.h"
#include "common/serving/ports.h"
#include "tools/iv/ingest.h"
#include "tools/iv/progress_bar.h"

namespace iv::cli {
namespace {

struct IngestArgs {
  IngestOptions options;
  std::string encoder = serving::LoopbackAddress(serving::kEncoderPort);
  std::string index = serving::LoopbackAddress(serving::kIndexPort);
  bool no_segments = false;
  serving::ConnectionOptions connection;
};

int RunIngest(IngestArgs& args) {
  if (args.no_segments) args.options.window_s = 0;
  absl::StatusOr<serving::Connection> encoder =
      serving::Connection::Open(args.encoder, args.connection);
  absl::StatusOr<serving::Connection> index =
      serving::Connection::Open(args.index, args.connection);
  if (!encoder.ok() || !index.ok()) {
    std::fprintf(
        stderr, "iv ingest: %s\n",
        std::string((encoder.ok() ? index : encoder).status().message())
            .c_str());
    return 2;
  }
  ProgressBar bar("videos");
  size_t errors_printed = 0;
  absl::StatusOr<IngestSummary> summary =
      Ingest(args.options, *encoder, *index, [&](const IngestSummary& s) {
        // Each failure once, as it happens, above the bar.
        for (; errors_printed < s.errors.size(); ++errors_printed) {
          std::fprintf(stderr, "\nerror: %s: %s\n",
                       s.errors[errors_printed].first.c_str(),
                       s.errors[errors_printed].second.c_str());
        }
        bar.Update(s.indexed + s.skipped + s.failed, s.found,
                   absl::StrFormat("indexed %d  skipped %d  failed %d",
                                   s.indexed, s.skipped, s.failed));
      });
  if (!summary.ok()) {
    std::fprintf(stderr, "iv ingest: %s\n",
                 std::string(summary.status().message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "\n");
  std::printf(
      "ingested into '%s' in %.1f s: %lld videos found, %lld indexed (%lld "
      "segments), %lld unchanged and skipped, %lld failed\n",
      args.options.collection.c_str(), bar.seconds(),
      static_cast<long long>(summary->found),
      static_cast<long long>(summary->indexed),
      static_cast<long long>(summary->segments),
      static_cast<long long>(summary->skipped),
      static_cast<long long>(summary->failed));
  for (const auto& [path, error] : summary->errors) {
    std::printf("  failed: %s: %s\n", path.c_str(), error.c_str());
  }
  return summary->failed > 0 ? 3 : 0;
}

}  // namespace

void AddIngestCommand(CLI::App& iv) {
  auto args = std::make_shared<IngestArgs>();
  CLI::App* ingest = iv.add_subcommand(
      "ingest",
      "Index every video under folders: embed each through the encoder "
      "service (whole video + sliding-window segments) and upsert it with "
      "its metadata (path, duration, size, SHA-256) into an index-service "
      "collection. Unchanged files already indexed are skipped, so an "
      "interrupted run resumes by running it again. Exit status: 0 all "
      "indexed, 3 some files failed (listed), 1 the run could not proceed, "
      "2 bad arguments.");
  ingest->add_option("paths", args->options.paths, "Folders and files")
      ->required();
  ingest->add_option("--encoder", args->encoder, "Encoder service address")
      ->capture_default_str();
  ingest->add_option("--index", args->index, "Index service address")
      ->capture_default_str();
  ingest
      ->add_option("--collection", args->options.collection,
                   "Collection to fill (created if missing)")
      ->capture_default_str();
  ingest
      ->add_option("--index-type", args->options.index_factory,
                   "FAISS index of a new collection (Flat, HNSW32, "
                   "IVF256,PQ32, ...)")
      ->capture_default_str();
  ingest
      ->add_option("--window", args->options.window_s,
                   "Segment window in seconds")
      ->capture_default_str();
  ingest
      ->add_option("--stride", args->options.stride_s,
                   "Step between segment windows in seconds")
      ->capture_default_str();
  ingest->add_option("--manifest", args->options.manifests,
                     "SynthWorld-format manifest whose labels (caption, "
                     "action, color, shape) to attach; repeatable");
  ingest->add_flag("--no-segments", args->no_segments,
                   "Only whole-video embeddings");
  ingest->add_flag("--upload", args->options.upload,
                   "Send file contents instead of paths (encoder on another "
                   "host)");
  ingest->add_option("-j,--jobs", args->options.jobs, "Videos in flight")
      ->capture_default_str();
  serving::AddConnectionFlags(*ingest, args->connection);
  ingest->callback([args] {
    if (int code = RunIngest(*args); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace iv::cli
