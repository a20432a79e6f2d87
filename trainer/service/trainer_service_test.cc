// The trainer service end to end: a real server on loopback, a real gRPC
// client, and real `iv train` worker processes training a tiny masked
// encoder on a small rendered SynthWorld. Covers the job lifecycle
// (submit, watch, checkpoints, publishing), the error codes, cancelling,
// restarts on the same RocksDB folder, and `iv train --service`.
#include "trainer/service/trainer_service.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/process/command.h"
#include "common/serving/connection.h"
#include "common/serving/server.h"
#include "common/testing/process_ended.h"
#include "common/testing/temp_dir.h"
#include "google/protobuf/text_format.h"
#include "nlohmann/json.hpp"
#include "trainer/recipe.h"
#include "trainer/service/job_manager.h"
#include "trainer/testing/small_run.h"

namespace iv::trainer::service {
namespace {

namespace fs = std::filesystem;
using internvideo::v1::Job;
using internvideo::v1::JobProgress;
using internvideo::v1::TrainerService;
using internvideo::v1::TrainingRecipe;

// SmallWorld's recognition recipe (a 2-block tiny masked encoder), with a
// model name to publish under (each job of a service needs its own).
TrainingRecipe TinyRecipe(int64_t total_steps,
                          const std::string& model = "iv-test-tiny") {
  absl::StatusOr<TrainingRecipe> recipe =
      ParseRecipe(test::SmallRecipeText(total_steps, 0));
  EXPECT_TRUE(recipe.ok()) << recipe.status();
  recipe->mutable_model()->set_name(model);
  return *recipe;
}

// A service as trainer_server runs it, on fixed folders so a second one can
// take over the first one's jobs.
struct Service {
  std::unique_ptr<JobManager> jobs;
  std::unique_ptr<TrainerServiceImpl> impl;
  std::unique_ptr<serving::Server> server;
  std::unique_ptr<TrainerService::Stub> stub;
  std::unique_ptr<serving::Connection> connection;

  ~Service() {
    server.reset();  // first: no call may outlive the manager
    jobs.reset();
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    return connection->NewContext(absl::Seconds(60));
  }
};

class TrainerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Normalized, as the service reports paths (TEST_TMPDIR may end in /).
    root_ = fs::path(test::FreshTempDir("trainer_service"))
                .lexically_normal()
                .string();
    test::SmallWorld();
  }

  JobManagerOptions Options() const {
    JobManagerOptions options;
    options.db_path = root_ + "/db";
    options.jobs_root = root_ + "/jobs";
    options.publish_root = root_ + "/published";
    options.iv_binary = fs::absolute("tools/iv/iv").string();
    options.allowed_roots = {test::SmallWorld()};
    options.poll_interval = absl::Milliseconds(50);
    options.stop_grace = absl::Seconds(30);
    return options;
  }

  // A stand-in for `iv` that runs `script` (sh; "$4" is the output folder),
  // for tests of the service's own behavior that need no training.
  std::string FakeWorker(const std::string& script) const {
    const std::string path = root_ + "/fake_iv.sh";
    std::ofstream(path) << "#!/bin/sh\n" << script << "\n";
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }

  std::unique_ptr<Service> Start(
      const JobManagerOptions& options,
      absl::Duration watch_idle_timeout =
          TrainerServiceImpl::kDefaultWatchIdleTimeout,
      int max_in_flight = 256) {
    auto service = std::make_unique<Service>();
    absl::StatusOr<std::unique_ptr<JobManager>> jobs =
        JobManager::Open(options);
    EXPECT_TRUE(jobs.ok()) << jobs.status();
    if (!jobs.ok()) return nullptr;
    service->jobs = *std::move(jobs);
    service->impl = std::make_unique<TrainerServiceImpl>(service->jobs.get(),
                                                         watch_idle_timeout);
    serving::ServerOptions server_options;
    server_options.drain_timeout = absl::Seconds(1);
    server_options.max_in_flight = max_in_flight;
    absl::StatusOr<std::unique_ptr<serving::Server>> server =
        serving::Server::Start(server_options, {service->impl.get()});
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return nullptr;
    service->server = *std::move(server);
    service->server->SetServing(true);
    absl::StatusOr<serving::Connection> connection = serving::Connection::Open(
        absl::StrCat("127.0.0.1:", service->server->port()), {});
    EXPECT_TRUE(connection.ok()) << connection.status();
    service->connection =
        std::make_unique<serving::Connection>(*std::move(connection));
    service->stub = TrainerService::NewStub(service->connection->channel());
    return service;
  }

  static Job Submit(const Service& service, const TrainingRecipe& recipe,
                    const std::string& job_id = "") {
    internvideo::v1::SubmitJobRequest request;
    *request.mutable_recipe() = recipe;
    request.set_job_id(job_id);
    Job job;
    grpc::Status status =
        service.stub->SubmitJob(service.Context().get(), request, &job);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return job;
  }

