#include "trainer/service/job_manager.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/data/manifest.h"
#include "common/files/atomic_file.h"
#include "common/files/file_digest.h"
#include "common/proto/text_format.h"
#include "common/text/text_cleaning.h"
#include "nlohmann/json.hpp"
#include "trainer/recipe.h"
#include "trainer/training_checkpoint.h"

namespace iv::trainer::service {
namespace {

namespace fs = std::filesystem;
using internvideo::v1::Checkpoint;
using internvideo::v1::Job;
using internvideo::v1::JobProgress;
using internvideo::v1::JobState;
using internvideo::v1::ListJobsRequest;
using internvideo::v1::ListJobsResponse;
using internvideo::v1::TrainingRecipe;

constexpr char kRecipeFile[] = "recipe.textproto";
constexpr char kWorkerLog[] = "worker.log";
constexpr char kMetricsLog[] = "metrics.jsonl";
constexpr size_t kHistory = 1000;  // reports kept per job for watchers
constexpr size_t kFinishedHistory = 16;
// Limits on what the service reads (README "Limits"): the trainer writes
// metrics lines of a few hundred bytes; longer ones are skipped, and one poll
// reads at most kMetricsReadBytes, so a garbage log costs bounded memory and
// lock time.
constexpr size_t kMaxMetricsLine = 64 << 10;
constexpr int64_t kMetricsReadBytes = 16 << 20;
// A manifest is read whole at submit time to check its videos' paths.
constexpr uintmax_t kMaxManifestBytes = uintmax_t{256} << 20;
// A failed job's error: the worker log's last line, at most this long.
constexpr size_t kMaxErrorBytes = 1024;

bool IsFinal(JobState state) {
  return state == internvideo::v1::JOB_STATE_SUCCEEDED ||
         state == internvideo::v1::JOB_STATE_FAILED ||
         state == internvideo::v1::JOB_STATE_CANCELLED;
}

bool IsActive(JobState state) {
  return state == internvideo::v1::JOB_STATE_PENDING ||
         state == internvideo::v1::JOB_STATE_RUNNING;
}

void SetTime(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(time);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>((time - absl::FromUnixSeconds(seconds)) /
                                      absl::Nanoseconds(1)));
}

absl::Time GetTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t seconds = absl::ToInt64Seconds(d);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>((d - absl::Seconds(seconds)) /
                                      absl::Nanoseconds(1)));
}

int64_t CreateNanos(const Job& job) {
  return absl::ToUnixNanos(GetTime(job.create_time()));
}

// Fills the parts of the job's progress that follow from its record and the
// clock: state, elapsed time and the ETA at the latest throughput.
void RefreshProgress(Job& job) {
  JobProgress& p = *job.mutable_progress();
  p.set_job_id(job.job_id());
  p.set_state(job.state());
  p.set_total_steps(job.recipe().total_steps());
  const absl::Time now = absl::Now();
  SetTime(now, p.mutable_time());
  if (job.has_start_time()) {
    const absl::Time end = job.has_end_time() ? GetTime(job.end_time()) : now;
    SetDuration(std::max(end - GetTime(job.start_time()), absl::ZeroDuration()),
                p.mutable_elapsed());
  }
  p.clear_eta();
  if (job.state() == internvideo::v1::JOB_STATE_RUNNING &&
      p.clips_per_second() > 0) {
    const double remaining = static_cast<double>(p.total_steps() - p.step()) *
                             job.recipe().global_batch_size() /
                             p.clips_per_second();
    SetDuration(absl::Seconds(std::max(remaining, 0.0)), p.mutable_eta());
  }
}

bool ValidJobId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '_' || c == '-';
  });
}

std::string NewJobId() {
  static std::mt19937_64 random{std::random_device{}()};
  return absl::StrCat(
      "job-",
      absl::FormatTime("%Y%m%d-%H%M%S", absl::Now(), absl::UTCTimeZone()), "-",
      absl::Hex(random() & 0xffffff, absl::kZeroPad6));
}

