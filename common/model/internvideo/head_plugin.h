// Task heads from plug-ins: a head that is not one of the model's built-in
// parts registers itself here under a name, and a ModelConfig carries it as
// `heads { key: name value: <its config message> }`. The model builds every
// configured head into one ModuleDict, so its weights load and save under
// "heads.<name>." like any other part. How to write one: docs/extending.md.
#ifndef COMMON_MODEL_INTERNVIDEO_HEAD_PLUGIN_H_
#define COMMON_MODEL_INTERNVIDEO_HEAD_PLUGIN_H_

#include <google/protobuf/any.pb.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace iv::model {

struct InternVideoConfig;

class HeadPlugin {
 public:
  virtual ~HeadPlugin() = default;
  // Checks the head's config (`options`, empty for defaults) against the
  // model's other parts (resolved already). INVALID_ARGUMENT whose message
  // starts with `field` ("model.heads[object_count]") and names the field.
  virtual absl::Status Validate(const google::protobuf::Any& options,
                                const InternVideoConfig& model,
                                const std::string& field) const = 0;
  // The head's module, for a config Validate accepted.
  virtual std::shared_ptr<torch::nn::Module> Build(
      const google::protobuf::Any& options,
      const InternVideoConfig& model) const = 0;
};

// Adds `plugin` under `name` (called from a static initializer of the
// plug-in's library, which is linked with alwayslink). Registering a name
// twice aborts: two heads cannot share weights' prefixes.
void RegisterHeadPlugin(const std::string& name,
                        std::unique_ptr<HeadPlugin> plugin);
// The plug-in named `name`, or null when none is linked into this program.
const HeadPlugin* FindHeadPlugin(const std::string& name);
// The names of every linked plug-in, sorted.
std::vector<std::string> HeadPluginNames();

}  // namespace iv::model

#endif  // COMMON_MODEL_INTERNVIDEO_HEAD_PLUGIN_H_