  // Reads WatchJob's stream until it ends, or until `enough` says so.
  static std::vector<JobProgress> Watch(
      const Service& service, const std::string& job_id,
      const std::function<bool(const JobProgress&)>& enough = nullptr) {
    internvideo::v1::WatchJobRequest request;
    request.set_job_id(job_id);
    std::unique_ptr<grpc::ClientContext> context =
        service.connection->NewContext(absl::Minutes(5));
    auto reader = service.stub->WatchJob(context.get(), request);
    std::vector<JobProgress> updates;
    JobProgress progress;
    while (reader->Read(&progress)) {
      updates.push_back(progress);
      if (enough && enough(progress)) {
        context->TryCancel();
        break;
      }
    }
    grpc::Status status = reader->Finish();
    if (!enough) {
      EXPECT_TRUE(status.ok()) << status.error_message();
    }
    return updates;
  }

  static Job Get(const Service& service, const std::string& job_id) {
    internvideo::v1::GetJobRequest request;
    request.set_job_id(job_id);
    Job job;
    grpc::Status status =
        service.stub->GetJob(service.Context().get(), request, &job);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return job;
  }

  // The status of a SubmitJob call.
  static grpc::Status TrySubmit(const Service& service,
                                const TrainingRecipe& recipe,
                                const std::string& job_id = "") {
    internvideo::v1::SubmitJobRequest request;
    *request.mutable_recipe() = recipe;
    request.set_job_id(job_id);
    Job job;
    return service.stub->SubmitJob(service.Context().get(), request, &job);
  }

  // An ordinary call answers: the service still serves.
  static void ExpectListJobsAnswers(const Service& service) {
    internvideo::v1::ListJobsRequest request;
    internvideo::v1::ListJobsResponse response;
    const grpc::Status status =
        service.stub->ListJobs(service.Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string root_;
};

TEST_F(TrainerServiceTest, JobRunsToSucceededAndPublishesItsCheckpoint) {
  std::unique_ptr<Service> service = Start(Options());
  ASSERT_NE(service, nullptr);
  const Job submitted = Submit(*service, TinyRecipe(4), "tiny-1");
  EXPECT_EQ(submitted.job_id(), "tiny-1");
  EXPECT_EQ(submitted.state(), internvideo::v1::JOB_STATE_PENDING);
  EXPECT_EQ(submitted.output_dir(), root_ + "/jobs/tiny-1");

  const std::vector<JobProgress> updates = Watch(*service, "tiny-1");
  ASSERT_FALSE(updates.empty());
  EXPECT_EQ(updates.back().state(), internvideo::v1::JOB_STATE_SUCCEEDED)
      << ReadFile(root_ + "/jobs/tiny-1/worker.log");
  std::vector<int64_t> steps;
  bool saw_running = false;
  double max_lr = 0;
  for (const JobProgress& p : updates) {
    EXPECT_EQ(p.job_id(), "tiny-1");
    EXPECT_EQ(p.total_steps(), 4);
    saw_running |= p.state() == internvideo::v1::JOB_STATE_RUNNING;
    if (p.step() > 0 && (steps.empty() || steps.back() != p.step())) {
      steps.push_back(p.step());
      EXPECT_GT(p.loss(), 0);
      max_lr = std::max(max_lr, p.learning_rate());  // warmup starts at 0
      EXPECT_GT(p.clips_per_second(), 0);
    }
  }
  EXPECT_TRUE(saw_running);
  EXPECT_GT(max_lr, 0);
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3, 4}));

  const Job done = Get(*service, "tiny-1");
  EXPECT_EQ(done.state(), internvideo::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done.progress().step(), 4);
  EXPECT_TRUE(done.has_start_time());
  EXPECT_TRUE(done.has_end_time());
  EXPECT_TRUE(done.error().empty());
  EXPECT_EQ(done.recipe().total_steps(), 4);

  internvideo::v1::ListCheckpointsRequest request;
  request.set_job_id("tiny-1");
  internvideo::v1::ListCheckpointsResponse checkpoints;
  ASSERT_TRUE(
      service->stub
          ->ListCheckpoints(service->Context().get(), request, &checkpoints)
          .ok());
  ASSERT_EQ(checkpoints.checkpoints_size(), 1);
  const internvideo::v1::Checkpoint& last = checkpoints.checkpoints(0);
  EXPECT_EQ(last.step(), 4);
  EXPECT_EQ(last.sha256().size(), 64u);
  EXPECT_GT(last.size_bytes(), 0);
  EXPECT_TRUE(last.has_create_time());
  EXPECT_EQ(last.published_as().model_id(), "iv-test-tiny");
  EXPECT_EQ(last.published_as().version(), "step-00000004");
  const std::string published = root_ + "/published/iv-test-tiny/step-00000004";
  EXPECT_TRUE(fs::exists(published + "/model.safetensors"));
  EXPECT_TRUE(fs::exists(published + "/model_config.textproto"));

  // A finished job cannot be cancelled; a watch of it ends at once.
  internvideo::v1::CancelJobRequest cancel;
  cancel.set_job_id("tiny-1");
  Job unused;
  grpc::Status status =
      service->stub->CancelJob(service->Context().get(), cancel, &unused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "SUCCEEDED"));
  const std::vector<JobProgress> again = Watch(*service, "tiny-1");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].state(), internvideo::v1::JOB_STATE_SUCCEEDED);
}

