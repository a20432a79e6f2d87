#include "common/serving/model_server.h"

#include <torch/torch.h>

#include <cstdio>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/serving/flags.h"

namespace iv::serving {

ModelServer::ModelServer(ModelServerSpec spec)
    : spec_(std::move(spec)),
      threads_(static_cast<int>(std::thread::hardware_concurrency())) {}

void ModelServer::AddFlags(CLI::App& app) {
  AddServerFlags(app, server_options_, spec_.default_port);
  app.add_option("--model-dir", registry_options_.model_dir,
                 absl::StrCat(spec_.checkpoint,
                              ", or a folder of step-N/ versions (as the "
                              "trainer service publishes them) whose newest "
                              "is served"))
      ->required();
  app.add_option("--model-id", registry_options_.model_id,
                 "the served model id (default: the versions folder's name, "
                 "else the config's name)");
  app.add_option("--threads", threads_, "intra-op threads of the model")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  if (spec_.device_flag) {
    app.add_option("--device", device_,
                   "auto (cuda when this build and machine have it), cpu, "
                   "cuda or cuda:N")
        ->capture_default_str();
  }
  app.add_option("--poll-seconds", poll_seconds_,
                 "how often --model-dir is checked for a newer version")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
}

absl::Status ModelServer::Init() {
  if (!spec_.device_flag) {
    device_ = "cpu";
  } else if (device_ == "auto") {
    device_ = torch::cuda::is_available() ? "cuda" : "cpu";
  }
  try {
    registry_options_.device = torch::Device(device_);
  } catch (const c10::Error&) {
    return absl::InvalidArgumentError(
        absl::StrCat("--device: \"", device_,
                     "\" is not a device (use cpu, cuda or cuda:N)"));
  }
  if (registry_options_.device.is_cuda() && !torch::cuda::is_available()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--device ", device_,
                     ": this build or machine has no CUDA; use --device cpu"));
  }
  torch::set_num_threads(threads_);
  registry_options_.poll_interval = absl::Seconds(poll_seconds_);
  registry_options_.needs_multimodal = spec_.needs_multimodal;
  registry_ = std::make_unique<ModelRegistry>(
      registry_options_, [this](const ModelSnapshot& model) {
        const std::string note = spec_.load_note ? spec_.load_note(model) : "";
        std::fprintf(stderr, "%s: serving %s version %s on %s%s\n",
                     spec_.name.c_str(), model.model_id.c_str(),
                     model.version.c_str(), model.device.str().c_str(),
                     note.c_str());
        std::lock_guard<std::mutex> lock(server_mutex_);
        if (server_ != nullptr) server_->SetServing(true);
      });
  return absl::OkStatus();
}

int ModelServer::Run(const std::vector<grpc::Service*>& services) {
  absl::StatusOr<std::unique_ptr<Server>> started =
      Server::Start(server_options_, services);
  if (!started.ok()) {
    std::fprintf(stderr, "%s: %s\n", spec_.name.c_str(),
                 started.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr,
               "%s: listening on port %d (NOT_SERVING until a model from %s "
               "is loaded)\n",
               spec_.name.c_str(), (*started)->port(),
               registry_options_.model_dir.c_str());
  {
    std::lock_guard<std::mutex> lock(server_mutex_);
    server_ = started->get();
  }
  registry_->Start();  // the first load marks the server SERVING
  (*started)->RunUntilSignal();
  std::lock_guard<std::mutex> lock(server_mutex_);
  server_ = nullptr;  // a late reload must not mark a stopped server SERVING
  return 0;
}

}  // namespace iv::serving
