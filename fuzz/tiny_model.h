// A model registry serving a tiny random-weight model, for the service
// targets: requests that pass validation then run the whole way through.
#ifndef FUZZ_TINY_MODEL_H_
#define FUZZ_TINY_MODEL_H_

#include "common/serving/model_registry.h"
#include "protos/model_config.pb.h"

namespace iv::fuzz {

// Writes `config` as a tiny checkpoint under ScratchDir() and loads it;
// aborts if it does not load. Never destroyed.
const serving::ModelRegistry& TinyModelRegistry(
    const internvideo::v1::ModelConfig& config);

// An empty folder under ScratchDir() to serve as the services' only
// allowed video root, so that video.path requests are resolved (and
// refused or not found) rather than refused outright.
std::string VideoRoot();

}  // namespace iv::fuzz

#endif  // FUZZ_TINY_MODEL_H_