// The last line of a worker's log: its error when it failed. Well-formed
// UTF-8 (a proto3 string must be, or the record would not load again) and
// at most kMaxErrorBytes.
std::string WorkerError(const std::string& path) {
  const std::string line = process::LastLogLine(path);
  return text::EncodeUtf8(
      text::DecodeUtf8(absl::string_view(line).substr(0, kMaxErrorBytes)));
}

std::string DescribeExit(int wait_status) {
  return absl::StrCat("the worker ", process::DescribeWaitStatus(wait_status));
}

// Applies one metrics.jsonl line to `progress`; false for anything that is
// not an event the trainer writes (garbage, wrong types), which is skipped.
bool ApplyMetricsLine(absl::string_view line, JobProgress& progress) {
  const nlohmann::json event =
      nlohmann::json::parse(line.begin(), line.end(), nullptr,
                            /*allow_exceptions=*/false);
  if (!event.is_object()) return false;  // also a parse error
  const auto step = event.find("step");
  if (step == event.end() || !step->is_number_integer()) return false;
  auto number = [&event](const char* key) {
    const auto it = event.find(key);
    return it != event.end() && it->is_number() ? it->get<double>() : 0.0;
  };
  const auto eval = event.find("eval");
  if (eval != event.end() && eval->is_object()) {
    progress.clear_eval_metrics();
    for (const auto& [key, value] : eval->items()) {
      if (value.is_number()) {
        (*progress.mutable_eval_metrics())[key] = value.get<double>();
      }
    }
    progress.set_eval_step(step->get<int64_t>());
  } else {
    progress.set_step(step->get<int64_t>());
    progress.set_loss(number("loss"));
    progress.set_learning_rate(number("lr"));
    progress.set_clips_per_second(number("clips_per_second"));
  }
  return true;
}

// The absolute paths of the videos a manifest lists, resolved as the
// trainer resolves them.
absl::StatusOr<std::vector<std::string>> ManifestVideos(const std::string& path,
                                                        bool untrimmed) {
  std::vector<std::string> videos;
  auto collect = [&videos](const auto& entries) -> absl::Status {
    if (!entries.ok()) return entries.status();
    for (const auto& entry : *entries) videos.push_back(entry.path);
    return absl::OkStatus();
  };
  absl::Status status = untrimmed ? collect(data::ReadUntrimmedManifest(path))
                                  : collect(data::ReadTrimmedManifest(path));
  if (!status.ok()) return status;
  return videos;
}

// A manifest reader's error for the caller. The reader's message may quote
// the file ("not JSON: ... last read: '<bytes>'"), so only its line number
// and field ("<path>:<line>: <field>: <problem>", the field built from the
// format's own keys) are passed on.
absl::Status ManifestError(const std::string& field, const std::string& path,
                           const absl::Status& status) {
  if (!absl::IsInvalidArgument(status)) {
    return absl::Status(
        status.code(),
        absl::StrCat(field, ": cannot read the manifest ", path));
  }
  std::string where;
  absl::string_view rest = status.message();
  int line = 0;
  if (absl::ConsumePrefix(&rest, path) && absl::ConsumePrefix(&rest, ":")) {
    std::vector<absl::string_view> parts =
        absl::StrSplit(rest, absl::MaxSplits(": ", 2));
    if (parts.size() == 3 && absl::SimpleAtoi(parts[0], &line)) {
      where = absl::StrCat(" at line ", line);
      if (parts[1] != "line") absl::StrAppend(&where, ", field ", parts[1]);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", path, " is not a valid manifest", where,
                   "; see the manifest format in shared/spec/SYNTHWORLD.md"));
}

int64_t FolderBytes(const std::string& dir) {
  int64_t bytes = 0;
  std::error_code error;
  for (const auto& item : fs::recursive_directory_iterator(dir, error)) {
    if (item.is_regular_file(error)) bytes += item.file_size(error);
  }
  return bytes;
}

