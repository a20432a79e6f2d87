// Protobuf text format as the platform writes it (checkpoint configs, job
// records, `iv model info`).
#ifndef COMMON_PROTO_TEXT_FORMAT_H_
#define COMMON_PROTO_TEXT_FORMAT_H_

#include <google/protobuf/message.h>

#include <string>

namespace iv::proto {

// `message` in text format with every google.protobuf.Any expanded
// (`[type.googleapis.com/pkg.Type] { field: 1 }` rather than its serialized
// bytes), so a plug-in head's config reads as it was written. The parser
// reads both forms.
std::string ToTextFormat(const google::protobuf::Message& message);

}  // namespace iv::proto

#endif  // COMMON_PROTO_TEXT_FORMAT_H_
