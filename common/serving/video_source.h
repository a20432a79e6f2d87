// Where EmbedVideo's bytes come from: a path under the server's allowed
// roots, or bytes sent with the request. Paths are resolved with symlinks
// and ".." followed, so neither can reach outside the roots.
#ifndef COMMON_SERVING_VIDEO_SOURCE_H_
#define COMMON_SERVING_VIDEO_SOURCE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/video/decoder.h"
#include "protos/common.pb.h"

namespace iv::serving {

// The file `path` names: relative to one of `roots` (the first under which
// it exists), or absolute. PERMISSION_DENIED naming `video.path` when it
// resolves outside every root (or no roots are configured), NOT_FOUND when
// it is under a root but missing, INVALID_ARGUMENT when empty or not a
// regular file.
absl::StatusOr<std::string> ResolveVideoPath(
    const std::string& path, const std::vector<std::string>& roots);

// Opens `source` (path or content; `chunked` is INVALID_ARGUMENT here: the
// streaming RPC passes the assembled bytes as content) with `options` (a
// server passes its client's cancellation). Decoder errors keep their code,
// prefixed by "video: ". Content is read in place: `source` must outlive the
// decoder.
absl::StatusOr<std::unique_ptr<video::VideoDecoder>> OpenVideoSource(
    const internvideo::v1::VideoSource& source,
    const std::vector<std::string>& roots,
    const video::DecoderOptions& options = {});

}  // namespace iv::serving

#endif  // COMMON_SERVING_VIDEO_SOURCE_H_