// The name becomes a folder: only plain names qualify.
bool PlainModelName(const std::string& name) {
  return !name.empty() && name.size() <= 128 && name[0] != '.' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.';
         });
}

std::vector<std::string> AllRoots(const JobManagerOptions& options) {
  std::vector<std::string> roots = {options.jobs_root};
  roots.insert(roots.end(), options.allowed_roots.begin(),
               options.allowed_roots.end());
  return roots;
}

}  // namespace

std::string PublishedModelId(const Job& job) {
  if (PlainModelName(job.recipe().model().name())) {
    return job.recipe().model().name();
  }
  if (PlainModelName(job.recipe().name())) return job.recipe().name();
  return job.job_id();
}

std::string PublishedModelField(const Job& job) {
  if (PlainModelName(job.recipe().model().name())) return "recipe.model.name";
  if (PlainModelName(job.recipe().name())) return "recipe.name";
  return "job_id";
}

JobManager::JobManager(const JobManagerOptions& options,
                       std::unique_ptr<JobStore> store)
    : options_(options), roots_(AllRoots(options)), store_(std::move(store)) {}

absl::StatusOr<std::unique_ptr<JobManager>> JobManager::Open(
    JobManagerOptions options) {
  if (options.jobs_root.empty()) {
    return absl::InvalidArgumentError("jobs_root: is required");
  }
  // Absolute, so jobs report folders that mean the same to every reader.
  options.jobs_root = fs::absolute(options.jobs_root).lexically_normal();
  std::error_code error;
  fs::create_directories(options.jobs_root, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create the jobs root ", options.jobs_root, ": ",
                     error.message()));
  }
  absl::StatusOr<std::unique_ptr<JobStore>> store =
      JobStore::Open(options.db_path);
  if (!store.ok()) return store.status();
  absl::StatusOr<std::vector<Job>> jobs = (*store)->LoadAll();
  if (!jobs.ok()) return jobs.status();

  std::unique_ptr<JobManager> manager(
      new JobManager(options, *std::move(store)));
  {
    absl::MutexLock lock(&manager->mu_);
    for (Job& job : *jobs) {
      Entry& entry = manager->jobs_[job.job_id()];
      entry.job = std::move(job);
      // The progress is rebuilt from the job's own log, which is the
      // record of what its workers did; the stored copy may be older.
      manager->ReadMetrics(entry);
      if (IsActive(entry.job.state())) {
        // Its workers died with the previous service (their parent-death
        // signal), so the job is not running whatever the record says.
        if (options.on_restart == OnRestart::kResume) {
          entry.job.set_state(internvideo::v1::JOB_STATE_PENDING);
        } else {
          entry.job.set_state(internvideo::v1::JOB_STATE_FAILED);
          entry.job.set_error(
              "the service restarted while the job ran; its workers were "
              "stopped");
          SetTime(absl::Now(), entry.job.mutable_end_time());
        }
        if (absl::Status s = manager->Persist(entry); !s.ok()) return s;
      }
      manager->Report(entry);
    }
  }
  manager->monitor_ = std::thread([m = manager.get()] { m->Monitor(); });
  return manager;
}

JobManager::~JobManager() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    changed_.SignalAll();
  }
  if (monitor_.joinable()) monitor_.join();
}

std::string JobManager::JobDir(const std::string& job_id) const {
  return (fs::path(options_.jobs_root) / job_id).string();
}

absl::Status JobManager::CheckRoots(TrainingRecipe& recipe,
                                    const std::string& output_dir) const {
  auto denied = [](const std::string& field, const std::string& path) {
    return absl::PermissionDeniedError(
        absl::StrCat(field, ": ", path,
                     " is outside the service's allowed roots (--jobs-root, "
                     "--allowed-roots); use a file under one of them"));
  };
  if (!roots_.Contains(output_dir)) {
    return denied("recipe.output_dir", output_dir);
  }
  for (const auto& [field, path] : RecipeInputPaths(recipe)) {
    // Empty paths are validation's to name.
    if (!path->empty() && !roots_.Contains(*path)) {
      return denied(absl::StrCat("recipe.", field), *path);
    }
  }
  return absl::OkStatus();
}

