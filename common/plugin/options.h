// A plug-in's options, carried in a google.protobuf.Any of a config or
// recipe.
#ifndef COMMON_PLUGIN_OPTIONS_H_
#define COMMON_PLUGIN_OPTIONS_H_

#include <google/protobuf/any.pb.h>
#include <google/protobuf/message.h>

#include <string>

#include "absl/status/status.h"

namespace iv::plugin {

// Unpacks `options` into `message`: an empty Any leaves the message's
// defaults; another type is INVALID_ARGUMENT "<field>: expected an <type>,
// got <type url>".
absl::Status UnpackOptions(const google::protobuf::Any& options,
                           const std::string& field,
                           google::protobuf::Message* message);

}  // namespace iv::plugin

#endif  // COMMON_PLUGIN_OPTIONS_H_