TEST_F(TrainerServiceTest, BadRequestsGetPreciseCodes) {
  JobManagerOptions options = Options();
  options.allowed_roots = {test::SmallWorld()};
  std::unique_ptr<Service> service = Start(options);
  ASSERT_NE(service, nullptr);
  auto submit = [&](const TrainingRecipe& recipe, const std::string& id) {
    internvideo::v1::SubmitJobRequest request;
    *request.mutable_recipe() = recipe;
    request.set_job_id(id);
    Job job;
    return service->stub->SubmitJob(service->Context().get(), request, &job);
  };

  TrainingRecipe bad = TinyRecipe(4);
  bad.mutable_optimizer()->set_learning_rate(0);
  grpc::Status status = submit(bad, "");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(),
                                "recipe.optimizer.learning_rate"))
      << status.error_message();

  status = submit(TinyRecipe(4), "no spaces");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "job_id"));

  TrainingRecipe outside = TinyRecipe(4);
  outside.set_output_dir("/tmp/elsewhere");
  status = submit(outside, "");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "recipe.output_dir"));
  TrainingRecipe escape = TinyRecipe(4);
  escape.set_output_dir(root_ + "/jobs/../../elsewhere");
  EXPECT_EQ(submit(escape, "").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  TrainingRecipe reads = TinyRecipe(4);
  reads.mutable_train_data()->mutable_manifests(0)->set_path("/etc/passwd");
  status = submit(reads, "");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(status.error_message(),
                                "recipe.train_data.manifests[0].path"));

  internvideo::v1::SubmitJobRequest empty;
  Job job;
  EXPECT_EQ(service->stub->SubmitJob(service->Context().get(), empty, &job)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Unknown jobs, in every call that names one.
  internvideo::v1::GetJobRequest get;
  get.set_job_id("nope");
  EXPECT_EQ(
      service->stub->GetJob(service->Context().get(), get, &job).error_code(),
      grpc::StatusCode::NOT_FOUND);
  internvideo::v1::CancelJobRequest cancel;
  cancel.set_job_id("nope");
  EXPECT_EQ(service->stub->CancelJob(service->Context().get(), cancel, &job)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  internvideo::v1::ListCheckpointsRequest list_checkpoints;
  list_checkpoints.set_job_id("nope");
  internvideo::v1::ListCheckpointsResponse checkpoints;
  EXPECT_EQ(service->stub
                ->ListCheckpoints(service->Context().get(), list_checkpoints,
                                  &checkpoints)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  internvideo::v1::WatchJobRequest watch;
  watch.set_job_id("nope");
  auto context = service->Context();
  auto reader = service->stub->WatchJob(context.get(), watch);
  JobProgress progress;
  EXPECT_FALSE(reader->Read(&progress));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);

  internvideo::v1::ListJobsRequest list;
  list.set_page_token("garbage");
  internvideo::v1::ListJobsResponse jobs;
  EXPECT_EQ(service->stub->ListJobs(service->Context().get(), list, &jobs)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // A taken id, and another job's folder; the first job is cancelled
  // before it trains much.
  Submit(*service, TinyRecipe(100000), "taken");
  EXPECT_EQ(submit(TinyRecipe(4), "taken").error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  TrainingRecipe same_folder = TinyRecipe(4, "iv-test-other");
  same_folder.set_output_dir(root_ + "/jobs/taken");
  status = submit(same_folder, "");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "recipe.output_dir"))
      << status.error_message();
  EXPECT_TRUE(service->stub
                  ->CancelJob(
                      service->Context().get(),
                      [] {
                        internvideo::v1::CancelJobRequest r;
                        r.set_job_id("taken");
                        return r;
                      }(),
                      &job)
                  .ok());
}

TEST_F(TrainerServiceTest, CancelStopsALongJob) {
  std::unique_ptr<Service> service = Start(Options());
  ASSERT_NE(service, nullptr);
  Submit(*service, TinyRecipe(100000), "long");
  // Wait for training to be under way.
  const std::vector<JobProgress> started = Watch(
      *service, "long", [](const JobProgress& p) { return p.step() >= 1; });
  ASSERT_FALSE(started.empty());
  ASSERT_GE(started.back().step(), 1)
      << ReadFile(root_ + "/jobs/long/worker.log");
  EXPECT_TRUE(started.back().has_eta());

  internvideo::v1::CancelJobRequest cancel;
  cancel.set_job_id("long");
  Job job;
  ASSERT_TRUE(
      service->stub->CancelJob(service->Context().get(), cancel, &job).ok());
  EXPECT_EQ(job.state(), internvideo::v1::JOB_STATE_CANCELLED);
  EXPECT_TRUE(job.has_end_time());
  const std::vector<JobProgress> rest = Watch(*service, "long");
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back().state(), internvideo::v1::JOB_STATE_CANCELLED);
  // Cancelling again is fine.
  ASSERT_TRUE(
      service->stub->CancelJob(service->Context().get(), cancel, &job).ok());
  EXPECT_EQ(job.state(), internvideo::v1::JOB_STATE_CANCELLED);

  // The worker stops at a step boundary (the trainer says so in its log).
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!absl::StrContains(ReadFile(root_ + "/jobs/long/worker.log"),
                            "cancelled after step") &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(absl::StrContains(ReadFile(root_ + "/jobs/long/worker.log"),
                                "cancelled after step"))
      << ReadFile(root_ + "/jobs/long/worker.log");
  EXPECT_EQ(Get(*service, "long").state(),
            internvideo::v1::JOB_STATE_CANCELLED);
}

