#include "common/model/checkpoint/torch_pickle.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace iv::model {
namespace {

using Kind = PickleValue::Kind;

// --- Writing pickles by hand, opcode by opcode (see Python's pickletools).

// A literal with its NUL bytes.
template <size_t N>
std::string Bytes(const char (&text)[N]) {
  return std::string(text, N - 1);
}

std::string LittleEndian(uint64_t value, int width) {
  std::string bytes;
  for (int i = 0; i < width; ++i) bytes.push_back(char(value >> (8 * i)));
  return bytes;
}
std::string Pickle(const std::string& body) {
  return absl::StrCat("\x80\x02", body, ".");
}
std::string Str(const std::string& text) {
  return absl::StrCat("X", LittleEndian(text.size(), 4), text);
}
std::string Int(int64_t value) {  // LONG1 of 8 bytes: any int64
  return absl::StrCat("\x8a\x08", LittleEndian(value, 8));
}
std::string Global(const std::string& module, const std::string& name) {
  return absl::StrCat("c", module, "\n", name, "\n");
}
std::string Tuple(const std::vector<std::string>& items) {
  std::string tuple = "(";
  for (const std::string& item : items) tuple += item;
  return tuple + "t";
}
std::string Ints(const std::vector<int64_t>& values) {
  std::vector<std::string> items;
  for (int64_t value : values) items.push_back(Int(value));
  return Tuple(items);
}
std::string Call(const std::string& callable,
                 const std::vector<std::string>& args) {
  return absl::StrCat(callable, Tuple(args), "R");
}
std::string Dict(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string dict = "}(";
  for (const auto& [key, value] : kv) dict += Str(key) + value;
  return dict + "u";
}
std::string StorageId(const std::string& key, int64_t numel,
                      const std::string& type = "FloatStorage") {
  return Tuple({Str("storage"), Global("torch", type), Str(key), Str("cpu"),
                Int(numel)}) +
         "Q";
}
std::string RebuildTensor(const std::string& storage, int64_t offset,
                          const std::vector<int64_t>& sizes,
                          const std::vector<int64_t>& strides) {
  return Call(Global("torch._utils", "_rebuild_tensor_v2"),
              {storage, Int(offset), Ints(sizes), Ints(strides), "\x89",
               Call(Global("collections", "OrderedDict"), {})});
}
std::string Tensor(const std::string& key, int64_t numel, int64_t offset,
                   const std::vector<int64_t>& sizes,
                   const std::vector<int64_t>& strides) {
  return RebuildTensor(StorageId(key, numel), offset, sizes, strides);
}

// Storages are 0, 1, 2, ... of the requested dtype; counts the fetches.
struct FakeStorages {
  int fetches = 0;
  StorageFetcher fetcher() {
    return [this](const std::string&, torch::ScalarType dtype,
                  int64_t numel) -> absl::StatusOr<torch::Tensor> {
      ++fetches;
      if (numel > 1000) return absl::DataLossError("too large for a test");
      return torch::arange(numel).to(dtype);
    };
  }
};

absl::StatusOr<std::shared_ptr<PickleValue>> Unpickle(const std::string& data) {
  FakeStorages storages;
  return UnpickleTorch(data, storages.fetcher());
}

const PickleValue& At(const PickleValue& dict, const std::string& key) {
  const PickleValue* value = dict.Find(key);
  EXPECT_NE(value, nullptr) << key;
  static const PickleValue kNone;
  return value != nullptr ? *value : kNone;
}

TEST(TorchPickleTest, ReadsScalarsStringsAndContainers) {
  const std::string one_and_a_half("G\x3f\xf8\0\0\0\0\0\0", 9);
  absl::StatusOr<std::shared_ptr<PickleValue>> root = Unpickle(Pickle(Dict({
      {"int1", "K\x07"},
      {"int2", "M\x01\x02"},
      {"int4", absl::StrCat("J", LittleEndian(-5, 4))},
      {"long1", "\x8a\x01\xff"},
      {"big", absl::StrCat("\x8a\x09", std::string(9, '\x01'))},
      {"float", one_and_a_half},
      {"none", "N"},
      {"true", "\x88"},
      {"short", "\x8c\x02hi"},
      {"unicode8", absl::StrCat("\x8d", LittleEndian(3, 8), "abc")},
      {"py2str", "U\x03old"},
      {"bytes", Bytes("C\x02\x00\xff")},
      {"list", Bytes("](K\x01K\x02"
                     "e")},
      {"tuple", "K\x01K\x02\x86"},
      {"set", "\x8f(K\x01\x90"},
      {"frozenset", "(K\x01\x91"},
      {"ordered", Call(Global("collections", "OrderedDict"), {})},
      {"size", Call(Global("torch", "Size"), {Ints({2, 3})})},
  })));
  ASSERT_TRUE(root.ok()) << root.status();
  const PickleValue& dict = **root;
  EXPECT_EQ(At(dict, "int1").integer, 7);
  EXPECT_EQ(At(dict, "int2").integer, 513);
  EXPECT_EQ(At(dict, "int4").integer, -5);
  EXPECT_EQ(At(dict, "long1").integer, -1);
  EXPECT_EQ(At(dict, "big").kind, Kind::kBigInt);
  EXPECT_EQ(At(dict, "float").real, 1.5);
  EXPECT_EQ(At(dict, "none").kind, Kind::kNone);
  EXPECT_TRUE(At(dict, "true").boolean);
  EXPECT_EQ(At(dict, "short").text, "hi");
  EXPECT_EQ(At(dict, "unicode8").text, "abc");
  EXPECT_EQ(At(dict, "py2str").text, "old");
  EXPECT_EQ(At(dict, "bytes").text, std::string("\x00\xff", 2));
  EXPECT_EQ(At(dict, "list").items.size(), 2u);
  EXPECT_EQ(At(dict, "tuple").items[1]->integer, 2);
  EXPECT_EQ(At(dict, "set").kind, Kind::kSet);
  EXPECT_EQ(At(dict, "frozenset").kind, Kind::kSet);
  EXPECT_EQ(At(dict, "ordered").kind, Kind::kDict);
  EXPECT_EQ(At(dict, "size").kind, Kind::kTuple);
}

TEST(TorchPickleTest, MemoSharesValues) {
  // A list memoized with BINPUT, MEMOIZE and LONG_BINPUT, read back with
  // BINGET and LONG_BINGET.
  absl::StatusOr<std::shared_ptr<PickleValue>> root = Unpickle(Pickle(
      absl::StrCat(Bytes("(]q\x00\x94r"), LittleEndian(9, 4), Bytes("h\x00j"),
                   LittleEndian(1, 4), "j", LittleEndian(9, 4), "t")));
  ASSERT_TRUE(root.ok()) << root.status();
  ASSERT_EQ((*root)->items.size(), 4u);
  for (const auto& item : (*root)->items) {
    EXPECT_EQ(item.get(), (*root)->items[0].get());
  }
}

TEST(TorchPickleTest, BuildsTensorsAsViewsOfSharedStorages) {
  FakeStorages storages;
  absl::StatusOr<std::shared_ptr<PickleValue>> root = UnpickleTorch(
      Pickle(Dict({{"view", Tensor("0", 12, 1, {2, 3}, {4, 1})},
                   {"transposed", Tensor("0", 12, 0, {4, 3}, {1, 4})},
                   {"scalar", Tensor("1", 1, 0, {}, {})},
                   {"empty", Tensor("1", 1, 1, {0, 5}, {5, 1})}})),
      storages.fetcher());
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(storages.fetches, 2) << "one fetch per storage key";
  const torch::Tensor& view = At(**root, "view").tensor;
  EXPECT_TRUE(
      torch::equal(view, torch::tensor({{1.f, 2.f, 3.f}, {5.f, 6.f, 7.f}})));
  EXPECT_TRUE(view.is_alias_of(At(**root, "transposed").tensor));
  EXPECT_EQ(At(**root, "transposed").tensor.stride(0), 1);
  EXPECT_EQ(At(**root, "scalar").tensor.dim(), 0);
  EXPECT_EQ(At(**root, "empty").tensor.numel(), 0);
}

TEST(TorchPickleTest, UnwrapsParametersAndPlainTypedTensors) {
  const std::string tensor = Tensor("0", 4, 0, {4}, {1});
  const std::string hooks = Call(Global("collections", "OrderedDict"), {});
  const std::string rebuild = Global("torch._utils", "_rebuild_tensor_v2");
  const std::string args =
      Tuple({StorageId("0", 4), Int(0), Ints({4}), Ints({1}), "\x89", hooks});
  absl::StatusOr<std::shared_ptr<PickleValue>> root = Unpickle(Pickle(Dict({
      {"param", Call(Global("torch._utils", "_rebuild_parameter"),
                     {tensor, "\x88", hooks})},
      {"param_with_state",
       Call(Global("torch._utils", "_rebuild_parameter_with_state"),
            {tensor, "\x88", hooks, "}"})},
      {"typed", Call(Global("torch._tensor", "_rebuild_from_type_v2"),
                     {rebuild, Global("torch", "Tensor"), args, "}"})},
      {"subclass", Call(Global("torch._tensor", "_rebuild_from_type_v2"),
                        {rebuild, Global("__main__", "Mine"), args, "}"})},
      // torch >= 2.0 adds the tensor's Python metadata as a 7th argument.
      {"metadata", Call(rebuild, {StorageId("0", 4), Int(0), Ints({4}),
                                  Ints({1}), "\x89", hooks, "}"})},
  })));
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(At(**root, "param").kind, Kind::kTensor);
  EXPECT_FALSE(At(**root, "param").tensor.requires_grad());
  EXPECT_EQ(At(**root, "param_with_state").kind, Kind::kTensor);
  EXPECT_EQ(At(**root, "typed").kind, Kind::kTensor);
  EXPECT_EQ(At(**root, "subclass").kind, Kind::kObject);
  EXPECT_EQ(At(**root, "metadata").kind, Kind::kTensor);
}

TEST(TorchPickleTest, OtherCallsStayOpaqueAndAreNeverRun) {
  absl::StatusOr<std::shared_ptr<PickleValue>> root = Unpickle(Pickle(Dict({
      {"system", Call(Global("posix", "system"), {Str("touch pwned")})},
      {"stack_global",
       absl::StrCat(Str("os"), Str("system"), "\x93", Tuple({Str("ls")}), "R")},
      {"namespace", absl::StrCat(Global("argparse", "Namespace"), ")\x81",
                                 Dict({{"lr", "K\x02"}}), "b")},
      {"dict_subclass", absl::StrCat(Global("__main__", "AttributeDict"),
                                     ")\x81", "(", Str("a"), "K\x01u")},
  })));
  ASSERT_TRUE(root.ok()) << root.status();
  const PickleValue& system = At(**root, "system");
  EXPECT_EQ(system.kind, Kind::kObject);
  EXPECT_EQ(system.text, "posix.system");
  EXPECT_EQ(system.args->items[0]->text, "touch pwned");
  EXPECT_EQ(At(**root, "stack_global").text, "os.system");
  EXPECT_EQ(At(At(**root, "namespace"), "lr").integer, 2);
  EXPECT_EQ(At(At(**root, "dict_subclass"), "a").integer, 1);
}

struct BadCase {
  std::string name;
  std::string pickle;
  absl::StatusCode code;
  std::string problem;
};

void ExpectRefused(const std::vector<BadCase>& cases) {
  for (const BadCase& c : cases) {
    absl::StatusOr<std::shared_ptr<PickleValue>> root = Unpickle(c.pickle);
    EXPECT_EQ(root.status().code(), c.code) << c.name << ": " << root.status();
    EXPECT_TRUE(absl::StrContains(root.status().message(), c.problem))
        << c.name << ": " << root.status();
  }
}

TEST(TorchPickleTest, RefusesTensorsItCannotBuildSafely) {
  const auto kDataLoss = absl::StatusCode::kDataLoss;
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  const std::string system = Call(Global("posix", "system"), {Str("x")});
  ExpectRefused({
      {"past the end", Pickle(Tensor("0", 4, 0, {5}, {1})), kDataLoss,
       "tensor of size [5] at offset 0 over a storage of 4"},
      {"offset past the end", Pickle(Tensor("0", 4, 4, {1}, {1})), kDataLoss,
       "over a storage of 4"},
      {"empty past the end", Pickle(Tensor("0", 4, 5, {0}, {1})), kDataLoss,
       "over a storage of 4"},
      {"negative stride", Pickle(Tensor("0", 4, 3, {2}, {-1})), kDataLoss,
       "negative"},
      {"negative offset", Pickle(Tensor("0", 4, -1, {1}, {1})), kDataLoss,
       "negative"},
      {"size/stride", Pickle(Tensor("0", 4, 0, {2, 2}, {1})), kDataLoss,
       "disagree"},
      {"overflowing strides",
       Pickle(Tensor("0", 4, 0, {2, 2}, {INT64_MAX, INT64_MAX})), kDataLoss,
       "over a storage"},
      {"huge broadcast", Pickle(Tensor("0", 1, 0, {1 << 20, 1 << 20}, {0, 0})),
       kInvalid, "broadcast"},
      {"two dtypes",
       Pickle(Tuple(
           {Tensor("0", 4, 0, {4}, {1}),
            RebuildTensor(StorageId("0", 4, "LongStorage"), 0, {4}, {1})})),
       kDataLoss, "declared with two types or sizes"},
      {"quantized", Pickle(StorageId("0", 4, "QInt8Storage")), kInvalid,
       "storage type torch.QInt8Storage"},
      {"opaque storage", Pickle(RebuildTensor(system, 0, {1}, {1})), kInvalid,
       "_rebuild_tensor_v2 of posix.system object, not a storage"},
      {"opaque parameter",
       Pickle(Call(Global("torch._utils", "_rebuild_parameter"),
                   {system, "\x88", "}"})),
       kInvalid, "not a tensor"},
      {"module id", Pickle(Tuple({Str("module"), "N", "N", "N", "N"}) + "Q"),
       kInvalid, "persistent id 'module'"},
      {"storage view",
       Pickle(Tuple({Str("storage"), Global("torch", "FloatStorage"), Str("0"),
                     Str("cpu"), Int(4), Tuple({Str("1"), Int(0), Int(4)})}) +
              "Q"),
       kInvalid, "storage views"},
  });
}

TEST(TorchPickleTest, PersistentIdsNeedAStorageSource) {
  absl::StatusOr<std::shared_ptr<PickleValue>> root =
      UnpickleTorch(Pickle(StorageId("0", 1)), nullptr);
  EXPECT_EQ(root.status().code(), absl::StatusCode::kInvalidArgument);
  const StorageFetcher failing = [](const std::string&, torch::ScalarType,
                                    int64_t) -> absl::StatusOr<torch::Tensor> {
    return absl::DataLossError("no record");
  };
  root = UnpickleTorch(Pickle(StorageId("0", 1)), failing);
  EXPECT_EQ(root.status(), absl::DataLossError("no record"));
}

TEST(TorchPickleTest, RefusesMalformedAndHostilePickles) {
  const auto kDataLoss = absl::StatusCode::kDataLoss;
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  ExpectRefused({
      {"empty", "", kDataLoss, "byte 0: pickle ends early"},
      {"no STOP", "\x80\x02N", kDataLoss, "ends early"},
      {"nothing to return", "\x80\x02.", kDataLoss, "underflow"},
      {"APPEND to nothing",
       "\x80\x02"
       "a.",
       kDataLoss, "byte 2: pickle stack"},
      {"unwritten memo", "\x80\x02h\x05.", kDataLoss, "memo"},
      {"text opcode", "\x80\x02I1\n.", kInvalid, "opcode 0x49"},
      {"protocol 6", "\x80\x06N.", kInvalid, "protocol 6"},
      {"huge string", "\x80\x02X\xff\xff\xff\x7f", kDataLoss, "ends early"},
      {"negative LONG4", "\x80\x02\x8b\xff\xff\xff\xff", kDataLoss, "LONG4"},
      {"SETITEM on nothing", "\x80\x02}K\x01s.", kDataLoss, "underflow"},
      {"key alone", "\x80\x02}(K\x01u.", kDataLoss, "key alone"},
      {"SETITEMS on a list", "\x80\x02](K\x01K\x02u.", kDataLoss, "not a dict"},
      {"APPENDS on an int",
       "\x80\x02K\x01(K\x02"
       "e.",
       kDataLoss, "not a list"},
      {"BUILD on None", "\x80\x02NNb.", kDataLoss, "BUILD"},
      {"STACK_GLOBAL of ints", "\x80\x02K\x01K\x02\x93.", kDataLoss,
       "non-strings"},
      {"REDUCE without a tuple", "\x80\x02K\x01K\x02R.", kDataLoss,
       "not a tuple"},
      {"POP_MARK without MARK",
       "\x80\x02"
       "1.",
       kDataLoss, "no MARK"},
      {"list in itself",
       Bytes("\x80\x02]q\x00h\x00"
             "a."),
       kDataLoss, "contains itself"},
      {"cycle through another list",
       Bytes("\x80\x02]q\x00]q\x01h\x00"
             "a0h\x00h\x01"
             "a."),
       kDataLoss, "changes after being used"},
      {"deep nesting",
       absl::StrCat("\x80\x02", std::string(300, ']'), std::string(299, 'a'),
                    "."),
       kInvalid, "nested deeper than 200"},
      {"deep marks", absl::StrCat("\x80\x02", std::string(300, '(')), kInvalid,
       "marks nested too deep"},
      {"too many values",
       absl::StrCat("\x80\x02", std::string(kMaxPickleValues + 1, 'N')),
       kInvalid, "more than"},
  });
}

TEST(TorchPickleTest, NeverCrashesOnDamagedInput) {
  const std::string good = Pickle(Dict({
      {"w", Tensor("0", 6, 0, {2, 3}, {3, 1})},
      {"t", Tensor("0", 6, 0, {3, 2}, {1, 3})},
      {"n", absl::StrCat(Global("argparse", "Namespace"), ")\x81",
                         Dict({{"lr", "K\x02"}}), "b")},
  }));
  ASSERT_TRUE(Unpickle(good).ok());
  const char kBytes[] = {'\x00', '(', '.', '0',    '1',    '2',    'Q',   'R',
                         'a',    'b', 'e', 'h',    'q',    's',    't',   'u',
                         '}',    ']', ')', '\x80', '\x81', '\x8a', '\xff'};
  int ok = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    EXPECT_FALSE(Unpickle(good.substr(0, i)).ok()) << "prefix " << i;
    for (char byte : kBytes) {
      std::string damaged = good;
      damaged[i] = byte;
      absl::StatusOr<std::shared_ptr<PickleValue>> root = Unpickle(damaged);
      if (root.ok()) {
        ++ok;
        DescribePickleValue(**root);
      }
    }
  }
  EXPECT_GT(ok, 0) << "some damage is harmless (a digit of a name)";
}

