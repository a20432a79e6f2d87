#include "common/model/checkpoint/torch_pickle.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>

#include "absl/numeric/int128.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace iv::model {
namespace {

using Ptr = std::shared_ptr<PickleValue>;
using Kind = PickleValue::Kind;

// The storage classes torch.save names in persistent ids, with the dtype of
// their elements and that dtype's Python name.
struct StorageClass {
  const char* name;
  torch::ScalarType dtype;
  const char* dtype_name;
};
constexpr StorageClass kStorageClasses[] = {
    {"torch.FloatStorage", torch::kFloat32, "float32"},
    {"torch.HalfStorage", torch::kFloat16, "float16"},
    {"torch.BFloat16Storage", torch::kBFloat16, "bfloat16"},
    {"torch.DoubleStorage", torch::kFloat64, "float64"},
    {"torch.LongStorage", torch::kInt64, "int64"},
    {"torch.IntStorage", torch::kInt32, "int32"},
    {"torch.ShortStorage", torch::kInt16, "int16"},
    {"torch.CharStorage", torch::kInt8, "int8"},
    {"torch.ByteStorage", torch::kUInt8, "uint8"},
    {"torch.BoolStorage", torch::kBool, "bool"},
};

// Tensors with more dimensions than this are refused (PyTorch's kernels stop
// at 25); it bounds the work of checking a tensor's extent.
constexpr size_t kMaxTensorDims = 64;
// A view may have more elements than its storage only through zero strides
// (an expanded tensor); beyond this many elements such views are refused, so
// that a few bytes cannot pose as a tensor that fills memory when copied.
constexpr int64_t kMaxBroadcastNumel = int64_t{1} << 24;

// The pickle opcodes this unpickler knows, by their byte.
enum class Op : uint8_t {
  kMark = '(',
  kStop = '.',
  kPop = '0',
  kPopMark = '1',
  kDup = '2',
  kBinFloat = 'G',
  kBinInt = 'J',
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kNone = 'N',
  kBinPersId = 'Q',
  kReduce = 'R',
  kBinString = 'T',
  kShortBinString = 'U',
  kBinUnicode = 'X',
  kAppend = 'a',
  kBuild = 'b',
  kGlobal = 'c',
  kAppends = 'e',
  kBinGet = 'h',
  kLongBinGet = 'j',
  kEmptyList = ']',
  kEmptyDict = '}',
  kEmptyTuple = ')',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kSetItem = 's',
  kTuple = 't',
  kSetItems = 'u',
  kBinBytes = 'B',
  kShortBinBytes = 'C',
  kProto = 0x80,
  kNewObj = 0x81,
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kLong1 = 0x8a,
  kLong4 = 0x8b,
  kShortBinUnicode = 0x8c,
  kBinUnicode8 = 0x8d,
  kBinBytes8 = 0x8e,
  kEmptySet = 0x8f,
  kAddItems = 0x90,
  kFrozenSet = 0x91,
  kStackGlobal = 0x93,
  kMemoize = 0x94,
  kFrame = 0x95,
};

Ptr NewValue(Kind kind) {
  auto value = std::make_shared<PickleValue>();
  value->kind = kind;
  return value;
}

const StorageClass* FindStorageClass(const std::string& name) {
  for (const StorageClass& c : kStorageClasses) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

uint64_t LittleEndian(absl::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = bytes.size(); i-- > 0;) {
    value = (value << 8) | static_cast<uint8_t>(bytes[i]);
  }
  return value;
}

// Pickle's LONG1/LONG4: little-endian two's complement of any length.
Ptr MakeLong(absl::string_view bytes) {
  if (bytes.size() > 8) {
    Ptr big = NewValue(Kind::kBigInt);
    big->text = std::string(bytes);
    return big;
  }
  uint64_t bits = LittleEndian(bytes);
  const size_t width = bytes.size() * 8;
  if (width > 0 && width < 64 && (bits >> (width - 1)) & 1) {
    bits |= ~uint64_t{0} << width;  // sign-extend
  }
  Ptr value = NewValue(Kind::kInt);
  value->integer = static_cast<int64_t>(bits);
  return value;
}

bool IsIntTuple(const PickleValue& value) {
  if (value.kind != Kind::kTuple) return false;
  return std::all_of(value.items.begin(), value.items.end(),
                     [](const Ptr& item) { return item->kind == Kind::kInt; });
}

std::string Shorten(absl::string_view text) {
  constexpr size_t kMaxChars = 60;
  if (text.size() <= kMaxChars) return absl::CHexEscape(text);
  return absl::StrCat(absl::CHexEscape(text.substr(0, kMaxChars - 3)), "...");
}

// Runs the pickle machine over one pickle. Every error names the offset of
// the opcode it happened at.
class Unpickler {
 public:
  Unpickler(absl::string_view data, const StorageFetcher& fetch_storage)
      : data_(data), fetch_storage_(fetch_storage) {}