TEST_F(TrainerServiceTest, RestartReportsTruthfulStatesAndResumes) {
  {
    std::unique_ptr<Service> first = Start(Options());
    ASSERT_NE(first, nullptr);
    Submit(*first, TinyRecipe(4, "iv-test-done"), "done");
    EXPECT_EQ(Watch(*first, "done").back().state(),
              internvideo::v1::JOB_STATE_SUCCEEDED);
    Submit(*first, TinyRecipe(100000, "iv-test-cancelled"), "cancelled");
    internvideo::v1::CancelJobRequest cancel;
    cancel.set_job_id("cancelled");
    Job job;
    ASSERT_TRUE(
        first->stub->CancelJob(first->Context().get(), cancel, &job).ok());
    TrainingRecipe resumable = TinyRecipe(12, "iv-test-interrupted");
    resumable.set_checkpoint_every_steps(2);
    Submit(*first, resumable, "interrupted");
    const std::vector<JobProgress> started =
        Watch(*first, "interrupted",
              [](const JobProgress& p) { return p.step() >= 3; });
    ASSERT_GE(started.back().step(), 3)
        << ReadFile(root_ + "/jobs/interrupted/worker.log");
  }  // the service goes away; so do its workers

  std::unique_ptr<Service> second = Start(Options());
  ASSERT_NE(second, nullptr);
  internvideo::v1::ListJobsRequest list;
  list.set_page_size(2);
  internvideo::v1::ListJobsResponse page;
  ASSERT_TRUE(
      second->stub->ListJobs(second->Context().get(), list, &page).ok());
  ASSERT_EQ(page.jobs_size(), 2);
  ASSERT_FALSE(page.next_page_token().empty());
  list.set_page_token(page.next_page_token());
  internvideo::v1::ListJobsResponse rest;
  ASSERT_TRUE(
      second->stub->ListJobs(second->Context().get(), list, &rest).ok());
  ASSERT_EQ(rest.jobs_size(), 1);
  EXPECT_TRUE(rest.next_page_token().empty());
  // Newest first.
  EXPECT_EQ(page.jobs(0).job_id(), "interrupted");
  EXPECT_EQ(page.jobs(1).job_id(), "cancelled");
  EXPECT_EQ(rest.jobs(0).job_id(), "done");
  EXPECT_EQ(rest.jobs(0).state(), internvideo::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(rest.jobs(0).progress().step(), 4);
  EXPECT_EQ(page.jobs(1).state(), internvideo::v1::JOB_STATE_CANCELLED);
  EXPECT_TRUE(page.jobs(0).state() == internvideo::v1::JOB_STATE_PENDING ||
              page.jobs(0).state() == internvideo::v1::JOB_STATE_RUNNING)
      << page.jobs(0).DebugString();

  internvideo::v1::ListJobsRequest succeeded;
  succeeded.add_states(internvideo::v1::JOB_STATE_SUCCEEDED);
  ASSERT_TRUE(
      second->stub->ListJobs(second->Context().get(), succeeded, &page).ok());
  ASSERT_EQ(page.jobs_size(), 1);
  EXPECT_EQ(page.jobs(0).job_id(), "done");

  // The interrupted job resumes from the checkpoint its worker wrote when
  // the first service stopped it.
  const std::vector<JobProgress> resumed = Watch(*second, "interrupted");
  ASSERT_FALSE(resumed.empty());
  EXPECT_EQ(resumed.back().state(), internvideo::v1::JOB_STATE_SUCCEEDED)
      << ReadFile(root_ + "/jobs/interrupted/worker.log");
  EXPECT_EQ(resumed.back().step(), 12);
  EXPECT_TRUE(absl::StrContains(
      ReadFile(root_ + "/jobs/interrupted/worker.log"), "resumed at step"));
  second.reset();

  // With --on-restart=fail, an interrupted job is FAILED with the reason.
  {
    std::unique_ptr<Service> third = Start(Options());
    ASSERT_NE(third, nullptr);
    Submit(*third, TinyRecipe(100000, "iv-test-lost"), "lost");
  }
  JobManagerOptions fail = Options();
  fail.on_restart = OnRestart::kFail;
  std::unique_ptr<Service> fourth = Start(fail);
  ASSERT_NE(fourth, nullptr);
  const Job lost = Get(*fourth, "lost");
  EXPECT_EQ(lost.state(), internvideo::v1::JOB_STATE_FAILED);
  EXPECT_TRUE(absl::StrContains(lost.error(), "service restarted"));
  EXPECT_EQ(Get(*fourth, "done").state(), internvideo::v1::JOB_STATE_SUCCEEDED);
}

// trainer_server as a process, killed with SIGKILL right after a submit
// returned: the job is still there after a restart, and its worker died
// with the service instead of training on unsupervised.
TEST_F(TrainerServiceTest, SubmitSurvivesKillDashNine) {
  auto start = [this](const std::string& flags, const std::string& log) {
    process::CommandResult started = process::RunCommand(
        absl::StrCat("trainer/service/trainer_server --address 127.0.0.1:0 "
                     "--metrics-address '' --jobs-root ",
                     root_, "/jobs ", flags, " >", log, " 2>&1 & echo $!"));
    EXPECT_EQ(started.exit_code, 0);
    const int pid = std::stoi(started.output);
    int port = 0;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (port == 0 && absl::Now() < deadline) {
      const std::string text = ReadFile(log);
      const size_t at = text.find("serving on port ");
      if (at != std::string::npos) port = std::atoi(text.c_str() + at + 16);
      absl::SleepFor(absl::Milliseconds(50));
    }
    EXPECT_GT(port, 0) << ReadFile(log);
    return std::pair{pid, port};
  };
  auto stub_for = [](int port) {
    absl::StatusOr<serving::Connection> connection =
        serving::Connection::Open(absl::StrCat("127.0.0.1:", port), {});
    EXPECT_TRUE(connection.ok());
    return std::pair{TrainerService::NewStub(connection->channel()),
                     *connection};
  };
  // Processes whose command line names the job's recipe: its workers.
  auto workers = [this] {
    int count = 0;
    for (const auto& item : fs::directory_iterator("/proc")) {
      const std::string name = item.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string cmdline = ReadFile(item.path().string() + "/cmdline");
      if (absl::StrContains(cmdline, root_ + "/jobs/durable/") &&
          !test::ProcessEnded(std::stoi(name))) {
        ++count;
      }
    }
    return count;
  };

  const std::string roots = "--allowed-roots " + test::SmallWorld();
  auto [pid, port] = start(roots, root_ + "/server1.log");
  {
    auto [stub, connection] = stub_for(port);
    internvideo::v1::SubmitJobRequest request;
    *request.mutable_recipe() = TinyRecipe(100000);
    request.set_job_id("durable");
    Job job;
    grpc::Status status = stub->SubmitJob(
        connection.NewContext(absl::Seconds(60)).get(), request, &job);
    ASSERT_TRUE(status.ok()) << status.error_message();
    // Let the worker start, so there is one to outlive the service.
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (workers() == 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    EXPECT_GT(workers(), 0);
  }
  kill(pid, SIGKILL);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while ((!test::ProcessEnded(pid) || workers() > 0) &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(test::ProcessEnded(pid));
  EXPECT_EQ(workers(), 0);

  auto [pid2, port2] =
      start(roots + " --on-restart fail", root_ + "/server2.log");
  {
    auto [stub, connection] = stub_for(port2);
    internvideo::v1::GetJobRequest request;
    request.set_job_id("durable");
    Job job;
    grpc::Status status = stub->GetJob(
        connection.NewContext(absl::Seconds(60)).get(), request, &job);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(job.state(), internvideo::v1::JOB_STATE_FAILED);
    EXPECT_TRUE(absl::StrContains(job.error(), "service restarted"));
    EXPECT_EQ(job.recipe().total_steps(), 100000);
  }
  kill(pid2, SIGTERM);
}

TEST_F(TrainerServiceTest, IvTrainSubmitsAndWatches) {
  std::unique_ptr<Service> service = Start(Options());
  ASSERT_NE(service, nullptr);
  std::string text;
  google::protobuf::TextFormat::PrintToString(TinyRecipe(3), &text);
  const std::string recipe = root_ + "/recipe.textproto";
  std::ofstream(recipe) << text;
  process::CommandResult run = process::RunCommand(absl::StrCat(
      "tools/iv/iv train --service 127.0.0.1:", service->server->port(),
      " --job-id from-cli ", recipe, " 2>&1"));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "from-cli")) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "SUCCEEDED")) << run.output;
  EXPECT_EQ(Get(*service, "from-cli").state(),
            internvideo::v1::JOB_STATE_SUCCEEDED);

  TrainingRecipe bad = TinyRecipe(3);
  bad.mutable_optimizer()->set_learning_rate(-1);
  google::protobuf::TextFormat::PrintToString(bad, &text);
  std::ofstream(recipe) << text;
  run = process::RunCommand(absl::StrCat(
      "tools/iv/iv train --service 127.0.0.1:", service->server->port(), " ",
      recipe, " 2>&1"));
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "recipe.optimizer.learning_rate"))
      << run.output;
}

