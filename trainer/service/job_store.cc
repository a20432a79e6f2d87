#include "trainer/service/job_store.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/options.h"

namespace iv::trainer::service {
namespace {

// Keys carry a prefix so other record kinds can share the database later.
constexpr char kJobPrefix[] = "job/";

absl::Status FromRocks(const rocksdb::Status& status, const std::string& what) {
  if (status.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", status.ToString()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(
    const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(options, path, &db);
  if (!status.ok()) {
    // A second service on the same folder fails here on RocksDB's LOCK file.
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open the job database ", path, ": ", status.ToString()));
  }
  return std::unique_ptr<JobStore>(
      new JobStore(std::unique_ptr<rocksdb::DB>(db)));
}

absl::Status JobStore::Put(const internvideo::v1::Job& job) {
  std::string value;
  if (!job.SerializeToString(&value)) {
    return absl::InternalError(
        absl::StrCat("cannot serialize job ", job.job_id()));
  }
  rocksdb::WriteOptions write;
  write.sync = true;
  return FromRocks(
      db_->Put(write, absl::StrCat(kJobPrefix, job.job_id()), value),
      absl::StrCat("cannot store job ", job.job_id()));
}

absl::StatusOr<std::vector<internvideo::v1::Job>> JobStore::LoadAll() const {
  std::vector<internvideo::v1::Job> jobs;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(kJobPrefix); it->Valid() && it->key().starts_with(kJobPrefix);
       it->Next()) {
    internvideo::v1::Job job;
    if (!job.ParseFromArray(it->value().data(),
                            static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          absl::StrCat("job record ", it->key().ToString(), " does not parse"));
    }
    jobs.push_back(std::move(job));
  }
  if (absl::Status s = FromRocks(it->status(), "cannot read the job database");
      !s.ok()) {
    return s;
  }
  return jobs;
}

}  // namespace iv::trainer::service
