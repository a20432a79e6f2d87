// Metadata filters of IndexService.Search (the Filter message): checked once
// per request, then evaluated on each candidate record's metadata.
#ifndef INDEX_SERVICE_FILTER_H_
#define INDEX_SERVICE_FILTER_H_

#include "absl/status/status.h"
#include "protos/index_service.pb.h"

namespace iv::index {

// INVALID_ARGUMENT naming the field ("filter.must[0].any_of: values of
// mixed types") for a condition without key or match, an empty value set,
// a set of mixed types, a range without bounds or a NaN bound.
absl::Status ValidateFilter(const internvideo::v1::Filter& filter);

// Whether `record` satisfies every `must` condition and no `must_not` one.
// A key that is missing, or holds a value of another type, fails its
// condition. `filter` must have passed ValidateFilter.
bool MatchesFilter(const internvideo::v1::Filter& filter,
                   const internvideo::v1::Record& record);

}  // namespace iv::index

#endif  // INDEX_SERVICE_FILTER_H_
