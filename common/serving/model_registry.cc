#include "common/serving/model_registry.h"

#include <cstdio>
#include <filesystem>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files/checksums.h"
#include "common/files/file_digest.h"
#include "common/model/checkpoint/native_checkpoint.h"

namespace iv::serving {

namespace {

namespace fs = std::filesystem;

// The step of a version folder named "step-N", or -1 for any other name.
int64_t VersionStep(const std::string& name) {
  absl::string_view digits = name;
  int64_t step = 0;
  if (!absl::ConsumePrefix(&digits, "step-") || digits.empty() ||
      digits.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(digits, &step)) {
    return -1;
  }
  return step;
}

}  // namespace

ModelRegistry::ModelRegistry(ModelRegistryOptions options,
                             std::function<void(const ModelSnapshot&)> on_load)
    : options_(std::move(options)), on_load_(std::move(on_load)) {}

ModelRegistry::~ModelRegistry() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
}

absl::Status ModelRegistry::Poll() {
  std::lock_guard<std::mutex> poll_lock(poll_mutex_);
  const fs::path root = options_.model_dir;
  // A single checkpoint is version "its folder name", step 0; a folder of
  // versions offers its highest complete step-N.
  std::string dir, version;
  int64_t step = -1;
  if (model::IsNativeCheckpoint(root.string())) {
    dir = root.string();
    version = root.filename().string();
    step = 0;
  } else {
    std::error_code error;
    for (const fs::directory_entry& entry :
         fs::directory_iterator(root, error)) {
      const std::string name = entry.path().filename().string();
      const int64_t candidate = VersionStep(name);
      if (candidate > step && !failed_.count(name) &&
          model::IsNativeCheckpoint(entry.path().string())) {
        step = candidate;
        dir = entry.path().string();
        version = name;
      }
    }
    if (error) {
      return absl::NotFoundError(absl::StrCat(
          "--model-dir: cannot list ", root.string(), ": ", error.message()));
    }
  }
  if (step < 0) {
    return absl::NotFoundError(
        absl::StrCat("--model-dir: ", root.string(),
                     " holds no checkpoint (model_config.textproto) and no "
                     "complete step-N/ version yet"));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (step <= current_step_) return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<const ModelSnapshot>> loaded =
      Load(dir, version);
  if (!loaded.ok()) {
    failed_.insert(version);
    return loaded.status();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    current_ = *loaded;
    current_step_ = step;
  }
  if (on_load_) on_load_(**loaded);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const ModelSnapshot>> ModelRegistry::Load(
    const std::string& dir, const std::string& version) const {
  // A folder that lists its files in CHECKSUMS (every trainer checkpoint and
  // published version, the committed iv-tiny) is served only if they match:
  // a flipped bit in the weights would otherwise load and answer wrongly.
  if (const absl::Status verified = files::VerifyChecksums(dir);
      !verified.ok() && !absl::IsNotFound(verified)) {
    return verified;
  }
  absl::StatusOr<model::LoadedInternVideo> loaded = model::LoadInternVideo(dir);
  if (!loaded.ok()) return loaded.status();
  absl::StatusOr<std::string> weights_sha256 =
      files::Sha256File((fs::path(dir) / model::kNativeWeightsFile).string());
  if (!weights_sha256.ok()) return weights_sha256.status();
  const internvideo::v1::ModelConfig& config = loaded->model->config().proto;
  if (!loaded->model->config().multimodal &&
      !loaded->model->config().masked_encoder) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, ": the model has no video encoder"));
  }
  if (options_.needs_multimodal && !loaded->model->config().multimodal) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir,
                     ": the model has no multimodal_encoder, so it "
                     "cannot embed videos and texts in one space"));
  }
  auto snapshot = std::make_shared<ModelSnapshot>();
  const fs::path path = fs::path(dir).lexically_normal();
  if (!options_.model_id.empty()) {
    snapshot->model_id = options_.model_id;
  } else if (path != fs::path(options_.model_dir).lexically_normal()) {
    snapshot->model_id =  // a version folder: the model is its parent
        fs::path(options_.model_dir).lexically_normal().filename().string();
  } else {
    snapshot->model_id =
        config.name().empty() ? path.filename().string() : config.name();
  }
  snapshot->version = version;
  snapshot->weights_sha256 = *std::move(weights_sha256);
  snapshot->device = options_.device;
  snapshot->load_time = absl::Now();
  try {
    loaded->model->to(options_.device);
  } catch (const c10::Error& error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot move the model to ", options_.device.str(), ": ",
                     error.what_without_backtrace()));
  }
  for (const torch::Tensor& parameter : loaded->model->parameters()) {
    snapshot->parameter_count += parameter.numel();
  }
  snapshot->input = model::ClipInputOf(loaded->model->config());
  snapshot->loaded = std::move(*loaded);
  return snapshot;
}

void ModelRegistry::Start() {
  poller_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      const absl::Status status = Poll();
      // NOT_FOUND just means nothing is published yet.
      if (!status.ok() && !absl::IsNotFound(status)) {
        std::fprintf(stderr, "model registry: model not loaded: %s\n",
                     status.ToString().c_str());
      }
      lock.lock();
      stop_cv_.wait_for(lock,
                        absl::ToChronoMilliseconds(options_.poll_interval),
                        [this] { return stopping_; });
    }
  });
}

std::shared_ptr<const ModelSnapshot> ModelRegistry::Current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

absl::StatusOr<std::shared_ptr<const ModelSnapshot>> ModelRegistry::Find(
    const std::string& model_id) const {
  std::shared_ptr<const ModelSnapshot> model = Current();
  if (model == nullptr) {
    return absl::UnavailableError(
        "no model is loaded yet; retry when the server reports SERVING");
  }
  if (!model_id.empty() && model_id != model->model_id) {
    return absl::NotFoundError(absl::StrCat("model_id: unknown model \"",
                                            model_id, "\" (this server has \"",
                                            model->model_id, "\")"));
  }
  return model;
}

torch::Tensor ModelSnapshot::EmbedVideos(const torch::Tensor& clips) const {
  return loaded.model.ptr()->EmbedClips(clips);
}

internvideo::v1::ModelRef ModelSnapshot::Ref() const {
  internvideo::v1::ModelRef ref;
  ref.set_model_id(model_id);
  ref.set_version(version);
  return ref;
}

torch::Tensor ModelSnapshot::MaskedVideo(const torch::Tensor& clips) const {
  return loaded.model->MaskedVideo(clips);
}

}  // namespace iv::serving
