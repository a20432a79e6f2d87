#include "common/files/allowed_roots.h"

#include <algorithm>
#include <system_error>
#include <utility>

namespace iv::files {

namespace fs = std::filesystem;

fs::path ResolvePath(const fs::path& path) {
  if (path.empty()) return {};
  std::error_code error;
  const fs::path absolute = fs::absolute(path, error);
  if (error) return path.lexically_normal();  // no working directory
  const fs::path resolved = fs::weakly_canonical(absolute, error);
  return error ? absolute.lexically_normal() : resolved;
}

bool IsUnder(const fs::path& path, const fs::path& root) {
  if (root.empty() || path.empty()) return false;
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // a trailing separator
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

AllowedRoots::AllowedRoots(const std::vector<std::string>& roots) {
  for (const std::string& root : roots) {
    if (!root.empty()) roots_.push_back(ResolvePath(root));
  }
}

bool AllowedRoots::Contains(const std::string& path) const {
  return HoldsResolved(ResolvePath(path));
}

bool AllowedRoots::HoldsResolved(const fs::path& resolved) const {
  return std::any_of(roots_.begin(), roots_.end(), [&](const fs::path& root) {
    return IsUnder(resolved, root);
  });
}

std::vector<fs::path> AllowedRoots::Resolve(const std::string& path) const {
  if (path.empty()) return {};
  if (fs::path(path).is_absolute()) {
    fs::path resolved = ResolvePath(path);
    if (!HoldsResolved(resolved)) return {};
    return {std::move(resolved)};
  }
  std::vector<fs::path> candidates;
  for (const fs::path& root : roots_) {
    fs::path candidate = ResolvePath(root / path);
    if (IsUnder(candidate, root)) candidates.push_back(std::move(candidate));
  }
  return candidates;
}

}  // namespace iv::files