absl::Status JobManager::CheckManifestVideos(
    const TrainingRecipe& recipe) const {
  const bool untrimmed =
      recipe.objective_case() == TrainingRecipe::kLocalization;
  for (const auto& [name, data] :
       {std::pair{"train_data", &recipe.train_data()},
        std::pair{"eval_data", &recipe.eval_data()}}) {
    for (int i = 0; i < data->manifests_size(); ++i) {
      const std::string& path = data->manifests(i).path();
      const std::string field =
          absl::StrCat("recipe.", name, ".manifests[", i, "].path");
      std::error_code error;
      const uintmax_t bytes = fs::file_size(path, error);
      if (!error && bytes > kMaxManifestBytes) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": ", path, " has ", bytes,
                         " bytes; the service reads manifests of at most ",
                         kMaxManifestBytes, " bytes: split it into several"));
      }
      absl::StatusOr<std::vector<std::string>> videos =
          ManifestVideos(path, untrimmed);
      if (!videos.ok()) return ManifestError(field, path, videos.status());
      for (size_t row = 0; row < videos->size(); ++row) {
        // The video's path is the manifest's content: named by row only.
        if (!roots_.Contains((*videos)[row])) {
          return absl::PermissionDeniedError(absl::StrCat(
              field, ": the video of entry ", row + 1, " of ", path,
              " lies outside the service's allowed roots (--jobs-root, "
              "--allowed-roots); list videos under one of them"));
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status JobManager::CheckOutputDir(const std::string& job_id,
                                        const std::string& output_dir) const {
  const fs::path out = files::ResolvePath(output_dir);
  auto overlaps = [&out](const std::string& other) {
    const fs::path resolved = files::ResolvePath(other);
    return files::IsUnder(out, resolved) || files::IsUnder(resolved, out);
  };
  auto denied = [&output_dir](absl::string_view why) {
    return absl::PermissionDeniedError(
        absl::StrCat("recipe.output_dir: ", output_dir, " ", why,
                     "; leave output_dir empty for the job's own folder, or "
                     "name a new folder under an allowed root"));
  };
  // The jobs root holds every job's folder, and may hold the database.
  const fs::path jobs_root = files::ResolvePath(options_.jobs_root);
  if (files::IsUnder(jobs_root, out)) {
    return denied("is or holds the jobs root");
  }
  if (files::IsUnder(out, jobs_root) &&
      !files::IsUnder(out, files::ResolvePath(JobDir(job_id)))) {
    return denied(
        absl::StrCat("is in the jobs root but not in this job's "
                     "own folder ",
                     JobDir(job_id)));
  }
  if (!options_.db_path.empty() && overlaps(options_.db_path)) {
    return denied("is, holds or lies in the service's job database");
  }
  for (const auto& [other_id, other] : jobs_) {
    // Two runs in one folder would resume from each other's checkpoints.
    if (overlaps(other.job.output_dir())) {
      return denied(absl::StrCat(
          "is, holds or lies in the output folder of job ", other_id));
    }
  }
  return absl::OkStatus();
}

const Job* JobManager::ModelOwner(const std::string& model_id) const {
  const Job* owner = nullptr;
  for (const auto& [id, entry] : jobs_) {
    if (PublishedModelId(entry.job) == model_id &&
        (owner == nullptr ||
         std::pair{CreateNanos(entry.job), id} <
             std::pair{CreateNanos(*owner), owner->job_id()})) {
      owner = &entry.job;
    }
  }
  return owner;
}

absl::StatusOr<Job> JobManager::Submit(TrainingRecipe recipe,
                                       const std::string& job_id) {
  if (!job_id.empty() && !ValidJobId(job_id)) {
    return absl::InvalidArgumentError(
        "job_id: must be 1-64 characters of [A-Za-z0-9_-]");
  }
  const std::string id = job_id.empty() ? NewJobId() : job_id;
  // A recipe sent over the wire has no folder of its own: relative paths
  // mean the service's working directory.
  ResolveRecipePaths(fs::current_path().string(), recipe);
  const std::string output_dir =
      recipe.output_dir().empty()
          ? JobDir(id)
          : fs::absolute(recipe.output_dir()).lexically_normal().string();
  // Roots before validation, so that validation (which opens manifests)
  // never reveals whether a file outside them exists.
  if (absl::Status s = CheckRoots(recipe, output_dir); !s.ok()) return s;
  if (absl::StatusOr<model::InternVideoConfig> valid = ValidateRecipe(recipe);
      !valid.ok()) {
    return valid.status();
  }
  if (absl::Status s = CheckManifestVideos(recipe); !s.ok()) return s;

  Entry entry;
  entry.job.set_job_id(id);
  *entry.job.mutable_recipe() = std::move(recipe);
  entry.job.set_state(internvideo::v1::JOB_STATE_PENDING);
  entry.job.set_output_dir(output_dir);

  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the service is stopping");
  if (jobs_.count(id) > 0) {
    return absl::AlreadyExistsError(absl::StrCat("job_id: ", id, " exists"));
  }
  if (absl::Status s = CheckOutputDir(id, output_dir); !s.ok()) return s;
  if (!options_.publish_root.empty()) {
    // A model id names one line of versions that the encoder service
    // serves: only the job that first claimed it may add to it.
    const std::string model_id = PublishedModelId(entry.job);
    if (const Job* owner = ModelOwner(model_id); owner != nullptr) {
      return absl::AlreadyExistsError(
          absl::StrCat(PublishedModelField(entry.job), ": the model ", model_id,
                       " is published by job ", owner->job_id(),
                       "; give this job's model another name"));
    }
    std::error_code error;
    if (fs::exists(fs::path(options_.publish_root) / model_id, error)) {
      return absl::AlreadyExistsError(absl::StrCat(
          PublishedModelField(entry.job), ": the model ", model_id,
          " is already in the publish root and belongs to no job of this "
          "service; give this job's model another name"));
    }
  }
  const int64_t active = std::count_if(jobs_.begin(), jobs_.end(), [](auto& j) {
    return IsActive(j.second.job.state());
  });
  if (active >= options_.max_active_jobs) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the service runs its maximum of ",
                     options_.max_active_jobs, " jobs; retry later"));
  }
  std::error_code error;
  fs::create_directories(JobDir(id), error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot create ", JobDir(id), ": ", error.message()));
  }
  if (absl::Status s = files::WriteFileAtomically(
          (fs::path(JobDir(id)) / kRecipeFile).string(),
          proto::ToTextFormat(entry.job.recipe()));
      !s.ok()) {
    return s;
  }

  SetTime(absl::Now(), entry.job.mutable_create_time());
  // Acknowledged only once durable: a submit that returned survives kill -9.
  if (absl::Status s = Persist(entry); !s.ok()) return s;
  Entry& stored = jobs_[id] = std::move(entry);
  Report(stored);
  RefreshProgress(stored.job);
  return stored.job;
}

