#include "common/model/config_fields.h"

#include "absl/strings/str_cat.h"

namespace iv::model {

absl::Status InvalidField(absl::string_view section, absl::string_view field,
                          absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(section, ".", field, ": ", message));
}

absl::StatusOr<int64_t> ConfigDimension(absl::string_view section,
                                        absl::string_view field, int64_t value,
                                        int64_t fallback) {
  if (value < 0) {
    return InvalidField(section, field, absl::StrCat(value, " is negative"));
  }
  if (value > 0) return value;
  if (fallback == 0) {
    return InvalidField(section, field, "required without a preset");
  }
  return fallback;
}

absl::Status CheckDivisible(absl::string_view section, absl::string_view field,
                            int64_t value, int64_t divisor,
                            absl::string_view what) {
  if (value % divisor == 0) return absl::OkStatus();
  return InvalidField(section, field,
                      absl::StrCat(value, " is not divisible by ", what));
}

absl::Status ResolveDimensions(absl::string_view section,
                               absl::Span<const DimensionField> fields) {
  for (const DimensionField& field : fields) {
    absl::StatusOr<int64_t> resolved =
        ConfigDimension(section, field.field, field.value, *field.resolved);
    if (!resolved.ok()) return resolved.status();
    *field.resolved = *resolved;
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ResolveNumClasses(absl::string_view section,
                                          int64_t num_classes,
                                          int64_t num_class_names) {
  if (num_classes < 0) {
    return InvalidField(section, "num_classes",
                        absl::StrCat(num_classes, " < 0"));
  }
  if (num_classes > 0 && num_class_names > 0 &&
      num_classes != num_class_names) {
    return InvalidField(section, "num_classes",
                        absl::StrCat(num_classes, ", but class_names has ",
                                     num_class_names, " entries"));
  }
  return num_classes > 0 ? num_classes : num_class_names;
}

absl::StatusOr<std::vector<int64_t>> ResolveConvStemChannels(
    absl::string_view section, absl::string_view field,
    absl::Span<const int32_t> channels, int64_t patch_size) {
  if (channels.empty()) return std::vector<int64_t>();
  if (patch_size <= 0 || (patch_size & (patch_size - 1)) != 0 ||
      int64_t{1} << channels.size() != patch_size) {
    return InvalidField(
        section, field,
        absl::StrCat(
            channels.size(), " layers halve a frame to a grid of ", patch_size,
            "-pixel patches only if 2^layers = patch_size ", patch_size));
  }
  std::vector<int64_t> resolved;
  for (const int32_t c : channels) {
    if (c <= 0 || c % 4 != 0) {
      return InvalidField(section, field,
                          absl::StrCat(c, " is not a positive multiple of 4"));
    }
    resolved.push_back(c);
  }
  return resolved;
}

}  // namespace iv::model
