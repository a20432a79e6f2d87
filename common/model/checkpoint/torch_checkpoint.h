// Reading the checkpoint files that Python's torch.save writes (.pth, .pt,
// Lightning .ckpt), which torch::pickle_load cannot read, without running any
// of the Python they may name (see torch_pickle.h).
//
// Both formats are read: the zip archive of torch >= 1.6 (<archive>/data.pkl
// plus one <archive>/data/<key> record per storage) and the legacy format of
// older versions (pickles and storages in a row). Tensors come back on the
// CPU whatever device they were saved from; tensors that shared a storage
// still share it.
#ifndef COMMON_MODEL_CHECKPOINT_TORCH_CHECKPOINT_H_
#define COMMON_MODEL_CHECKPOINT_TORCH_CHECKPOINT_H_

#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/model/checkpoint/torch_pickle.h"
#include "common/model/state_dict.h"

namespace iv::model {

// The keys under which training scripts store the weights, in the order they
// are tried: VideoMAE and most repos use 'model', DeepSpeed 'module',
// PyTorch Lightning 'state_dict'.
inline constexpr const char* kWeightKeys[] = {"model", "module", "state_dict",
                                              "model_state"};

struct TorchCheckpoint {
  // The weights, in the file's order (PyTorch's state_dict order): the whole
  // file if it is a dict of tensors, else the dict of tensors under the first
  // of kWeightKeys that holds one.
  NamedTensors weights;
  // Which key held them; empty when the whole file is the weights.
  std::string weights_key;
  // The other top-level entries with a one-line description each, in file
  // order: ("epoch", "799"), ("args", "argparse.Namespace object").
  std::vector<std::pair<std::string, std::string>> other_entries;
  // Everything the file holds, for callers that want more (the training
  // arguments, Lightning's hyper_parameters).
  std::shared_ptr<const PickleValue> root;
};

// Reads a torch.save file whole, like torch.load(path, map_location="cpu").
// A missing file is NOT_FOUND. A file that is not a checkpoint, is truncated
// or inconsistent is DATA_LOSS; one that uses what this reader refuses
// (compressed zip records, big-endian data, quantized storages) is
// INVALID_ARGUMENT. Messages start with the path. Memory stays within about
// twice the file's size plus kMaxPickleValues small values.
absl::StatusOr<std::shared_ptr<const PickleValue>> LoadTorchFile(
    const std::string& path);

// Reads a checkpoint's weights (see TorchCheckpoint::weights). A file
// without a dict of tensors where one is expected, or whose weights include
// something that is not a tensor (say, a pickled object), is
// INVALID_ARGUMENT naming the entry.
absl::StatusOr<NamedTensors> ReadTorchCheckpoint(const std::string& path);

// The same, with what else the file holds (for `iv model info`).
absl::StatusOr<TorchCheckpoint> ReadTorchCheckpointWithInfo(
    const std::string& path);

// Renames the entries whose names start with `from` to start with `to`
// instead ("module." -> "", "backbone." -> "encoder."); the others keep their
// names. INVALID_ARGUMENT, leaving `weights` as it was, if two entries would
// end up with the same name.
absl::Status ReplacePrefix(absl::string_view from, absl::string_view to,
                           NamedTensors* weights);

}  // namespace iv::model

#endif  // COMMON_MODEL_CHECKPOINT_TORCH_CHECKPOINT_H_
