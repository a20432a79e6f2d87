#include "index_service/filter.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace iv::index {
namespace {

using internvideo::v1::FieldCondition;
using internvideo::v1::MetadataValue;

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

absl::Status ValidateCondition(const FieldCondition& condition,
                               const std::string& field) {
  if (condition.key().empty()) return Invalid(field + ".key", "empty");
  switch (condition.match_case()) {
    case FieldCondition::kEquals:
      if (condition.equals().kind_case() == MetadataValue::KIND_NOT_SET) {
        return Invalid(field + ".equals", "no value set");
      }
      return absl::OkStatus();
    case FieldCondition::kAnyOf: {
      const auto& values = condition.any_of().values();
      if (values.empty()) return Invalid(field + ".any_of.values", "empty");
      for (int i = 0; i < values.size(); ++i) {
        if (values[i].kind_case() == MetadataValue::KIND_NOT_SET) {
          return Invalid(absl::StrCat(field, ".any_of.values[", i, "]"),
                         "no value set");
        }
        if (values[i].kind_case() != values[0].kind_case()) {
          return Invalid(field + ".any_of.values", "values of mixed types");
        }
      }
      return absl::OkStatus();
    }
    case FieldCondition::kRange: {
      const FieldCondition::Range& range = condition.range();
      if (!range.has_gt() && !range.has_gte() && !range.has_lt() &&
          !range.has_lte()) {
        return Invalid(field + ".range", "at least one bound is required");
      }
      for (double bound : {range.gt(), range.gte(), range.lt(), range.lte()}) {
        if (std::isnan(bound)) return Invalid(field + ".range", "NaN bound");
      }
      return absl::OkStatus();
    }
    case FieldCondition::MATCH_NOT_SET:
      break;
  }
  return Invalid(field, "one of equals, any_of or range is required");
}

bool SameValue(const MetadataValue& a, const MetadataValue& b) {
  if (a.kind_case() != b.kind_case()) return false;
  switch (a.kind_case()) {
    case MetadataValue::kStringValue:
      return a.string_value() == b.string_value();
    case MetadataValue::kIntValue:
      return a.int_value() == b.int_value();
    case MetadataValue::kDoubleValue:
      return a.double_value() == b.double_value();
    case MetadataValue::kBoolValue:
      return a.bool_value() == b.bool_value();
    case MetadataValue::KIND_NOT_SET:
      break;
  }
  return false;
}

bool InRange(const FieldCondition::Range& range, const MetadataValue& value) {
  double x;
  if (value.kind_case() == MetadataValue::kIntValue) {
    x = static_cast<double>(value.int_value());
  } else if (value.kind_case() == MetadataValue::kDoubleValue) {
    x = value.double_value();
  } else {
    return false;
  }
  return (!range.has_gt() || x > range.gt()) &&
         (!range.has_gte() || x >= range.gte()) &&
         (!range.has_lt() || x < range.lt()) &&
         (!range.has_lte() || x <= range.lte());
}

bool Holds(const FieldCondition& condition,
           const internvideo::v1::Record& record) {
  auto it = record.metadata().find(condition.key());
  if (it == record.metadata().end()) return false;
  switch (condition.match_case()) {
    case FieldCondition::kEquals:
      return SameValue(condition.equals(), it->second);
    case FieldCondition::kAnyOf:
      for (const MetadataValue& value : condition.any_of().values()) {
        if (SameValue(value, it->second)) return true;
      }
      return false;
    case FieldCondition::kRange:
      return InRange(condition.range(), it->second);
    case FieldCondition::MATCH_NOT_SET:
      break;
  }
  return false;
}

}  // namespace

absl::Status ValidateFilter(const internvideo::v1::Filter& filter) {
  for (int i = 0; i < filter.must_size(); ++i) {
    absl::Status s =
        ValidateCondition(filter.must(i), absl::StrCat("filter.must[", i, "]"));
    if (!s.ok()) return s;
  }
  for (int i = 0; i < filter.must_not_size(); ++i) {
    absl::Status s = ValidateCondition(
        filter.must_not(i), absl::StrCat("filter.must_not[", i, "]"));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

bool MatchesFilter(const internvideo::v1::Filter& filter,
                   const internvideo::v1::Record& record) {
  for (const FieldCondition& condition : filter.must()) {
    if (!Holds(condition, record)) return false;
  }
  for (const FieldCondition& condition : filter.must_not()) {
    if (Holds(condition, record)) return false;
  }
  return true;
}

}  // namespace iv::index