TEST(TorchPickleTest, ReportsTheLengthOfEachPickle) {
  const std::string first = Pickle("K\x01");
  const std::string both = first + Pickle(Str("second"));
  size_t consumed = 0;
  absl::StatusOr<std::shared_ptr<PickleValue>> root =
      UnpickleTorch(both, nullptr, &consumed);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ((*root)->integer, 1);
  EXPECT_EQ(consumed, first.size());
}

TEST(TorchPickleTest, DescribesValuesOnOneShortLine) {
  absl::StatusOr<std::shared_ptr<PickleValue>> root = Unpickle(Pickle(Tuple({
      Str(std::string(100, 'a')),
      Str("bell\x07"),
      "G\x3f\xb9\x99\x99\x99\x99\x99\x9a",
      Global("torch", "bfloat16"),
      RebuildTensor(StorageId("0", 6, "BFloat16Storage"), 0, {2, 3}, {3, 1}),
      StorageId("1", 3, "BoolStorage"),
  })));
  ASSERT_TRUE(root.ok()) << root.status();
  std::vector<std::string> lines;
  for (const auto& item : (*root)->items) {
    lines.push_back(DescribePickleValue(*item));
  }
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "'" + std::string(57, 'a') + "...'",
                       "'bell\\x07'",
                       "0.1",
                       "torch.bfloat16",
                       "bfloat16 tensor [2, 3]",
                       "bool storage of 3",
                   }));
  EXPECT_EQ(DescribePickleValue(**root), "tuple of 6");
}

}  // namespace
}  // namespace iv::model