  absl::StatusOr<Ptr> Run() {
    while (true) {
      op_start_ = pos_;
      absl::string_view byte;
      absl::Status status = Read(1, &byte);
      if (!status.ok()) return status;
      const Op op = static_cast<Op>(byte[0]);
      if (op == Op::kStop) break;
      status = Step(op);
      if (!status.ok()) return status;
    }
    Ptr result;
    absl::Status status = Pop(&result);
    if (!status.ok()) return status;
    return result;
  }

  size_t position() const { return pos_; }

 private:
  absl::Status Corrupt(absl::string_view what) const {
    return absl::DataLossError(absl::StrCat("byte ", op_start_, ": ", what));
  }
  absl::Status Unsupported(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("byte ", op_start_, ": ", what));
  }

  absl::Status Step(Op op) {
    switch (op) {
      case Op::kProto:
        return Proto();
      case Op::kFrame:  // framing only helps streaming readers
        return Skip(8);
      case Op::kMark:
        return Mark();
      case Op::kPop:
        return PopOp();
      case Op::kPopMark:
        return PopMark(nullptr);
      case Op::kDup:
        return Dup();
      case Op::kNone:
        return Push(NewValue(Kind::kNone));
      case Op::kNewTrue:
      case Op::kNewFalse:
        return PushBool(op == Op::kNewTrue);
      case Op::kBinInt:
        return PushSignedInt(4);
      case Op::kBinInt1:
        return PushUnsignedInt(1);
      case Op::kBinInt2:
        return PushUnsignedInt(2);
      case Op::kLong1:
        return PushLong(1);
      case Op::kLong4:
        return PushLong(4);
      case Op::kBinFloat:
        return PushFloat();
      case Op::kShortBinUnicode:
      case Op::kShortBinString:
        return PushText(Kind::kString, 1);
      case Op::kBinUnicode:
      case Op::kBinString:
        return PushText(Kind::kString, 4);
      case Op::kBinUnicode8:
        return PushText(Kind::kString, 8);
      case Op::kShortBinBytes:
        return PushText(Kind::kBytes, 1);
      case Op::kBinBytes:
        return PushText(Kind::kBytes, 4);
      case Op::kBinBytes8:
        return PushText(Kind::kBytes, 8);
      case Op::kEmptyTuple:
        return Push(NewValue(Kind::kTuple));
      case Op::kTuple1:
      case Op::kTuple2:
      case Op::kTuple3:
        return TupleOfTop(static_cast<int>(op) - static_cast<int>(Op::kTuple1) +
                          1);
      case Op::kTuple:
        return Collection(Kind::kTuple);
      case Op::kFrozenSet:
        return Collection(Kind::kSet);
      case Op::kEmptyList:
        return Push(NewValue(Kind::kList));
      case Op::kEmptyDict:
        return Push(NewValue(Kind::kDict));
      case Op::kEmptySet:
        return Push(NewValue(Kind::kSet));
      case Op::kAppend:
        return Append();
      case Op::kAppends:
      case Op::kAddItems:
        return Appends(op == Op::kAddItems ? Kind::kSet : Kind::kList);
      case Op::kSetItem:
        return SetItem();
      case Op::kSetItems:
        return SetItems();
      case Op::kBinGet:
        return Get(1);
      case Op::kLongBinGet:
        return Get(4);
      case Op::kBinPut:
        return Put(1);
      case Op::kLongBinPut:
        return Put(4);
      case Op::kMemoize:
        return Memoize(memo_.size());
      case Op::kGlobal:
        return Global();
      case Op::kStackGlobal:
        return StackGlobal();
      case Op::kReduce:
      case Op::kNewObj:
        return Call(op == Op::kReduce);
      case Op::kBuild:
        return Build();
      case Op::kBinPersId:
        return PersistentLoad();
      default:
        break;
    }
    return Unsupported(
        absl::StrCat("unsupported pickle opcode 0x",
                     absl::Hex(static_cast<uint8_t>(op), absl::kZeroPad2)));
  }

