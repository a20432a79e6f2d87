#include "common/proto/text_format.h"

#include <google/protobuf/text_format.h>

namespace iv::proto {

std::string ToTextFormat(const google::protobuf::Message& message) {
  google::protobuf::TextFormat::Printer printer;
  printer.SetExpandAny(true);
  std::string text;
  printer.PrintToString(message, &text);
  return text;
}

}  // namespace iv::proto