// Every path a recipe reads must lie under the roots, the videos its
// manifests list included; refusals name the field and quote no file.
TEST_F(TrainerServiceTest, RecipePathsOutsideTheRootsAreRefused) {
  const std::string data = root_ + "/data";
  fs::create_directories(data);
  JobManagerOptions options = Options();
  options.allowed_roots.push_back(data);
  std::unique_ptr<Service> service = Start(options);
  ASSERT_NE(service, nullptr);
  // The content of the files named below must never come back.
  auto expect = [&](const TrainingRecipe& recipe, grpc::StatusCode code,
                    const std::string& field, const std::string& secret) {
    const grpc::Status status = TrySubmit(*service, recipe);
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), field))
        << status.error_message();
    EXPECT_FALSE(absl::StrContains(status.error_message(), secret))
        << status.error_message();
    ExpectListJobsAnswers(*service);
  };

  TrainingRecipe vocab = TinyRecipe(4);
  vocab.mutable_model()
      ->mutable_multimodal_encoder()
      ->mutable_tokenizer()
      ->set_vocab_path("/etc/passwd");
  expect(vocab, grpc::StatusCode::PERMISSION_DENIED,
         "recipe.model.multimodal_encoder.tokenizer.vocab_path", "root:");
  TrainingRecipe init = TinyRecipe(4);
  init.add_init()->set_path("/etc");
  expect(init, grpc::StatusCode::PERMISSION_DENIED, "recipe.init[0].path",
         "root:");
  TrainingRecipe eval = TinyRecipe(4);
  eval.mutable_eval_data()->clear_manifests();
  eval.mutable_eval_data()->add_manifests()->set_path("/etc/passwd");
  expect(eval, grpc::StatusCode::PERMISSION_DENIED,
         "recipe.eval_data.manifests[0].path", "root:");
  // A symlink under a root to a file outside it.
  fs::create_symlink("/etc/passwd", data + "/link.jsonl");
  TrainingRecipe link = TinyRecipe(4);
  link.mutable_train_data()->mutable_manifests(0)->set_path(data +
                                                            "/link.jsonl");
  expect(link, grpc::StatusCode::PERMISSION_DENIED,
         "recipe.train_data.manifests[0].path", "root:");

  // A manifest under a root whose second clip is a file outside them, by
  // an absolute and by a relative path.
  const std::string train_manifest =
      TinyRecipe(4).train_data().manifests(0).path();
  std::string first_line;
  std::getline(std::ifstream(train_manifest) >> std::ws, first_line);
  nlohmann::json row = nlohmann::json::parse(first_line);
  row["file"] = fs::absolute(fs::path(train_manifest).parent_path() /
                             row["file"].get<std::string>())
                    .string();
  for (const std::string& outside :
       {std::string("/etc/passwd"), std::string("../../../../../etc/passwd")}) {
    nlohmann::json bad = row;
    bad["file"] = outside;
    std::ofstream(data + "/videos.jsonl") << row.dump() << "\n"
                                          << bad.dump() << "\n";
    TrainingRecipe videos = TinyRecipe(4);
    videos.mutable_train_data()->mutable_manifests(0)->set_path(
        data + "/videos.jsonl");
    expect(videos, grpc::StatusCode::PERMISSION_DENIED,
           "recipe.train_data.manifests[0].path: the video of entry 2",
           "passwd");
  }

  // A malformed manifest under a root: the line and field, not its text.
  std::ofstream(data + "/broken.jsonl")
      << row.dump() << "\n{\"file\": SECRET-TOKEN-42}\n";
  TrainingRecipe broken = TinyRecipe(4);
  broken.mutable_train_data()->mutable_manifests(0)->set_path(data +
                                                              "/broken.jsonl");
  expect(broken, grpc::StatusCode::INVALID_ARGUMENT,
         "recipe.train_data.manifests[0].path", "SECRET-TOKEN-42");
  const grpc::Status status = TrySubmit(*service, broken);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "at line 2"))
      << status.error_message();
  // Too big to read at submit time (sparse, so it costs no disk).
  std::ofstream(data + "/huge.jsonl") << row.dump() << "\n";
  fs::resize_file(data + "/huge.jsonl", (uintmax_t{256} << 20) + 1);
  TrainingRecipe huge = TinyRecipe(4);
  huge.mutable_train_data()->mutable_manifests(0)->set_path(data +
                                                            "/huge.jsonl");
  expect(huge, grpc::StatusCode::INVALID_ARGUMENT,
         "recipe.train_data.manifests[0].path", "SECRET");
  EXPECT_TRUE(absl::StrContains(TrySubmit(*service, huge).error_message(),
                                "at most 268435456 bytes"));
}

