// A restricted unpickler for the pickles inside PyTorch checkpoint files.
//
// Python's pickle runs whatever callable a file names; a checkpoint downloaded
// from the internet must not be able to do that here. This unpickler runs
// nothing: it knows the opcodes that torch.save emits (protocols 2 to 4) and a
// short allow-list of what PyTorch's pickles call (collections.OrderedDict,
// torch.Size, torch._utils._rebuild_tensor_v2, _rebuild_parameter,
// _rebuild_parameter_with_state, torch._tensor._rebuild_from_type_v2), which
// it implements itself. Any other call (argparse.Namespace, numpy scalars,
// pathlib paths, os.system) becomes an opaque kObject value that records what
// was named and with which arguments, so the rest of the file still loads.
#ifndef COMMON_MODEL_CHECKPOINT_TORCH_PICKLE_H_
#define COMMON_MODEL_CHECKPOINT_TORCH_PICKLE_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace iv::model {

// One value of an unpickled object tree. Values referenced twice in the
// pickle (Python's memo) are shared, as in Python; the tree has no cycles and
// is at most kMaxPickleDepth deep, so it can be walked recursively.
struct PickleValue {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kBigInt,  // an integer that does not fit in 64 bits
    kFloat,
    kString,
    kBytes,
    kTuple,
    kList,
    kSet,
    kDict,     // dict and collections.OrderedDict
    kGlobal,   // a class or function named by the pickle, never looked up
    kObject,   // the opaque result of calling a kGlobal that is not allowed
    kStorage,  // a torch storage
    kTensor,
  };

  Kind kind = Kind::kNone;
  bool boolean = false;  // kBool
  int64_t integer = 0;   // kInt
  double real = 0;       // kFloat
  // kString: the text, UTF-8. kBytes: the bytes. kBigInt: little-endian two's
  // complement bytes. kGlobal, kObject: the dotted name of the class or
  // function ("argparse.Namespace"). kStorage: the storage's key.
  std::string text;
  // kTuple, kList, kSet: the elements. kObject: what APPEND added.
  std::vector<std::shared_ptr<PickleValue>> items;
  // kDict: the entries in insertion order. kObject: what SETITEM added.
  std::vector<
      std::pair<std::shared_ptr<PickleValue>, std::shared_ptr<PickleValue>>>
      entries;
  // kObject: the argument tuple the global was called with.
  std::shared_ptr<PickleValue> args;
  // kObject, kDict: what BUILD set, if anything (a Namespace's attributes, an
  // OrderedDict state dict's _metadata).
  std::shared_ptr<PickleValue> state;
  // kTensor: the tensor, on the CPU, a view of its storage's tensor.
  // kStorage: the whole storage as a 1-D tensor.
  torch::Tensor tensor;

  // Bookkeeping of the unpickler: how deep the tree below this value is, and
  // whether the value was put inside another one (after which it never
  // changes, which is what rules out cycles).
  int depth = 0;
  bool frozen = false;

  // The value under the string `key` of a kDict, or of a kObject's items
  // (a dict subclass) or else its state dict (a Namespace's attribute);
  // nullptr if there is none.
  const PickleValue* Find(absl::string_view key) const;
};

// Nesting deeper than this is refused: Python's own pickler stops near 1000
// and checkpoints nest a handful of levels.
inline constexpr int kMaxPickleDepth = 200;
// More values than this are refused, which bounds the memory a hostile pickle
// can make us spend (~200 bytes per value). A ViT-H checkpoint with its
// optimizer state has ~100k.
inline constexpr int64_t kMaxPickleValues = int64_t{1} << 21;

// Where storages come from. Given a storage's key, dtype and element count
// (from its persistent id), returns its data as a 1-D CPU tensor of that dtype
// and count. Called once per key; tensors sharing a storage share the result.
using StorageFetcher = std::function<absl::StatusOr<torch::Tensor>(
    const std::string& key, torch::ScalarType dtype, int64_t numel)>;

// Unpickles the pickle at the start of `data`; if `consumed` is given it gets
// the pickle's length (legacy checkpoints are several pickles in a row).
// Storage persistent ids go to `fetch_storage`; without one they are an
// error. Malformed input is DATA_LOSS; well-formed input this cannot
// represent (an unsupported opcode or storage type, a tensor built from an
// opaque value) is INVALID_ARGUMENT. Messages give the byte offset.
absl::StatusOr<std::shared_ptr<PickleValue>> UnpickleTorch(
    absl::string_view data, const StorageFetcher& fetch_storage,
    size_t* consumed = nullptr);

// One line saying what `value` is, for listings: "799", "'vit_base'",
// "float32 tensor [768, 3, 2, 16, 16]", "dict of 12", "argparse.Namespace
// object". Long strings and names are shortened.
std::string DescribePickleValue(const PickleValue& value);

// The Python name of a dtype ("float32", "bfloat16").
std::string TorchDtypeName(torch::ScalarType dtype);

}  // namespace iv::model

#endif  // COMMON_MODEL_CHECKPOINT_TORCH_PICKLE_H_
