// IndexService's metadata filter (SearchRequest.filter): validation, then
// matching against records holding every kind of value.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "index_service/filter.h"

namespace {

using internvideo::v1::Record;

std::vector<Record> Records() {
  std::vector<Record> records(3);
  auto& first = *records[0].mutable_metadata();
  first["label"].set_string_value("cube");
  first["size_bytes"].set_int_value(1234);
  first["duration_s"].set_double_value(2.5);
  first["ok"].set_bool_value(true);
  auto& second = *records[1].mutable_metadata();
  second["label"].set_int_value(7);
  second["size_bytes"].set_int_value(std::numeric_limits<int64_t>::min());
  second["duration_s"].set_double_value(
      std::numeric_limits<double>::infinity());
  second[""].set_string_value("");
  return records;  // the third has no metadata
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  internvideo::v1::Filter filter;
  if (!iv::fuzz::ParseProto(data, size, filter)) return 0;
  const absl::Status valid = iv::index::ValidateFilter(filter);
  if (!valid.ok()) {
    if (!absl::IsInvalidArgument(valid)) std::abort();
    return 0;
  }
  static const std::vector<Record>* const records =
      new std::vector<Record>(Records());
  for (const Record& record : *records) {
    (void)iv::index::MatchesFilter(filter, record);
  }
  return 0;
}