// output_dir stays clear of the jobs root, the job database and other jobs'
// folders; a model id belongs to the first job that publishes under it,
// also after a restart.
TEST_F(TrainerServiceTest, JobsCannotTakeOtherJobsFoldersOrModels) {
  const std::string out = root_ + "/out";
  fs::create_directories(out);
  JobManagerOptions options = Options();
  options.allowed_roots.push_back(out);
  options.db_path = out + "/db";
  options.iv_binary = FakeWorker("exec sleep 600");
  std::unique_ptr<Service> service = Start(options);
  ASSERT_NE(service, nullptr);
  TrainingRecipe owned = TinyRecipe(4, "iv-owned");
  owned.set_output_dir(out + "/owner");
  Submit(*service, owned, "owner");

  for (const std::string& dir :
       {root_ + "/jobs", root_ + "/jobs/owner", root_ + "/jobs/future",
        root_ + "/jobs/owner/../owner", out, out + "/db", out + "/db/x",
        out + "/owner", out + "/owner/sub"}) {
    TrainingRecipe recipe = TinyRecipe(4, "iv-other");
    recipe.set_output_dir(dir);
    const grpc::Status status = TrySubmit(*service, recipe, "mine");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << dir << ": " << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), "recipe.output_dir"))
        << status.error_message();
  }

  fs::create_directories(root_ + "/published/iv-operator");
  TrainingRecipe unnamed = TinyRecipe(4, "");
  unnamed.clear_name();
  auto expect_taken = [&](const Service& s) {
    grpc::Status status = TrySubmit(s, TinyRecipe(4, "iv-owned"), "thief");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
    EXPECT_TRUE(absl::StrContains(status.error_message(),
                                  "recipe.model.name: the model iv-owned is "
                                  "published by job owner"))
        << status.error_message();
    status = TrySubmit(s, TinyRecipe(4, "iv-operator"), "thief");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
    EXPECT_TRUE(absl::StrContains(status.error_message(), "recipe.model.name"))
        << status.error_message();
    // The job id names the model when the recipe does not.
    status = TrySubmit(s, unnamed, "iv-operator");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
    EXPECT_TRUE(absl::StrContains(status.error_message(), "job_id"))
        << status.error_message();
    EXPECT_EQ(Get(s, "owner").recipe().model().name(), "iv-owned");
    ExpectListJobsAnswers(s);
  };
  expect_taken(*service);
  // The job's own folder is fine.
  TrainingRecipe own = TinyRecipe(4, "iv-mine");
  own.set_output_dir(root_ + "/jobs/mine/run");
  EXPECT_EQ(Submit(*service, own, "mine").output_dir(),
            root_ + "/jobs/mine/run");

  service.reset();
  service = Start(options);
  ASSERT_NE(service, nullptr);
  expect_taken(*service);
}

