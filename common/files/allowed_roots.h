// Whether a path lies under allowed folders ("roots"): the check a service
// makes before it opens a path that a request names. Paths are compared
// after symlinks and ".." are resolved, so neither can lead outside a root,
// and by whole components, so /data2 is not under /data.
#ifndef COMMON_FILES_ALLOWED_ROOTS_H_
#define COMMON_FILES_ALLOWED_ROOTS_H_

#include <filesystem>
#include <string>
#include <vector>

namespace iv::files {

// `path` made absolute (against the working directory) with symlinks, "."
// and ".." resolved as far as it exists; the missing rest is normalized
// lexically. Empty for an empty path.
std::filesystem::path ResolvePath(const std::filesystem::path& path);

// Whether `path` is `root` or lies under it, comparing the paths as given
// (resolve both first). Nothing is under an empty root.
bool IsUnder(const std::filesystem::path& path,
             const std::filesystem::path& root);

// A service's roots, resolved once.
class AllowedRoots {
 public:
  // Empty names are skipped: they name no folder.
  explicit AllowedRoots(const std::vector<std::string>& roots);

  const std::vector<std::filesystem::path>& roots() const { return roots_; }

  // Whether `path` (absolute, or relative to the working directory) lies
  // under a root once resolved.
  bool Contains(const std::string& path) const;

  // The files `path` may name, resolved, for a service whose relative paths
  // are relative to its roots: root/path for each root it stays under, in
  // the roots' order; an absolute path itself, once, when it is under a
  // root. Empty when `path` leads outside every root.
  std::vector<std::filesystem::path> Resolve(const std::string& path) const;

 private:
  bool HoldsResolved(const std::filesystem::path& resolved) const;

  std::vector<std::filesystem::path> roots_;
};

}  // namespace iv::files

#endif  // COMMON_FILES_ALLOWED_ROOTS_H_
