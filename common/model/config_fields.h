// Reading a model config proto into resolved values: presets fill what is
// unset, and every error names the field by its path, as the status policy
// asks ("masked_encoder.num_heads: 768 is not divisible by num_heads").
#ifndef COMMON_MODEL_CONFIG_FIELDS_H_
#define COMMON_MODEL_CONFIG_FIELDS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace iv::model {

// INVALID_ARGUMENT "<section>.<field>: <message>".
absl::Status InvalidField(absl::string_view section, absl::string_view field,
                          absl::string_view message);

// A dimension: the proto's `value` when set (> 0), else `fallback`; a
// fallback of 0 means the field is required.
absl::StatusOr<int64_t> ConfigDimension(absl::string_view section,
                                        absl::string_view field, int64_t value,
                                        int64_t fallback);

// One dimension for ResolveDimensions: `*resolved` holds the fallback on
// entry and the resolved value after.
struct DimensionField {
  absl::string_view field;
  int64_t value;
  int64_t* resolved;
};

// ConfigDimension of each field in order; the first error.
absl::Status ResolveDimensions(absl::string_view section,
                               absl::Span<const DimensionField> fields);

// OK when `value` is a multiple of `divisor` (named `what` in the error).
absl::Status CheckDivisible(absl::string_view section, absl::string_view field,
                            int64_t value, int64_t divisor,
                            absl::string_view what);

// The class count of a head: the proto's `num_classes` when set, else the
// number of class names; both set must agree. 0 means no head.
absl::StatusOr<int64_t> ResolveNumClasses(absl::string_view section,
                                          int64_t num_classes,
                                          int64_t num_class_names);

// The channels of a convolutional stem (common/model/conv_stem.h) that must
// halve frames to `patch_size`-pixel patches: 2^layers = patch_size, each
// a positive multiple of 4 (GroupNorm's groups). Empty (no stem) is fine.
absl::StatusOr<std::vector<int64_t>> ResolveConvStemChannels(
    absl::string_view section, absl::string_view field,
    absl::Span<const int32_t> channels, int64_t patch_size);

}  // namespace iv::model

#endif  // COMMON_MODEL_CONFIG_FIELDS_H_