// A metrics log of garbage (wrong types, binary, an overlong line, a line
// never ended) and a worker whose last words are not UTF-8: the service
// keeps the good lines, answers, and starts again over the same records.
TEST_F(TrainerServiceTest, GarbageMetricsLogDoesNotStopTheService) {
  JobManagerOptions options = Options();
  options.iv_binary = FakeWorker(R"(log="$4/metrics.jsonl"
printf '{"step":"x"}\n{"step":1.5e300}\n[1,2]\n\377\376\000junk\n' > "$log"
printf '{"step":3,"loss":"high","lr":[1]}\n' >> "$log"
printf '{"step":4,"eval":{"top1":"x","ok":0.5}}\n' >> "$log"
head -c 200000 /dev/zero | tr '\000' a >> "$log"
printf '\n{"step":7,"loss":0.25}\n' >> "$log"
head -c 100000 /dev/zero | tr '\000' b >> "$log"
printf 'worker \377\376 failed\n'
exit 3)");
  auto check = [](const Job& job) {
    EXPECT_EQ(job.state(), internvideo::v1::JOB_STATE_FAILED);
    EXPECT_EQ(job.progress().step(), 7);
    EXPECT_DOUBLE_EQ(job.progress().loss(), 0.25);
    EXPECT_EQ(job.progress().eval_step(), 4);
    EXPECT_EQ(job.progress().eval_metrics().size(), 1u);
    EXPECT_TRUE(absl::StrContains(job.error(), "failed")) << job.error();
  };
  {
    std::unique_ptr<Service> service = Start(options);
    ASSERT_NE(service, nullptr);
    Submit(*service, TinyRecipe(4), "garbage");
    const std::vector<JobProgress> updates = Watch(*service, "garbage");
    ASSERT_FALSE(updates.empty());
    check(Get(*service, "garbage"));
  }
  std::unique_ptr<Service> again = Start(options);
  ASSERT_NE(again, nullptr);
  check(Get(*again, "garbage"));
  ExpectListJobsAnswers(*again);
  const std::vector<JobProgress> final_report = Watch(*again, "garbage");
  ASSERT_EQ(final_report.size(), 1u);
  EXPECT_EQ(final_report[0].step(), 7);
}