absl::StatusOr<Job> JobManager::Get(const std::string& job_id) const {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("job_id: no job ", job_id));
  }
  Job job = it->second.job;
  RefreshProgress(job);
  return job;
}

absl::StatusOr<ListJobsResponse> JobManager::List(
    const ListJobsRequest& request) const {
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: must be in [0, 1000], got ", request.page_size()));
  }
  const int page_size = request.page_size() == 0 ? 50 : request.page_size();
  // A token is the (create time, id) of the last job sent: stable while
  // jobs are added, unlike an offset.
  std::pair<int64_t, std::string> after;
  const bool has_token = !request.page_token().empty();
  if (has_token) {
    std::vector<std::string> parts =
        absl::StrSplit(request.page_token(), absl::MaxSplits('/', 1));
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &after.first)) {
      return absl::InvalidArgumentError(
          "page_token: not a token from ListJobs");
    }
    after.second = parts[1];
  }
  std::vector<Job> jobs;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, entry] : jobs_) {
      if (!request.states().empty() &&
          std::find(request.states().begin(), request.states().end(),
                    entry.job.state()) == request.states().end()) {
        continue;
      }
      if (has_token &&
          std::pair{CreateNanos(entry.job), id} >= after) {  // newest first
        continue;
      }
      jobs.push_back(entry.job);
    }
  }
  std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
    return std::pair{CreateNanos(a), a.job_id()} >
           std::pair{CreateNanos(b), b.job_id()};
  });
  ListJobsResponse response;
  for (size_t i = 0; i < jobs.size() && i < static_cast<size_t>(page_size);
       ++i) {
    RefreshProgress(jobs[i]);
    *response.add_jobs() = jobs[i];
  }
  if (jobs.size() > static_cast<size_t>(page_size)) {
    const Job& last = response.jobs(page_size - 1);
    response.set_next_page_token(
        absl::StrCat(CreateNanos(last), "/", last.job_id()));
  }
  return response;
}

