#include "common/serving/video_source.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/serving/status.h"

namespace iv::serving {
namespace {

namespace fs = std::filesystem;

// `path` with every symlink and ".." resolved as far as it exists.
fs::path Resolved(const fs::path& path) {
  std::error_code error;
  const fs::path resolved = fs::weakly_canonical(path, error);
  return error ? path.lexically_normal() : resolved;
}

bool Contains(const fs::path& root, const fs::path& path) {
  const fs::path relative = path.lexically_relative(root);
  return !relative.empty() && *relative.begin() != "..";
}

}  // namespace

absl::StatusOr<std::string> ResolveVideoPath(
    const std::string& path, const std::vector<std::string>& roots) {
  if (path.empty()) return InvalidField("video.path", "empty");
  bool inside = false;
  for (const std::string& root_name : roots) {
    const fs::path root = Resolved(fs::absolute(root_name));
    const fs::path candidate =
        Resolved(fs::path(path).is_absolute() ? fs::path(path) : root / path);
    if (!Contains(root, candidate)) continue;
    inside = true;
    std::error_code error;
    const fs::file_status status = fs::status(candidate, error);
    if (!fs::exists(status)) continue;
    if (!fs::is_regular_file(status)) {
      return InvalidField("video.path",
                          absl::StrCat("\"", path, "\" is not a regular file"));
    }
    return candidate.string();
  }
  if (!inside) {
    return absl::PermissionDeniedError(absl::StrCat(
        "video.path: \"", path, "\" is outside the server's allowed roots",
        roots.empty() ? " (it has none: start it with --allowed-roots)" : ""));
  }
  return absl::NotFoundError(
      absl::StrCat("video.path: \"", path, "\" does not exist"));
}

absl::StatusOr<std::unique_ptr<video::VideoDecoder>> OpenVideoSource(
    const internvideo::v1::VideoSource& source,
    const std::vector<std::string>& roots,
    const video::DecoderOptions& options) {
  absl::StatusOr<std::unique_ptr<video::VideoDecoder>> decoder;
  switch (source.source_case()) {
    case internvideo::v1::VideoSource::kPath: {
      absl::StatusOr<std::string> path = ResolveVideoPath(source.path(), roots);
      if (!path.ok()) return path.status();
      decoder = video::VideoDecoder::Open(*path, options);
      break;
    }
    case internvideo::v1::VideoSource::kContent:
      if (source.content().empty()) {
        return InvalidField("video.content", "empty");
      }
      decoder = video::VideoDecoder::OpenBytes(source.content(), options);
      break;
    case internvideo::v1::VideoSource::kChunked:
      return InvalidField("video.chunked",
                          "only valid in a streaming upload RPC; send path or "
                          "content here");
    default:
      return InvalidField("video", "required: set path, content or chunked");
  }
  if (!decoder.ok()) {
    return absl::Status(decoder.status().code(),
                        absl::StrCat("video: ", decoder.status().message()));
  }
  return decoder;
}

}  // namespace iv::serving