// A watch ends when the job was silent for the idle timeout, when the
// client's deadline passes and when the client cancels; the server's only
// call slot (max_in_flight 1) is free again right after each.
TEST_F(TrainerServiceTest, WatchEndsOnIdleTimeoutDeadlineAndCancel) {
  JobManagerOptions options = Options();
  options.iv_binary = FakeWorker("exec sleep 600");
  const absl::Duration idle = absl::Seconds(6);
  std::unique_ptr<Service> service = Start(options, idle, 1);
  ASSERT_NE(service, nullptr);
  Submit(*service, TinyRecipe(4), "silent");
  // GetJob answers before `by` (the job in `job`), retrying while the slot
  // is still taken by the call before: it is freed just after that call's
  // answer reaches the client, so on a busy machine the next call can come
  // first.
  Job job;
  auto answers_by = [&](absl::Time by) {
    internvideo::v1::GetJobRequest request;
    request.set_job_id("silent");
    grpc::Status status;
    do {
      status = service->stub->GetJob(service->Context().get(), request, &job);
      if (status.ok()) return true;
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << status.error_message();
      absl::SleepFor(absl::Milliseconds(50));
    } while (absl::Now() < by);
    return false;
  };
  const absl::Time running_by = absl::Now() + absl::Seconds(30);
  while ((!answers_by(running_by) ||
          job.state() != internvideo::v1::JOB_STATE_RUNNING) &&
         absl::Now() < running_by) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  internvideo::v1::WatchJobRequest request;
  request.set_job_id("silent");
  JobProgress progress;
  // Opens a watch with `deadline` and reads its first report, opening it
  // again while the server's only call slot is still held by the call
  // before.
  std::unique_ptr<grpc::ClientContext> context;
  auto open_watch = [&](absl::Duration deadline) {
    std::unique_ptr<grpc::ClientReader<JobProgress>> reader;
    const absl::Time by = absl::Now() + absl::Seconds(5);
    do {
      context = service->connection->NewContext(deadline);
      reader = service->stub->WatchJob(context.get(), request);
      if (reader->Read(&progress)) return reader;
      const grpc::Status status = reader->Finish();
      if (status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) {
        ADD_FAILURE() << "WatchJob: " << status.error_message();
        return reader;
      }
      absl::SleepFor(absl::Milliseconds(50));
    } while (absl::Now() < by);
    ADD_FAILURE() << "the call slot stayed taken";
    return reader;
  };

  // Idle: the stream ends by itself, well before the client's deadline.
  absl::Time start = absl::Now();
  auto reader = open_watch(absl::Seconds(60));
  while (reader->Read(&progress)) {
  }
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "idle timeout"))
      << status.error_message();
  EXPECT_GE(absl::Now() - start, idle);
  EXPECT_LT(absl::Now() - start, idle + absl::Seconds(10));
  EXPECT_TRUE(answers_by(absl::Now() + absl::Seconds(5)));

  // The client's deadline.
  start = absl::Now();
  reader = open_watch(absl::Seconds(1));
  while (reader->Read(&progress)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(answers_by(start + idle - absl::Seconds(1)));

  // The client cancels.
  start = absl::Now();
  reader = open_watch(absl::Seconds(60));
  context->TryCancel();
  while (reader->Read(&progress)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(answers_by(start + idle - absl::Seconds(1)));
}

}  // namespace
}  // namespace iv::trainer::service