absl::StatusOr<Job> JobManager::Cancel(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("job_id: no job ", job_id));
  }
  Entry& entry = it->second;
  const JobState state = entry.job.state();
  if (state == internvideo::v1::JOB_STATE_SUCCEEDED ||
      state == internvideo::v1::JOB_STATE_FAILED) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " already ",
                     state == internvideo::v1::JOB_STATE_SUCCEEDED ? "SUCCEEDED"
                                                                   : "FAILED"));
  }
  if (IsActive(state)) {
    entry.job.set_state(internvideo::v1::JOB_STATE_CANCELLED);
    SetTime(absl::Now(), entry.job.mutable_end_time());
    if (absl::Status s = Persist(entry); !s.ok()) return s;
    if (entry.worker.running()) {
      // SIGTERM: the trainer stops at the next step boundary; the monitor
      // kills the group if it has not ended by kill_at.
      entry.worker.Signal(SIGTERM);
      entry.kill_at = absl::Now() + options_.stop_grace;
    }
    Report(entry);
  }
  Job job = entry.job;
  RefreshProgress(job);
  return job;
}

absl::StatusOr<std::vector<Checkpoint>> JobManager::ListCheckpoints(
    const std::string& job_id) const {
  absl::StatusOr<Job> job = Get(job_id);
  if (!job.ok()) return job.status();
  // Outside the lock: verifying checksums reads every checkpoint file.
  std::vector<Checkpoint> checkpoints;
  for (const CheckpointInfo& info :
       ListTrainingCheckpoints(job->output_dir())) {
    Checkpoint& checkpoint = checkpoints.emplace_back();
    checkpoint.set_path(info.path);
    checkpoint.set_step(info.state.step);
    checkpoint.mutable_metrics()->insert(info.state.metrics.begin(),
                                         info.state.metrics.end());
    struct stat st;
    if (stat(info.path.c_str(), &st) == 0) {
      SetTime(absl::TimeFromTimespec(st.st_mtim),
              checkpoint.mutable_create_time());
    }
    checkpoint.set_size_bytes(FolderBytes(info.path));
    absl::StatusOr<std::string> sha =
        files::Sha256File((fs::path(info.path) / "model.safetensors").string());
    if (sha.ok()) checkpoint.set_sha256(*sha);
    if (!options_.publish_root.empty()) {
      const std::string model_id = PublishedModelId(*job);
      const std::string version = fs::path(info.path).filename().string();
      if (fs::is_directory(fs::path(options_.publish_root) / model_id /
                           version)) {
        checkpoint.mutable_published_as()->set_model_id(model_id);
        checkpoint.mutable_published_as()->set_version(version);
      }
    }
  }
  return checkpoints;
}

