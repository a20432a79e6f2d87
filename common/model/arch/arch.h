// The one registry of model architectures: what `iv model` loads by name,
// and what the services and the trainer load native checkpoints through
// (LoadInternVideo). Each arch says how it finds its weights in an official
// checkpoint, infers its config from their shapes, which part of the
// InternVideo model it is, and runs a forward pass on named inputs.
//
// Adding an arch: implement Arch in the model family's file and add one line
// to the list in arch.cc.
#ifndef COMMON_MODEL_ARCH_ARCH_H_
#define COMMON_MODEL_ARCH_ARCH_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/model/state_dict.h"
#include "protos/model_config.pb.h"
#include "protos/training.pb.h"

namespace iv::model {

// A model with its weights loaded, ready for inference.
class LoadedModel {
 public:
  virtual ~LoadedModel() = default;

  virtual int64_t ParameterCount() const = 0;

  // The arch's outputs by name for `inputs` by name (e.g. "video").
  // Inputs that are missing or of the wrong dtype or shape are
  // INVALID_ARGUMENT with a one-line reason.
  virtual absl::StatusOr<NamedTensors> Forward(
      const std::map<std::string, torch::Tensor>& inputs) = 0;

  // Arches with text inputs: checks that a tokenizer of `vocab_size` ids
  // (`iv model forward --vocab`) is the one the model was trained with, and
  // bounds the ids of later text inputs by it. INVALID_ARGUMENT naming the
  // text input otherwise. Arches without text accept any.
  virtual absl::Status UseTokenizer(int64_t vocab_size) {
    return absl::OkStatus();
  }
};

class Arch {
 public:
  virtual ~Arch() = default;

  virtual const std::string& name() const = 0;

  // Whether Forward reads text inputs (text_tokens, a --vocab).
  virtual bool UsesText() const = 0;

  // Which part of the InternVideo model (internvideo_model.h) the arch's
  // weights are, under their official names: the services serve an
  // imported part as an InternVideo model with only that part.
  // MODEL_PART_UNSPECIFIED: the whole model (the "internvideo" arch).
  virtual internvideo::v1::ModelPart part() const = 0;

  // Renames official weights, as found in their file, to the names this
  // arch loads (dropping the wrappers' prefixes such as "module.").
  virtual absl::Status NormalizeNames(NamedTensors& weights) const = 0;

  // Whether normalized `weights` look like this arch's (to name the arch of
  // an official file, which does not say).
  virtual bool Matches(const NamedTensors& weights) const = 0;

  // The config of the model that normalized `weights` belong to, from their
  // names and shapes. INVALID_ARGUMENT naming what is missing or odd.
  virtual absl::StatusOr<internvideo::v1::ModelConfig> InferConfig(
      const NamedTensors& weights) const = 0;

  // Lines for ArchCheckpoint::details about how normalized official
  // `weights` load, e.g. which weights the file lacks and keep their
  // initialization. None by default.
  virtual std::vector<std::pair<std::string, std::string>> LoadNotes(
      const NamedTensors& weights) const {
    return {};
  }

  // The model of `config` with `weights` loaded. INVALID_ARGUMENT listing
  // missing and unexpected weights, or shape mismatches.
  virtual absl::StatusOr<std::unique_ptr<LoadedModel>> Load(
      const internvideo::v1::ModelConfig& config,
      const NamedTensors& weights) const = 0;
};

// Every arch, in the order `iv model` lists them.
const std::vector<const Arch*>& Arches();

// The arch called `name`, or INVALID_ARGUMENT listing the known ones.
absl::StatusOr<const Arch*> FindArch(absl::string_view name);

// Renames `weights` of `arch` (under the arch's names) to the whole
// InternVideo model's (internvideo_model.h): a part's go under the part's
// prefix, except a caption decoder's, which already are.
void ToInternVideoNames(const Arch& arch, NamedTensors& weights);

// A checkpoint read for an arch, whichever format it is in.
struct ArchCheckpoint {
  const Arch* arch = nullptr;  // nullptr: no arch matched (Inspect only)
  internvideo::v1::ModelConfig config;  // empty when arch is nullptr
  NamedTensors weights;                 // under the arch's names
  bool native = false;
  // Official files: the other top-level entries (epoch, args...), one line
  // each, then the arch's LoadNotes. Native folders: the weights' metadata.
  std::vector<std::pair<std::string, std::string>> details;
};

// Reads `path`, a native folder or an official file, for `arch`; a native
// folder must hold that arch. Errors name the path.
absl::StatusOr<ArchCheckpoint> ReadArchCheckpoint(const std::string& path,
                                                  const Arch& arch);

// The same for a checkpoint of unknown arch: native folders say theirs, and
// official files get the first arch whose Matches accepts them.
absl::StatusOr<ArchCheckpoint> InspectCheckpoint(const std::string& path);

}  // namespace iv::model

#endif  // COMMON_MODEL_ARCH_ARCH_H_