  // --- Reading the input.

  absl::Status Read(size_t n, absl::string_view* out) {
    if (data_.size() - pos_ < n) return Corrupt("pickle ends early");
    *out = data_.substr(pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }
  absl::Status Skip(size_t n) {
    absl::string_view ignored;
    return Read(n, &ignored);
  }
  absl::Status ReadUnsigned(int width, uint64_t* out) {
    absl::string_view bytes;
    absl::Status status = Read(width, &bytes);
    if (status.ok()) *out = LittleEndian(bytes);
    return status;
  }
  absl::Status ReadLine(std::string* out) {
    const size_t end = data_.find('\n', pos_);
    if (end == absl::string_view::npos) return Corrupt("pickle ends early");
    *out = std::string(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return absl::OkStatus();
  }

  // --- The stack. MARK starts a new frame; pops never reach below it.

  size_t Floor() const { return marks_.empty() ? 0 : marks_.back(); }

  absl::Status Push(Ptr value) {
    if (++pushes_ > kMaxPickleValues) {
      return Unsupported(
          absl::StrCat("more than ", kMaxPickleValues, " pickle values"));
    }
    stack_.push_back(std::move(value));
    return absl::OkStatus();
  }
  absl::Status Pop(Ptr* out) {
    if (stack_.size() <= Floor()) return Corrupt("pickle stack underflow");
    *out = std::move(stack_.back());
    stack_.pop_back();
    return absl::OkStatus();
  }
  absl::Status Top(PickleValue** out) {
    if (stack_.size() <= Floor()) return Corrupt("pickle stack underflow");
    *out = stack_.back().get();
    return absl::OkStatus();
  }
  absl::Status Mark() {
    if (marks_.size() >= static_cast<size_t>(kMaxPickleDepth)) {
      return Unsupported("pickle marks nested too deep");
    }
    marks_.push_back(stack_.size());
    return absl::OkStatus();
  }
  // Pops everything above the last MARK, and the MARK; `out` may be null.
  absl::Status PopMark(std::vector<Ptr>* out) {
    if (marks_.empty()) return Corrupt("no MARK to pop to");
    const size_t floor = marks_.back();
    marks_.pop_back();
    if (out != nullptr) {
      out->assign(std::make_move_iterator(stack_.begin() + floor),
                  std::make_move_iterator(stack_.end()));
    }
    stack_.resize(floor);
    return absl::OkStatus();
  }
  absl::Status PopOp() {
    if (stack_.size() > Floor()) {
      stack_.pop_back();
      return absl::OkStatus();
    }
    return PopMark(nullptr);
  }
  absl::Status Dup() {
    PickleValue* top = nullptr;
    absl::Status status = Top(&top);
    if (!status.ok()) return status;
    return Push(stack_.back());
  }

  // --- Scalars.

  absl::Status Proto() {
    uint64_t version;
    absl::Status status = ReadUnsigned(1, &version);
    if (status.ok() && version > 5) {
      return Unsupported(absl::StrCat("pickle protocol ", version));
    }
    return status;
  }
  absl::Status PushBool(bool value) {
    Ptr b = NewValue(Kind::kBool);
    b->boolean = value;
    return Push(std::move(b));
  }
  absl::Status PushUnsignedInt(int width) {
    uint64_t value;
    absl::Status status = ReadUnsigned(width, &value);
    if (!status.ok()) return status;
    Ptr i = NewValue(Kind::kInt);
    i->integer = static_cast<int64_t>(value);
    return Push(std::move(i));
  }
  absl::Status PushSignedInt(int width) {
    absl::string_view bytes;
    absl::Status status = Read(width, &bytes);
    if (!status.ok()) return status;
    return Push(MakeLong(bytes));
  }
  absl::Status PushLong(int length_width) {
    uint64_t length;
    absl::Status status = ReadUnsigned(length_width, &length);
    if (!status.ok()) return status;
    if (length_width == 4 && length > INT32_MAX) return Corrupt("bad LONG4");
    absl::string_view bytes;
    status = Read(length, &bytes);
    if (!status.ok()) return status;
    return Push(MakeLong(bytes));
  }
  absl::Status PushFloat() {
    absl::string_view bytes;
    absl::Status status = Read(8, &bytes);
    if (!status.ok()) return status;
    uint64_t bits = 0;  // big-endian IEEE 754
    for (char c : bytes) bits = (bits << 8) | static_cast<uint8_t>(c);
    Ptr f = NewValue(Kind::kFloat);
    std::memcpy(&f->real, &bits, sizeof(bits));
    return Push(std::move(f));
  }
  absl::Status PushText(Kind kind, int length_width) {
    uint64_t length;
    absl::Status status = ReadUnsigned(length_width, &length);
    if (!status.ok()) return status;
    absl::string_view bytes;
    status = Read(length, &bytes);
    if (!status.ok()) return status;
    Ptr text = NewValue(kind);
    text->text = std::string(bytes);
    return Push(std::move(text));
  }

  // --- Containers.

  // Puts `child` inside `parent`. A value put inside another never changes
  // again, so no value can end up inside itself; torch.save always finishes
  // a value before using it.
  absl::Status Adopt(PickleValue* parent, const Ptr& child) {
    if (parent->frozen) return Corrupt("a value changes after being used");
    if (child.get() == parent) return Corrupt("a value contains itself");
    child->frozen = true;
    parent->depth = std::max(parent->depth, child->depth + 1);
    if (parent->depth > kMaxPickleDepth) {
      return Unsupported(
          absl::StrCat("values nested deeper than ", kMaxPickleDepth));
    }
    return absl::OkStatus();
  }
  absl::Status AdoptAll(PickleValue* parent, const std::vector<Ptr>& items) {
    for (const Ptr& item : items) {
      absl::Status status = Adopt(parent, item);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }
  absl::Status MakeCollection(Kind kind, std::vector<Ptr> items) {
    Ptr collection = NewValue(kind);
    absl::Status status = AdoptAll(collection.get(), items);
    if (!status.ok()) return status;
    collection->items = std::move(items);
    return Push(std::move(collection));
  }
  absl::Status TupleOfTop(int n) {
    if (stack_.size() < Floor() + n) return Corrupt("pickle stack underflow");
    std::vector<Ptr> items(std::make_move_iterator(stack_.end() - n),
                           std::make_move_iterator(stack_.end()));
    stack_.resize(stack_.size() - n);
    return MakeCollection(Kind::kTuple, std::move(items));
  }
  absl::Status Collection(Kind kind) {
    std::vector<Ptr> items;
    absl::Status status = PopMark(&items);
    if (!status.ok()) return status;
    return MakeCollection(kind, std::move(items));
  }
  absl::Status AddItems(Kind kind, std::vector<Ptr> items) {
    PickleValue* target = nullptr;
    absl::Status status = Top(&target);
    if (!status.ok()) return status;
    if (target->kind != kind && target->kind != Kind::kObject) {
      return Corrupt("adding items to a value that is not a list or set");
    }
    status = AdoptAll(target, items);
    if (!status.ok()) return status;
    target->items.insert(target->items.end(),
                         std::make_move_iterator(items.begin()),
                         std::make_move_iterator(items.end()));
    return absl::OkStatus();
  }
  absl::Status Append() {
    Ptr item;
    absl::Status status = Pop(&item);
    if (!status.ok()) return status;
    return AddItems(Kind::kList, {std::move(item)});
  }
  absl::Status Appends(Kind kind) {
    std::vector<Ptr> items;
    absl::Status status = PopMark(&items);
    if (!status.ok()) return status;
    return AddItems(kind, std::move(items));
  }
  // `items` alternates keys and values.
  absl::Status AddEntries(std::vector<Ptr> items) {
    PickleValue* target = nullptr;
    absl::Status status = Top(&target);
    if (!status.ok()) return status;
    if (target->kind != Kind::kDict && target->kind != Kind::kObject) {
      return Corrupt("setting an item of a value that is not a dict");
    }
    if (items.size() % 2 != 0) return Corrupt("SETITEMS with a key alone");
    status = AdoptAll(target, items);
    if (!status.ok()) return status;
    for (size_t i = 0; i < items.size(); i += 2) {
      target->entries.emplace_back(std::move(items[i]),
                                   std::move(items[i + 1]));
    }
    return absl::OkStatus();
  }
  absl::Status SetItem() {
    Ptr value, key;
    absl::Status status = Pop(&value);
    if (status.ok()) status = Pop(&key);
    if (!status.ok()) return status;
    return AddEntries({std::move(key), std::move(value)});
  }
  absl::Status SetItems() {
    std::vector<Ptr> items;
    absl::Status status = PopMark(&items);
    if (!status.ok()) return status;
    return AddEntries(std::move(items));
  }

  // --- The memo.

  absl::Status Get(int width) {
    uint64_t index;
    absl::Status status = ReadUnsigned(width, &index);
    if (!status.ok()) return status;
    auto it = memo_.find(index);
    if (it == memo_.end()) return Corrupt("memo entry read before written");
    return Push(it->second);
  }
  absl::Status Put(int width) {
    uint64_t index;
    absl::Status status = ReadUnsigned(width, &index);
    if (!status.ok()) return status;
    return Memoize(index);
  }
  absl::Status Memoize(uint64_t index) {
    PickleValue* top = nullptr;
    absl::Status status = Top(&top);
    if (!status.ok()) return status;
    if (memo_.size() >= static_cast<size_t>(kMaxPickleValues)) {
      return Unsupported("pickle memo too large");
    }
    memo_[index] = stack_.back();
    return absl::OkStatus();
  }

  // --- Globals and calls. Nothing named by the pickle is ever looked up.

  absl::Status PushGlobal(const std::string& module, const std::string& name) {
    Ptr global = NewValue(Kind::kGlobal);
    // Protocol 2 writes Python 3's builtins under their Python 2 name.
    global->text =
        absl::StrCat(module == "__builtin__" ? "builtins" : module, ".", name);
    return Push(std::move(global));
  }
  absl::Status Global() {
    std::string module, name;
    absl::Status status = ReadLine(&module);
    if (status.ok()) status = ReadLine(&name);
    if (!status.ok()) return status;
    return PushGlobal(module, name);
  }
  absl::Status StackGlobal() {
    Ptr name, module;
    absl::Status status = Pop(&name);
    if (status.ok()) status = Pop(&module);
    if (!status.ok()) return status;
    if (name->kind != Kind::kString || module->kind != Kind::kString) {
      return Corrupt("STACK_GLOBAL of non-strings");
    }
    return PushGlobal(module->text, name->text);
  }
  // REDUCE calls the callable; NEWOBJ makes an instance of a class. Only
  // REDUCE of the allow-list gets meaning; everything else stays opaque.
  absl::Status Call(bool reduce) {
    Ptr args, callable;
    absl::Status status = Pop(&args);
    if (status.ok()) status = Pop(&callable);
    if (!status.ok()) return status;
    if (args->kind != Kind::kTuple) {
      return Corrupt("call arguments not a tuple");
    }
    absl::StatusOr<Ptr> result =
        reduce ? Reduce(*callable, args) : Opaque(*callable, args);
    if (!result.ok()) return result.status();
    return Push(*std::move(result));
  }
  absl::StatusOr<Ptr> Reduce(const PickleValue& callable, const Ptr& args) {
    if (callable.kind != Kind::kGlobal) return Opaque(callable, args);
    const std::string& name = callable.text;
    const std::vector<Ptr>& items = args->items;
    if (name == "collections.OrderedDict" && items.empty()) {
      return NewValue(Kind::kDict);
    }
    if (name == "torch.Size" && items.size() == 1 && IsIntTuple(*items[0])) {
      return items[0];
    }
    if (name == "torch._utils._rebuild_tensor_v2") return RebuildTensor(items);
    if (name == "torch._utils._rebuild_parameter" ||
        name == "torch._utils._rebuild_parameter_with_state") {
      return RebuildParameter(name, items);
    }
    if (name == "torch._tensor._rebuild_from_type_v2") {
      return RebuildFromType(callable, args);
    }
    return Opaque(callable, args);
  }
  absl::StatusOr<Ptr> Opaque(const PickleValue& callable, const Ptr& args) {
    Ptr object = NewValue(Kind::kObject);
    object->text = callable.kind == Kind::kGlobal
                       ? callable.text
                       : absl::StrCat("(", DescribePickleValue(callable), ")");
    absl::Status status = Adopt(object.get(), args);
    if (!status.ok()) return status;
    object->args = args;
    return object;
  }
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
  // backward_hooks[, metadata]): a strided view of a storage. Hooks and
  // metadata are Python-side; tensors never require grad here.
  absl::StatusOr<Ptr> RebuildTensor(const std::vector<Ptr>& args) {
    if (args.size() != 6 && args.size() != 7) {
      return Corrupt("_rebuild_tensor_v2 with a wrong argument count");
    }
    if (args[0]->kind != Kind::kStorage) {
      return Unsupported(absl::StrCat("_rebuild_tensor_v2 of ",
                                      DescribePickleValue(*args[0]),
                                      ", not a storage"));
    }
    if (args[1]->kind != Kind::kInt || !IsIntTuple(*args[2]) ||
        !IsIntTuple(*args[3])) {
      return Corrupt("_rebuild_tensor_v2 with malformed offset/size/stride");
    }
    std::vector<int64_t> sizes, strides;
    for (const Ptr& size : args[2]->items) sizes.push_back(size->integer);
    for (const Ptr& stride : args[3]->items) strides.push_back(stride->integer);
    const torch::Tensor& storage = args[0]->tensor;
    absl::Status status =
        CheckExtent(sizes, strides, args[1]->integer, storage.numel());
    if (!status.ok()) return status;
    Ptr tensor = NewValue(Kind::kTensor);
    tensor->tensor = storage.as_strided(sizes, strides, args[1]->integer);
    return tensor;
  }
  // A hostile file must not make a view reach outside its storage, nor make
  // a small storage look like a huge tensor through zero strides.
  absl::Status CheckExtent(const std::vector<int64_t>& sizes,
                           const std::vector<int64_t>& strides, int64_t offset,
                           int64_t storage_numel) const {
    if (sizes.size() != strides.size()) {
      return Corrupt("tensor size and stride disagree");
    }
    if (sizes.size() > kMaxTensorDims) return Unsupported("too many dims");
    if (offset < 0) return Corrupt("negative storage offset");
    absl::int128 numel = 1;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] < 0 || strides[i] < 0) return Corrupt("negative size");
      numel = std::min(numel * sizes[i], absl::int128(INT64_MAX));
    }
    auto outside = [&](absl::string_view why) {
      return absl::StrCat("tensor of size [", absl::StrJoin(sizes, ", "),
                          "] at offset ", offset, " over a storage of ",
                          storage_numel, why);
    };
    if (numel == 0) {
      return offset > storage_numel ? Corrupt(outside("")) : absl::OkStatus();
    }
    if (numel > storage_numel && numel > kMaxBroadcastNumel) {
      return Unsupported(outside(": too large a broadcast view"));
    }
    // Each term is below 2^126 and the sum stays below the storage's size,
    // so this cannot overflow.
    absl::int128 last = offset;
    if (last >= storage_numel) return Corrupt(outside(""));
    for (size_t i = 0; i < sizes.size(); ++i) {
      last += absl::int128(sizes[i] - 1) * strides[i];
      if (last >= storage_numel) return Corrupt(outside(""));
    }
    return absl::OkStatus();
  }
  // _rebuild_parameter(data, requires_grad, hooks[, state]): the data.
  absl::StatusOr<Ptr> RebuildParameter(const std::string& name,
                                       const std::vector<Ptr>& args) {
    if (args.empty() || args[0]->kind != Kind::kTensor) {
      return Unsupported(absl::StrCat(name, " of something not a tensor"));
    }
    return args[0];
  }
  // _rebuild_from_type_v2(func, type, args, state): func(*args) as `type`,
  // which PyTorch uses for tensors with Python attributes. Only plain
  // tensors and Parameters are unwrapped; subclasses stay opaque.
  absl::StatusOr<Ptr> RebuildFromType(const PickleValue& callable,
                                      const Ptr& args) {
    const std::vector<Ptr>& items = args->items;
    if (items.size() == 4 && items[1]->kind == Kind::kGlobal &&
        (items[1]->text == "torch.Tensor" ||
         items[1]->text == "torch.nn.parameter.Parameter") &&
        items[2]->kind == Kind::kTuple) {
      return Reduce(*items[0], items[2]);
    }
    return Opaque(callable, args);
  }
  absl::Status Build() {
    Ptr state;
    PickleValue* target = nullptr;
    absl::Status status = Pop(&state);
    if (status.ok()) status = Top(&target);
    if (!status.ok()) return status;
    if (target->kind != Kind::kObject && target->kind != Kind::kDict) {
      return Corrupt("BUILD of a value that is not an object");
    }
    status = Adopt(target, state);
    if (status.ok()) target->state = std::move(state);
    return status;
  }

