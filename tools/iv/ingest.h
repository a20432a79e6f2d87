// The batch indexer behind `iv ingest`: walks folders for videos, embeds each
// through the encoder service (whole video and sliding-window segments) and
// upserts the vectors with their metadata into an index-service collection.
//
// Resumable by construction: a video's whole-video record is written last
// and carries the file's size, mtime and SHA-256, so a video whose record
// exists and matches is skipped, and one interrupted part-way (segments
// written, whole record not) is simply done again. Record ids:
//   whole video   <absolute path>
//   segment i     <absolute path>#segment=<i>
// A changed video drops the segment records its new version no longer has.
#ifndef TOOLS_IV_INGEST_H_
#define TOOLS_IV_INGEST_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/serving/connection.h"

namespace iv::cli {

struct IngestOptions {
  // Folders (walked recursively) and single files.
  std::vector<std::string> paths;
  // File name extensions that count as videos (lower case, with the dot).
  std::vector<std::string> extensions = {".mp4", ".mkv", ".webm",
                                         ".avi", ".mov", ".m4v"};
  std::string collection = "videos";
  // Create the collection if it does not exist, in the encoder's embedding
  // dimension and model, with this FAISS index.
  bool create_collection = true;
  std::string index_factory = "HNSW32";
  // Per-segment (moment) records over sliding windows; window_s 0 = off.
  double window_s = 2.0;
  double stride_s = 1.0;
  // Send the file's bytes instead of its path (an encoder on another host
  // that cannot read this machine's files).
  bool upload = false;
  // SynthWorld-format manifests (trimmed or untrimmed JSON Lines) whose
  // entries' labels are attached to the videos they name: `caption` (the
  // canonical one), `action`, `color` and `shape` (the actor's), so results
  // can be read and filtered by them.
  std::vector<std::string> manifests;
  // Videos in flight at once.
  int jobs = 4;
  absl::Duration call_timeout = absl::Minutes(5);
};

struct IngestSummary {
  int64_t found = 0;    // video files under the paths
  int64_t indexed = 0;  // embedded and upserted by this run
  int64_t skipped = 0;  // already indexed and unchanged
  int64_t failed = 0;
  int64_t segments = 0;  // segment records upserted
  // (path, error) of every failed file, in the order they failed.
  std::vector<std::pair<std::string, std::string>> errors;
};

// Called after each file with the running totals.
using IngestProgress = std::function<void(const IngestSummary&)>;

// Lists the video files under `options.paths`, sorted; INVALID_ARGUMENT for
// a path that does not exist.
absl::StatusOr<std::vector<std::string>> FindVideos(
    const IngestOptions& options);

// Ingests every video found. Per-file failures (a corrupt file, a file the
// encoder may not read) are counted and listed, not fatal; the returned
// status is an error only when the run cannot proceed at all (a service
// unreachable, the collection missing and not to be created, a dimension
// mismatch).
absl::StatusOr<IngestSummary> Ingest(const IngestOptions& options,
                                     const serving::Connection& encoder,
                                     const serving::Connection& index,
                                     const IngestProgress& progress = {});

}  // namespace iv::cli

#endif  // TOOLS_IV_INGEST_H_
