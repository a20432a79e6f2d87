// The trainer service's durable record of its jobs: job id -> Job (recipe,
// state, times, output folder, error), one RocksDB key per job. Writes are
// synchronous (WAL fsynced before they return), so a job the service has
// acknowledged survives kill -9 and power loss.
#ifndef TRAINER_SERVICE_JOB_STORE_H_
#define TRAINER_SERVICE_JOB_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "protos/trainer_service.pb.h"
#include "rocksdb/db.h"

namespace iv::trainer::service {

class JobStore {
 public:
  // Opens (creating if needed) the database folder at `path`.
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(
      const std::string& path);

  // Inserts or replaces `job`, durably.
  absl::Status Put(const internvideo::v1::Job& job);

  // Every stored job, in key (job id) order. DATA_LOSS names a record that
  // does not parse.
  absl::StatusOr<std::vector<internvideo::v1::Job>> LoadAll() const;

 private:
  explicit JobStore(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}

  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace iv::trainer::service

#endif  // TRAINER_SERVICE_JOB_STORE_H_