  // --- Storages: ('storage', storage class, key, location, numel), and in
  // the legacy format a sixth item, the view metadata, None since 1.0.

  absl::Status PersistentLoad() {
    Ptr pid;
    absl::Status status = Pop(&pid);
    if (!status.ok()) return status;
    if (!fetch_storage_) return Unsupported("persistent id in this pickle");
    const std::vector<Ptr>& id = pid->items;
    if (pid->kind != Kind::kTuple || id.empty() ||
        id[0]->kind != Kind::kString || id[0]->text != "storage") {
      return Unsupported(absl::StrCat(
          "persistent id ", DescribePickleValue(id.empty() ? *pid : *id[0]),
          " is not a storage"));
    }
    if (id.size() < 5 || id.size() > 6 || id[1]->kind != Kind::kGlobal ||
        id[2]->kind != Kind::kString || id[3]->kind != Kind::kString ||
        id[4]->kind != Kind::kInt || id[4]->integer < 0) {
      return Corrupt("malformed storage persistent id");
    }
    if (id.size() == 6 && id[5]->kind != Kind::kNone) {
      return Unsupported("storage views (legacy format from torch < 1.0)");
    }
    const StorageClass* storage_class = FindStorageClass(id[1]->text);
    if (storage_class == nullptr) {
      return Unsupported(absl::StrCat("storage type ", Shorten(id[1]->text)));
    }
    absl::StatusOr<Ptr> storage =
        Storage(id[2]->text, storage_class->dtype, id[4]->integer);
    if (!storage.ok()) return storage.status();
    return Push(*std::move(storage));
  }
  absl::StatusOr<Ptr> Storage(const std::string& key, torch::ScalarType dtype,
                              int64_t numel) {
    auto it = storages_.find(key);
    if (it != storages_.end()) {
      const torch::Tensor& known = it->second->tensor;
      if (known.scalar_type() != dtype || known.numel() != numel) {
        return Corrupt(absl::StrCat("storage '", Shorten(key),
                                    "' declared with two types or sizes"));
      }
      return it->second;
    }
    absl::StatusOr<torch::Tensor> data = fetch_storage_(key, dtype, numel);
    if (!data.ok()) return data.status();
    if (data->scalar_type() != dtype || data->numel() != numel ||
        data->dim() != 1 || data->storage_offset() != 0) {
      return absl::InternalError("storage fetcher returned the wrong shape");
    }
    Ptr storage = NewValue(Kind::kStorage);
    storage->text = key;
    storage->tensor = *std::move(data);
    storages_.emplace(key, storage);
    return storage;
  }

