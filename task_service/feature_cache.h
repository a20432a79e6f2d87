// The window features of recently localized videos, least recently used
// first out, bounded by their bytes: computing them runs the feature
// encoder over every window (seconds per minute of video), while decoding
// segments from them with other thresholds is instant.
#ifndef TASK_SERVICE_FEATURE_CACHE_H_
#define TASK_SERVICE_FEATURE_CACHE_H_

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "common/data/window_features.h"

namespace iv::tasks {

struct FeatureCacheStats {
  int64_t hits = 0, misses = 0;
  int64_t entries = 0, bytes = 0;
};

class FeatureCache {
 public:
  // 0 bytes = nothing is kept.
  explicit FeatureCache(int64_t max_bytes) : max_bytes_(max_bytes) {}

  // The features stored under `key`, or null (counted as a miss).
  std::shared_ptr<const data::WindowFeatures> Find(const std::string& key);
  // Stores `features`, evicting the least recently used entries to fit; an
  // entry larger than the whole cache is not kept.
  void Insert(const std::string& key,
              std::shared_ptr<const data::WindowFeatures> features);

  FeatureCacheStats stats() const;

 private:
  using Entry =
      std::pair<std::string, std::shared_ptr<const data::WindowFeatures>>;

  static int64_t Bytes(const Entry& entry);

  const int64_t max_bytes_;
  mutable std::mutex mutex_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  FeatureCacheStats stats_;
};

}  // namespace iv::tasks

#endif  // TASK_SERVICE_FEATURE_CACHE_H_
