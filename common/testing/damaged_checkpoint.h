// Checkpoints damaged on purpose, for the tests of the readers and services
// that must refuse them.
#ifndef COMMON_TESTING_DAMAGED_CHECKPOINT_H_
#define COMMON_TESTING_DAMAGED_CHECKPOINT_H_

#include <string>

#include "absl/status/status.h"

namespace iv::test {

// Rewrites the header of the safetensors file `weights` so that its first
// tensor claims `shape` (JSON, e.g. "[18446744073709551615, 0]") over an
// empty byte range: products that wrap around 64 bits to 0 agree with that
// range unless the reader checks for overflow. The data is left as it is.
absl::Status GiveATensorShape(const std::string& weights,
                              const std::string& shape);

}  // namespace iv::test

#endif  // COMMON_TESTING_DAMAGED_CHECKPOINT_H_