  absl::string_view data_;
  size_t pos_ = 0;
  size_t op_start_ = 0;
  const StorageFetcher& fetch_storage_;
  std::vector<Ptr> stack_;
  std::vector<size_t> marks_;  // stack sizes at each open MARK
  std::unordered_map<uint64_t, Ptr> memo_;
  std::map<std::string, Ptr> storages_;  // by key
  int64_t pushes_ = 0;
};

}  // namespace

const PickleValue* PickleValue::Find(absl::string_view key) const {
  if (kind != Kind::kDict && kind != Kind::kObject) return nullptr;
  const PickleValue* found = nullptr;
  for (const auto& [k, v] : entries) {
    // Python keeps the last value set for a key.
    if (k->kind == Kind::kString && k->text == key) found = v.get();
  }
  if (found == nullptr && kind == Kind::kObject && state != nullptr) {
    return state->Find(key);
  }
  return found;
}

absl::StatusOr<std::shared_ptr<PickleValue>> UnpickleTorch(
    absl::string_view data, const StorageFetcher& fetch_storage,
    size_t* consumed) {
  Unpickler unpickler(data, fetch_storage);
  absl::StatusOr<Ptr> result = unpickler.Run();
  if (result.ok() && consumed != nullptr) *consumed = unpickler.position();
  return result;
}