absl::StatusOr<std::vector<JobManager::Update>> JobManager::WaitForUpdates(
    const std::string& job_id, uint64_t after, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("job_id: no job ", job_id));
  }
  const Entry& entry = it->second;  // entries are never erased
  if (after == 0) return std::vector<Update>{entry.history.back()};
  while (entry.history.back().sequence <= after && !stopping_) {
    if (changed_.WaitWithDeadline(&mu_, deadline)) break;
  }
  std::vector<Update> updates;
  for (const Update& update : entry.history) {
    if (update.sequence > after) updates.push_back(update);
  }
  return updates;
}

void JobManager::Report(Entry& entry) {
  RefreshProgress(entry.job);
  Update update;
  update.progress = entry.job.progress();
  update.sequence = entry.next_sequence++;
  update.final = IsFinal(entry.job.state());
  entry.history.push_back(std::move(update));
  // A finished job's reports matter only to watchers still catching up;
  // keeping a few bounds the memory of a service with many old jobs.
  const size_t keep = entry.history.back().final ? kFinishedHistory : kHistory;
  while (entry.history.size() > keep) entry.history.pop_front();
  changed_.SignalAll();
}

absl::Status JobManager::Persist(const Entry& entry) {
  absl::Status status = store_->Put(entry.job);
  if (!status.ok()) {
    std::fprintf(stderr, "trainer service: %s\n", status.ToString().c_str());
  }
  return status;
}

void JobManager::ReadMetrics(Entry& entry) {
  process::ReadNewLines(
      (fs::path(entry.job.output_dir()) / kMetricsLog).string(),
      entry.metrics_position, kMaxMetricsLine, kMetricsReadBytes,
      [&](absl::string_view line) {
        if (ApplyMetricsLine(line, *entry.job.mutable_progress())) {
          Report(entry);
        }
      });
}

void JobManager::Launch(Entry& entry) {
  const std::string job_dir = JobDir(entry.job.job_id());
  process::SpawnOptions spawn;
  spawn.argv = {options_.iv_binary, "train",
                (fs::path(job_dir) / kRecipeFile).string(), "--output-dir",
                entry.job.output_dir()};
  if (RecipeWorldSize(entry.job.recipe()) > 1) {
    // The local launcher of `iv train` starts one process per rank.
    spawn.argv.push_back("--nproc");
    spawn.argv.push_back(absl::StrCat(RecipeWorldSize(entry.job.recipe())));
  }
  spawn.log_path = (fs::path(job_dir) / kWorkerLog).string();
  // Its own group, so signals reach every process of a multi-rank job.
  spawn.own_process_group = true;
  spawn.die_with_parent = true;
  absl::StatusOr<process::ChildProcess> worker = process::Spawn(spawn);
  if (!worker.ok()) {
    entry.job.set_state(internvideo::v1::JOB_STATE_FAILED);
    entry.job.set_error(absl::StrCat("cannot start the worker (log ",
                                     spawn.log_path,
                                     "): ", worker.status().message()));
    SetTime(absl::Now(), entry.job.mutable_end_time());
  } else {
    entry.worker = *std::move(worker);
    entry.metrics_position = process::LogPosition();
    entry.kill_at = absl::InfiniteFuture();
    entry.job.set_state(internvideo::v1::JOB_STATE_RUNNING);
    SetTime(absl::Now(), entry.job.mutable_start_time());
  }
  (void)Persist(entry);
  Report(entry);
}

void JobManager::Finish(Entry& entry, int wait_status) {
  // Processes the worker left in its group (ranks of a multi-process job).
  entry.worker.Signal(SIGKILL);
  entry.worker = process::ChildProcess();
  ReadMetrics(entry);
  if (entry.job.state() == internvideo::v1::JOB_STATE_RUNNING) {
    SetTime(absl::Now(), entry.job.mutable_end_time());
    if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
      entry.job.set_state(internvideo::v1::JOB_STATE_SUCCEEDED);
      std::vector<CheckpointInfo> checkpoints =
          ListTrainingCheckpoints(entry.job.output_dir());
      // Only the model's owner publishes (a store from before owners were
      // checked may hold others).
      if (!checkpoints.empty() &&
          ModelOwner(PublishedModelId(entry.job)) == &entry.job) {
        if (absl::Status s = Publish(entry.job, checkpoints.back().path);
            !s.ok()) {
          // The job did succeed; a failed publish is the service's problem.
          std::fprintf(stderr, "trainer service: job %s: %s\n",
                       entry.job.job_id().c_str(), s.ToString().c_str());
        }
      }
    } else {
      const std::string line = WorkerError(
          (fs::path(JobDir(entry.job.job_id())) / kWorkerLog).string());
      entry.job.set_state(internvideo::v1::JOB_STATE_FAILED);
      entry.job.set_error(
          line.empty()
              ? DescribeExit(wait_status)
              : absl::StrCat(line, " (", DescribeExit(wait_status), ")"));
    }
  }
  (void)Persist(entry);
  Report(entry);
}

