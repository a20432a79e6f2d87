#include "common/plugin/options.h"

#include "absl/strings/str_cat.h"

namespace iv::plugin {

absl::Status UnpackOptions(const google::protobuf::Any& options,
                           const std::string& field,
                           google::protobuf::Message* message) {
  if (options.type_url().empty() || options.UnpackTo(message)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(field, ": expected an ",
                                                 message->GetTypeName(),
                                                 ", got ", options.type_url()));
}

}  // namespace iv::plugin
