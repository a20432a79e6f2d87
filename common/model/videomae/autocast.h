// The mixed-precision hook of the model library: the modules themselves
// hold fp32 weights and contain no precision logic, so a caller runs them in
// bf16 by holding this guard around the forward (and backward) pass, as
// PyTorch's torch.autocast does: matmuls and convolutions in bf16, reductions
// such as softmax and the losses in fp32. Meant for the GPU build (bf16 is
// where its speed is); on a CPU with AMX it also helps, at an accuracy cost
// that must be measured against fp32.
#ifndef COMMON_MODEL_VIDEOMAE_AUTOCAST_H_
#define COMMON_MODEL_VIDEOMAE_AUTOCAST_H_

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>
#include <torch/version.h>

namespace iv::model {

// Enables bf16 autocast for `device` (kCUDA or kCPU) on this thread until
// destroyed, then restores the previous state. Nests.
class Bf16Autocast {
 public:
  explicit Bf16Autocast(c10::DeviceType device)
      : device_(device), was_enabled_(Enabled(device)), was_dtype_(Dtype()) {
    Set(true, c10::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~Bf16Autocast() {
    // Casted weights are cached while autocast is on; drop them when the
    // outermost guard ends, as torch.autocast does.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    Set(was_enabled_, was_dtype_);
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  // LibTorch 2.4 replaced the per-device functions by ones taking the device.
#if TORCH_VERSION_MAJOR > 2 || \
    (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  static bool Enabled(c10::DeviceType device) {
    return at::autocast::is_autocast_enabled(device);
  }
  c10::ScalarType Dtype() const {
    return at::autocast::get_autocast_dtype(device_);
  }
  void Set(bool enabled, c10::ScalarType dtype) const {
    at::autocast::set_autocast_enabled(device_, enabled);
    at::autocast::set_autocast_dtype(device_, dtype);
  }
#else
  static bool Enabled(c10::DeviceType device) {
    return device == c10::kCPU ? at::autocast::is_cpu_enabled()
                               : at::autocast::is_enabled();
  }
  c10::ScalarType Dtype() const {
    return device_ == c10::kCPU ? at::autocast::get_autocast_cpu_dtype()
                                : at::autocast::get_autocast_gpu_dtype();
  }
  void Set(bool enabled, c10::ScalarType dtype) const {
    if (device_ == c10::kCPU) {
      at::autocast::set_cpu_enabled(enabled);
      at::autocast::set_autocast_cpu_dtype(dtype);
    } else {
      at::autocast::set_enabled(enabled);
      at::autocast::set_autocast_gpu_dtype(dtype);
    }
  }
#endif

  c10::DeviceType device_;
  bool was_enabled_;
  c10::ScalarType was_dtype_;
};

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_AUTOCAST_H_