absl::Status JobManager::Publish(const Job& job,
                                 const std::string& checkpoint) const {
  if (options_.publish_root.empty()) return absl::OkStatus();
  const fs::path dir = fs::path(options_.publish_root) / PublishedModelId(job);
  const fs::path target = dir / fs::path(checkpoint).filename();
  if (fs::exists(target)) return absl::OkStatus();
  // Built under a temporary name and renamed, so the encoder service sees a
  // whole version or none. Hard links cost no space and outlive the
  // trainer's pruning of its own copy.
  const fs::path temp =
      dir / absl::StrCat(".tmp-", target.filename().string(), "-", getpid());
  std::error_code error;
  fs::remove_all(temp, error);
  fs::create_directories(temp, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot publish to ", temp.string(),
                                            ": ", error.message()));
  }
  for (const auto& item : fs::recursive_directory_iterator(checkpoint, error)) {
    const fs::path to = temp / fs::relative(item.path(), checkpoint);
    if (item.is_directory()) {
      fs::create_directories(to, error);
    } else {
      fs::create_hard_link(item.path(), to, error);
      if (error) fs::copy_file(item.path(), to, error);  // another file system
    }
    if (error) break;
  }
  if (!error) fs::rename(temp, target, error);
  if (error) {
    fs::remove_all(temp);
    return absl::InternalError(absl::StrCat("cannot publish ", checkpoint,
                                            " as ", target.string(), ": ",
                                            error.message()));
  }
  if (const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY); fd >= 0) {
    fsync(fd);
    close(fd);
  }
  return absl::OkStatus();
}

void JobManager::Monitor() {
  {
    absl::MutexLock lock(&mu_);
    while (!stopping_) {
      const absl::Time now = absl::Now();
      for (auto& [id, entry] : jobs_) {
        if (entry.job.state() == internvideo::v1::JOB_STATE_PENDING &&
            !entry.worker.running()) {
          Launch(entry);
        }
        if (!entry.worker.running()) continue;
        ReadMetrics(entry);
        if (const std::optional<int> status = entry.worker.TryWait()) {
          Finish(entry, *status);
        } else if (now >= entry.kill_at) {
          entry.worker.Signal(SIGKILL);
        }
      }
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.poll_interval);
    }
  }
  StopWorkers();
}

void JobManager::StopWorkers() {
  std::vector<process::ChildProcess> workers;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, entry] : jobs_) {
      if (entry.worker.running()) workers.push_back(std::move(entry.worker));
    }
  }
  // Like a cancel, but the records stay RUNNING: a later service resumes
  // them from the checkpoint each writes now.
  for (const process::ChildProcess& worker : workers) worker.Signal(SIGTERM);
  const absl::Time kill_at = absl::Now() + options_.stop_grace;
  while (!workers.empty()) {
    for (auto it = workers.begin(); it != workers.end();) {
      if (it->TryWait().has_value()) {
        it->Signal(SIGKILL);
        it = workers.erase(it);
      } else {
        ++it;
      }
    }
    if (absl::Now() >= kill_at) {
      for (process::ChildProcess& worker : workers) {
        worker.Signal(SIGKILL);
        worker.Wait();
      }
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace iv::trainer::service
