// The InternVideo model a service serves, and its hot reload.
//
// A registry watches one model folder, either
//   - a native checkpoint folder (model_config.textproto, model.safetensors,
//     vocabulary): one version, named after the folder; or
//   - a folder of versions `step-N/`, each such a checkpoint, as the trainer
//     service publishes them (<publish-root>/<model>/step-N/): the newest
//     complete version is served, and a newer one is loaded when it appears.
// Readers take a snapshot (a shared_ptr) per request and keep it to the
// end, so a swap never changes the model under a request in flight; the
// old model is freed when its last request finishes.
//
// A version counts as complete when its model config exists: the native
// writer writes the config last and the trainer publishes a version by
// renaming a finished folder into place (temporary names start with a dot
// and never match `step-N`). A version that still fails to load (corrupt
// weights) is reported once and skipped; the current one keeps serving.
// A version whose folder has CHECKSUMS (common/files/checksums.h: every
// trainer checkpoint, and the committed iv-tiny) is verified before it is
// loaded, so a file damaged on disk is refused (DATA_LOSS) rather than
// served; a folder without one is loaded as it is.
#ifndef COMMON_SERVING_MODEL_REGISTRY_H_
#define COMMON_SERVING_MODEL_REGISTRY_H_

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/model/internvideo/internvideo_checkpoint.h"
#include "common/video/transforms.h"
#include "protos/common.pb.h"

namespace iv::serving {

// One loaded version of the model; immutable once published.
struct ModelSnapshot {
  std::string model_id;
  std::string version;  // the version folder's name, e.g. "step-00001200"
  model::LoadedInternVideo loaded;
  torch::Device device = torch::kCPU;
  absl::Time load_time;
  int64_t parameter_count = 0;
  // SHA-256 of the weights file, as GetModelInfo reports it (never a path).
  std::string weights_sha256;
  // What one input clip is (model::ClipInputOf).
  video::ClipInput input;

  // The multimodal encoder (InternVideo's CLIP).
  model::InternVideoClip& multimodal() const {
    return loaded.model.ptr()->multimodal();
  }
  // Embeddings [N, embed_dim] of clips [N, 3, T, H, W] normalized with
  // `normalization`: through cross-model attention when the model's CMA
  // projects into the joint space (its masked encoder then sees the same
  // pixels with its own statistics), else the multimodal encoder's.
  torch::Tensor EmbedVideos(const torch::Tensor& clips) const;
  // The same clips normalized for the masked encoder (undefined when the
  // model has none; the clips themselves when it is the only encoder): the
  // first argument of the model's two-encoder calls
  // (RecognitionLogits, CaptionVideoTokens, VqaLogits, ...).
  torch::Tensor MaskedVideo(const torch::Tensor& clips) const;
  // How responses name the model that answered.
  internvideo::v1::ModelRef Ref() const;
  // The multimodal encoder's config; only for models that have one (every
  // model of a registry with needs_multimodal).
  const model::MultimodalConfig& config() const {
    return *loaded.model->config().multimodal;
  }
};

struct ModelRegistryOptions {
  // A checkpoint folder or a folder of step-N versions.
  std::string model_dir;
  // Served id; empty = the folder's name for a folder of versions, else the
  // config's `name`, else the folder's name.
  std::string model_id;
  torch::Device device = torch::kCPU;
  // How often a folder of versions is checked for a newer one.
  absl::Duration poll_interval = absl::Seconds(2);
  // Refuse versions without a multimodal encoder: the encoder and the
  // captioner need one. The task services also serve a masked encoder
  // alone (an imported VideoMAE: recognition by its head).
  bool needs_multimodal = true;
};

class ModelRegistry {
 public:
  // `on_load` (may be empty) is called after each version is swapped in,
  // on the thread that loaded it. Nothing is loaded until Poll or Start.
  ModelRegistry(ModelRegistryOptions options,
                std::function<void(const ModelSnapshot&)> on_load);
  ~ModelRegistry();  // stops the polling thread
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // Loads the newest complete version if it is newer than the one served.
  // OK when there is nothing newer; NOT_FOUND when the folder holds no
  // version yet; the load's error otherwise (the old version stays).
  absl::Status Poll();

  // Polls now and then every poll_interval on a thread of its own.
  void Start();

  // The version serving now; null before the first load.
  std::shared_ptr<const ModelSnapshot> Current() const;

  // The version serving `model_id` (empty = whichever is served), as a
  // request's model_id field asks for it: UNAVAILABLE before the first
  // load, NOT_FOUND "model_id: ..." for another id.
  absl::StatusOr<std::shared_ptr<const ModelSnapshot>> Find(
      const std::string& model_id) const;

 private:
  absl::StatusOr<std::shared_ptr<const ModelSnapshot>> Load(
      const std::string& dir, const std::string& version) const;

  const ModelRegistryOptions options_;
  const std::function<void(const ModelSnapshot&)> on_load_;

  mutable std::mutex mutex_;
  std::shared_ptr<const ModelSnapshot> current_;
  int64_t current_step_ = -1;
  std::set<std::string> failed_;  // versions that did not load
  std::mutex poll_mutex_;         // one Poll at a time
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread poller_;
};

}  // namespace iv::serving

#endif  // COMMON_SERVING_MODEL_REGISTRY_H_
