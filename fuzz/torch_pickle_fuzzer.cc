// The restricted unpickler of torch.save files on arbitrary pickles.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/model/checkpoint/torch_pickle.h"
#include "fuzz/fuzz_support.h"

namespace {

// Storages of up to 64 Ki elements, zeros; larger ones are refused as a
// real fetcher refuses a record that is not in the file.
absl::StatusOr<torch::Tensor> FetchZeros(const std::string& key,
                                         torch::ScalarType dtype,
                                         int64_t numel) {
  if (numel < 0 || numel > (int64_t{1} << 16)) {
    return absl::DataLossError("storage '" + key + "' is not in the file");
  }
  return torch::zeros({numel}, torch::TensorOptions().dtype(dtype));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  size_t consumed = 0;
  absl::StatusOr<std::shared_ptr<iv::model::PickleValue>> value =
      iv::model::UnpickleTorch(bytes, FetchZeros, &consumed);
  if (!value.ok()) {
    iv::fuzz::CheckPreciseStatus(value.status());
    return 0;
  }
  if (consumed > size) std::abort();
  (void)iv::model::DescribePickleValue(**value);
  (void)(*value)->Find("model");
  return 0;
}
