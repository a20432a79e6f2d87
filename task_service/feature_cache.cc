#include "task_service/feature_cache.h"

namespace iv::tasks {

int64_t FeatureCache::Bytes(const Entry& entry) {
  const data::WindowFeatures& features = *entry.second;
  return static_cast<int64_t>(entry.first.size()) +
         features.features.numel() * features.features.element_size() +
         static_cast<int64_t>(features.centres_s.size() * sizeof(double));
}

std::shared_ptr<const data::WindowFeatures> FeatureCache::Find(
    const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = index_.find(key);
  if (found == index_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  ++stats_.hits;
  entries_.splice(entries_.begin(), entries_, found->second);
  return found->second->second;
}

void FeatureCache::Insert(
    const std::string& key,
    std::shared_ptr<const data::WindowFeatures> features) {
  Entry entry{key, std::move(features)};
  const int64_t bytes = Bytes(entry);
  if (bytes > max_bytes_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto found = index_.find(key); found != index_.end()) {
    stats_.bytes -= Bytes(*found->second);
    entries_.erase(found->second);
    index_.erase(found);
  }
  while (stats_.bytes + bytes > max_bytes_) {
    stats_.bytes -= Bytes(entries_.back());
    index_.erase(entries_.back().first);
    entries_.pop_back();
  }
  entries_.push_front(std::move(entry));
  index_[key] = entries_.begin();
  stats_.bytes += bytes;
  stats_.entries = static_cast<int64_t>(entries_.size());
}

FeatureCacheStats FeatureCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  FeatureCacheStats stats = stats_;
  stats.entries = static_cast<int64_t>(entries_.size());
  return stats;
}

}  // namespace iv::tasks