std::string TorchDtypeName(torch::ScalarType dtype) {
  for (const StorageClass& c : kStorageClasses) {
    if (c.dtype == dtype) return c.dtype_name;
  }
  return c10::toString(dtype);
}

std::string DescribePickleValue(const PickleValue& value) {
  switch (value.kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return value.boolean ? "True" : "False";
    case Kind::kInt:
      return absl::StrCat(value.integer);
    case Kind::kBigInt:
      return absl::StrCat(value.text.size(), "-byte integer");
    case Kind::kFloat:
      return absl::StrCat(value.real);
    case Kind::kString:
      return absl::StrCat("'", Shorten(value.text), "'");
    case Kind::kBytes:
      return absl::StrCat(value.text.size(), " bytes");
    case Kind::kTuple:
      return absl::StrCat("tuple of ", value.items.size());
    case Kind::kList:
      return absl::StrCat("list of ", value.items.size());
    case Kind::kSet:
      return absl::StrCat("set of ", value.items.size());
    case Kind::kDict:
      return absl::StrCat("dict of ", value.entries.size());
    case Kind::kGlobal:
      return Shorten(value.text);
    case Kind::kObject:
      return absl::StrCat(Shorten(value.text), " object");
    case Kind::kStorage:
      return absl::StrCat(TorchDtypeName(value.tensor.scalar_type()),
                          " storage of ", value.tensor.numel());
    case Kind::kTensor:
      return absl::StrCat(TorchDtypeName(value.tensor.scalar_type()),
                          " tensor [",
                          absl::StrJoin(value.tensor.sizes(), ", "), "]");
  }
  return "?";
}

}  // namespace iv::model
