#include "common/serving/video_source.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/files/allowed_roots.h"
#include "common/serving/status.h"

namespace iv::serving {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ResolveVideoPath(
    const std::string& path, const std::vector<std::string>& roots) {
  if (path.empty()) return InvalidField("video.path", "empty");
  const std::vector<fs::path> candidates =
      files::AllowedRoots(roots).Resolve(path);
  for (const fs::path& candidate : candidates) {
    std::error_code error;
    const fs::file_status status = fs::status(candidate, error);
    if (!fs::exists(status)) continue;
    if (!fs::is_regular_file(status)) {
      return InvalidField("video.path",
                          absl::StrCat("\"", path, "\" is not a regular file"));
    }
    return candidate.string();
  }
  if (candidates.empty()) {
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
