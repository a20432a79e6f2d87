#include "common/video/decoder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstring>
#include <functional>
#include <iterator>
#include <mutex>
#include <numeric>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace iv::video {
namespace {

constexpr int kIoBufferSize = 64 * 1024;
// How to seek to the keyframe before a frame, one try after another while
// the seek lands past it: first by pts, which mov and matroska index; then by
// dts, for demuxers that binary-search the file by dts (MPEG-TS); then an
// earlier keyframe, for a file whose index is off. The last try decodes from
// the start of the file; then the frame is given up, so any input costs a
// bounded amount of work.
struct SeekTry {
  int64_t keyframes_back;
  bool by_dts;
};
constexpr SeekTry kSeekTries[] = {{0, false}, {0, true}, {2, true}};
constexpr int kMaxAttempts = std::size(kSeekTries) + 1;
// A decoder that fails this many frames in a row is not going to recover.
constexpr int kMaxConsecutiveErrors = 64;
// Containers sometimes state their time base as the frame rate.
constexpr double kMaxPlausibleFps = 1000;

// FFmpeg logs to stderr from deep inside; errors come back as statuses
// instead, with the last error FFmpeg logged on this thread as their detail.
thread_local std::string last_ffmpeg_error;

void CaptureFfmpegLog(void* context, int level, const char* format,
                      va_list args) {
  if (level > AV_LOG_ERROR) return;
  char line[1024];
  int print_prefix = 0;
  av_log_format_line2(context, level, format, args, line, sizeof(line),
                      &print_prefix);
  last_ffmpeg_error = std::string(absl::StripAsciiWhitespace(line));
}

void QuietFfmpegLogs() {
  static std::once_flag once;
  std::call_once(once, [] {
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(CaptureFfmpegLog);
  });
}

std::string AvErrorString(int error) {
  char text[AV_ERROR_MAX_STRING_SIZE];
  av_strerror(error, text, sizeof(text));
  return text;
}

// What FFmpeg reads: a regular file or a buffer. Serving both through our own
// read and seek callbacks means no FFmpeg protocol (network, pipes, devices)
// is ever opened, and every read checks the caller's deadline.
// When the call in progress must stop: past its deadline, or cancelled by
// the caller (DecoderOptions::cancelled).
struct Stop {
  absl::Time deadline = absl::InfiniteFuture();
  std::function<bool()> cancelled;  // may be empty
  bool cancelled_now() const { return cancelled && cancelled(); }
  bool Due() const { return absl::Now() > deadline || cancelled_now(); }
};

struct Source {
  ~Source() {
    if (fd >= 0) close(fd);
  }
  absl::string_view bytes;  // not owned
  int fd = -1;
  int64_t size = 0;
  int64_t pos = 0;
  Stop stop;
};

int ReadSource(void* opaque, uint8_t* buffer, int size) {
  Source* source = static_cast<Source*>(opaque);
  if (source->stop.Due()) return AVERROR_EXIT;
  const int64_t wanted = std::min<int64_t>(size, source->size - source->pos);
  if (wanted <= 0) return AVERROR_EOF;
  ssize_t got = wanted;
  if (source->fd < 0) {
    std::memcpy(buffer, source->bytes.data() + source->pos, wanted);
  } else {
    do {
      got = pread(source->fd, buffer, wanted, source->pos);
    } while (got < 0 && errno == EINTR);
    if (got < 0) return AVERROR(errno);
    if (got == 0) return AVERROR_EOF;
  }
  source->pos += got;
  return static_cast<int>(got);
}

int64_t SeekSource(void* opaque, int64_t offset, int whence) {
  Source* source = static_cast<Source*>(opaque);
  int64_t base;
  switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE:
      return source->size;
    case SEEK_SET:
      base = 0;
      break;
    case SEEK_CUR:
      base = source->pos;
      break;
    case SEEK_END:
      base = source->size;
      break;
    default:
      return AVERROR(EINVAL);
  }
  if (offset < -base || offset > INT64_MAX - base) return AVERROR(EINVAL);
  source->pos = base + offset;
  return source->pos;
}

int StopDue(void* stop) { return static_cast<const Stop*>(stop)->Due(); }

// Playlists and image sequences (hls, concat, dash, image2, ...) would open
// further files named inside the input, local or remote: refused.
int RefuseNestedOpen(AVFormatContext*, AVIOContext**, const char*, int,
                     AVDictionary**) {
  return AVERROR(EPERM);
}

// Demuxers that read a still image as a one-frame "video".
bool IsStillImageFormat(absl::string_view name) {
  return absl::EndsWith(name, "_pipe") || name == "image2" ||
         name == "image2pipe";
}

int FindVideoStream(const AVFormatContext* format) {
  int best = -1;
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    const AVStream* stream = format->streams[i];
    // Cover art in audio files is a "video" stream of one picture.
    if (stream->codecpar->codec_type != AVMEDIA_TYPE_VIDEO ||
        (stream->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      continue;
    }
    if (best < 0 ||
        ((stream->disposition & AV_DISPOSITION_DEFAULT) &&
         !(format->streams[best]->disposition & AV_DISPOSITION_DEFAULT))) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

bool HasAudio(const AVFormatContext* format) {
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    if (format->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
      return true;
    }
  }
  return false;
}

// Clockwise degrees, the way the ffmpeg CLI's autorotate reads the display
// matrix (which stores the counterclockwise angle).
int RotationDegrees(const AVStream* stream) {
  const uint8_t* matrix =
      av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, nullptr);
  if (matrix == nullptr) return 0;
  const double counterclockwise =
      av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (std::isnan(counterclockwise)) return 0;
  const long quarter_turns = -std::lround(counterclockwise / 90);
  return static_cast<int>(((quarter_turns % 4) + 4) % 4 * 90);
}

// The YUV->RGB matrix the ffmpeg CLI's scale filter picks for a frame's
// colorspace: unknown and RGB-tagged frames get BT.601.
const int* YuvToRgbCoefficients(AVColorSpace colorspace) {
  if (colorspace < 1 || colorspace > 10 || colorspace == AVCOL_SPC_YCGCO) {
    colorspace = AVCOL_SPC_BT470BG;
  }
  return sws_getCoefficients(colorspace);
}

}  // namespace

class VideoDecoder::Impl {
 public:
  Impl(std::string name, std::string probe_name, DecoderOptions options,
       std::unique_ptr<Source> source)
      : name_(std::move(name)),
        probe_name_(std::move(probe_name)),
        options_(options),
        source_(std::move(source)) {
    source_->stop.cancelled = options_.cancelled;
  }

  ~Impl() {
    sws_freeContext(sws_);
    av_frame_free(&frame_);
    av_packet_free(&packet_);
    avcodec_free_context(&codec_);
    CloseDemuxer();
  }

  absl::Status Init();
  absl::StatusOr<torch::Tensor> DecodeFrames(
      const std::vector<int64_t>& indices);
  absl::StatusOr<int64_t> FrameAt(double t_s) const;

  const VideoInfo& info() const { return info_; }
  const std::vector<double>& frame_times() const { return frame_times_; }
  int64_t frames_decoded() const { return frames_decoded_; }

 private:
  // A video packet as Open read it.
  struct Packet {
    int64_t ts;  // pts, or dts where the packet has no pts
    int64_t dts;
    int64_t decode_pos;  // place in decode order
    int64_t duration;
    bool key;
    // A frame; not one decoded only as a reference (an edit list hides it)
    // or one cut short.
    bool shown;
  };

  absl::Status Error(absl::StatusCode code, absl::string_view problem) const {
    return absl::Status(code, absl::StrCat("'", name_, "': ", problem));
  }
  absl::Status Timeout() const {
    if (source_->stop.cancelled_now()) {
      return Error(absl::StatusCode::kCancelled,
                   "the caller cancelled (or its deadline passed)");
    }
    return Error(
        absl::StatusCode::kDeadlineExceeded,
        absl::StrCat("gave up after ", absl::FormatDuration(options_.timeout),
                     " (DecoderOptions::timeout)"));
  }
  // `what` says what failed in the user's words; FFmpeg's own reason follows.
  absl::Status FfmpegError(int error, absl::string_view what) const {
    if (Due() || error == AVERROR_EXIT) return Timeout();
    if (error == AVERROR(ENOMEM)) {
      return Error(absl::StatusCode::kResourceExhausted,
                   absl::StrCat(what, ": out of memory"));
    }
    const std::string detail =
        last_ffmpeg_error.empty() ? AvErrorString(error) : last_ffmpeg_error;
    return Error(absl::StatusCode::kInvalidArgument,
                 absl::StrCat(what, " (", detail, ")"));
  }
  absl::Status CheckFrameSize(int64_t width, int64_t height) const {
    if (width <= 0 || height <= 0) {
      return Error(absl::StatusCode::kInvalidArgument,
                   "the video stream has no frame size");
    }
    if (width * height > options_.max_pixels) {
      return Error(absl::StatusCode::kInvalidArgument,
                   absl::StrCat("frames of ", width, "x", height,
                                " pixels exceed the limit of ",
                                options_.max_pixels, " pixels"));
    }
    return absl::OkStatus();
  }
  void StartCall() {
    source_->stop.deadline = absl::Now() + options_.timeout;
    last_ffmpeg_error.clear();
  }

  absl::Status OpenDemuxer();
  void CloseDemuxer();
  absl::Status BuildFrameTable();
  void FillInfo();

  int64_t PositionOf(int64_t ts) const;
  int64_t PacketTs(AVPacket& packet) const;
  int64_t KeyframeBefore(int64_t index) const;
  bool CanContinueTo(int64_t index) const;
  void LosePosition();
  absl::Status SeekFor(int64_t index, int attempt);
  absl::Status Rewind();
  absl::StatusOr<std::vector<int64_t>> DtsInShowingOrder();
  absl::Status RestorePalette(int64_t decode_pos);
  absl::StatusOr<bool> DecodeNext(int64_t* index);
  absl::Status DecodeSorted(const std::vector<int64_t>& indices,
                            const std::vector<size_t>& order,
                            torch::Tensor& out);
  absl::Status ConvertTo(const AVFrame& frame, torch::Tensor dst);

  const std::string name_;
  const std::string probe_name_;  // lets FFmpeg use the file extension
  const DecoderOptions options_;
  std::unique_ptr<Source> source_;
  bool Due() const { return source_->stop.Due(); }

  AVIOContext* io_ = nullptr;
  AVFormatContext* format_ = nullptr;
  AVCodecContext* codec_ = nullptr;
  AVPacket* packet_ = nullptr;
  AVFrame* frame_ = nullptr;
  SwsContext* sws_ = nullptr;
  int stream_ = -1;
  int coded_width_ = 0, coded_height_ = 0;  // before rotation

  VideoInfo info_;
  // Every video packet from the first keyframe on, in presentation order.
  std::vector<Packet> packets_;
  std::vector<int64_t> frames_;     // frame index -> position in packets_
  std::vector<int64_t> frame_of_;   // position in packets_ -> frame index, -1
  std::vector<int64_t> keyframes_;  // positions in packets_, ascending
  std::vector<double> frame_times_;
  // (dts, pts) of the packets whose pts Open worked out, by dts.
  std::vector<std::pair<int64_t, int64_t>> derived_pts_;
  // Every packet's pts is its derived one, whatever the file says.
  bool retimed_ = false;
  // (decode position, palette) of the packets that set one: paletted video
  // gets its palette only with the first packet, and a seek skips that.
  std::vector<std::pair<int64_t, std::string>> palettes_;
  int64_t frames_decoded_ = 0;

  // Where decoding stands since the last seek: the decode positions of the
  // packets fed (a contiguous run), the last frame output, and whether the
  // decoder is draining at the end of the stream.
  int64_t fed_first_ = -1, fed_last_ = -1;
  int64_t last_output_ = -1;
  // The frames the current DecodeFrames call asked for, sorted.
  std::vector<int64_t> requested_;
  bool draining_ = false;
  int consecutive_errors_ = 0;
  // The decode position of the keyframe the last seek aimed at; -1 after a
  // rewind to the start.
  int64_t seek_key_pos_ = -1;
};

absl::Status VideoDecoder::Impl::OpenDemuxer() {
  auto* buffer = static_cast<uint8_t*>(av_malloc(kIoBufferSize));
  if (buffer == nullptr) return FfmpegError(AVERROR(ENOMEM), "cannot read");
  io_ = avio_alloc_context(buffer, kIoBufferSize, /*write_flag=*/0,
                           source_.get(), ReadSource, nullptr, SeekSource);
  format_ = avformat_alloc_context();
  if (io_ == nullptr || format_ == nullptr) {
    if (io_ == nullptr) av_free(buffer);
    return FfmpegError(AVERROR(ENOMEM), "cannot read");
  }
  format_->pb = io_;
  format_->interrupt_callback = {StopDue, &source_->stop};
  format_->io_open = RefuseNestedOpen;
  source_->pos = 0;
  // On failure FFmpeg frees format_ and sets it to null.
  const int error =
      avformat_open_input(&format_, probe_name_.c_str(), nullptr, nullptr);
  if (error < 0) {
    return FfmpegError(error, "not a video file, or a damaged one");
  }
  return absl::OkStatus();
}

void VideoDecoder::Impl::CloseDemuxer() {
  avformat_close_input(&format_);
  if (io_ != nullptr) {
    av_freep(&io_->buffer);
    avio_context_free(&io_);
  }
}

absl::Status VideoDecoder::Impl::Init() {
  StartCall();
  if (source_->size == 0) {
    return Error(absl::StatusCode::kInvalidArgument, "empty file (0 bytes)");
  }
  if (absl::Status status = OpenDemuxer(); !status.ok()) return status;
  const absl::string_view container = format_->iformat->name;
  if (IsStillImageFormat(container)) {
    return Error(absl::StatusCode::kInvalidArgument,
                 absl::StrCat("a still image (", container, "), not a video"));
  }
  if (container == "tty") {
    return Error(absl::StatusCode::kInvalidArgument,
                 "a text file, not a video");
  }
  // Probing decodes a few frames: refuse absurd sizes the header already
  // states before anything is allocated for them.
  for (unsigned i = 0; i < format_->nb_streams; ++i) {
    const AVCodecParameters* par = format_->streams[i]->codecpar;
    if (par->codec_type == AVMEDIA_TYPE_VIDEO && par->width > 0 &&
        par->height > 0) {
      if (absl::Status status = CheckFrameSize(par->width, par->height);
          !status.ok()) {
        return status;
      }
    }
  }
  if (int error = avformat_find_stream_info(format_, nullptr); error < 0) {
    return FfmpegError(error, "cannot read the streams");
  }
  stream_ = FindVideoStream(format_);
  if (stream_ < 0) {
    return Error(absl::StatusCode::kInvalidArgument,
                 HasAudio(format_) ? "no video stream (audio only?)"
                                   : "no video stream");
  }
  const AVCodecParameters* par = format_->streams[stream_]->codecpar;
  const AVCodec* decoder = avcodec_find_decoder(par->codec_id);
  if (decoder == nullptr) {
    char tag[AV_FOURCC_MAX_STRING_SIZE];
    av_fourcc_make_string(tag, par->codec_tag);
    return Error(
        absl::StatusCode::kUnimplemented,
        absl::StrCat("no decoder in this build for its video codec '",
                     avcodec_get_name(par->codec_id), "' (fourcc ", tag, ")"));
  }
  if (absl::Status status = CheckFrameSize(par->width, par->height);
      !status.ok()) {
    return status;
  }
  coded_width_ = par->width;
  coded_height_ = par->height;
  for (unsigned i = 0; i < format_->nb_streams; ++i) {
    if (static_cast<int>(i) != stream_) {
      format_->streams[i]->discard = AVDISCARD_ALL;
    }
  }

  codec_ = avcodec_alloc_context3(decoder);
  packet_ = av_packet_alloc();
  frame_ = av_frame_alloc();
  if (codec_ == nullptr || packet_ == nullptr || frame_ == nullptr) {
    return FfmpegError(AVERROR(ENOMEM), "cannot start the video decoder");
  }
  if (int error = avcodec_parameters_to_context(codec_, par); error < 0) {
    return FfmpegError(error, "cannot start the video decoder");
  }
  codec_->pkt_timebase = format_->streams[stream_]->time_base;
  codec_->thread_count = std::max(0, options_.threads);
  codec_->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  if (int error = avcodec_open2(codec_, decoder, nullptr); error < 0) {
    return FfmpegError(error, "cannot start the video decoder");
  }
  if (absl::Status status = BuildFrameTable(); !status.ok()) return status;
  FillInfo();
  return absl::OkStatus();
}

absl::Status VideoDecoder::Impl::BuildFrameTable() {
  struct Demuxed {
    int64_t pts, dts, duration;
    bool key, shown;
    bool derived = false;  // pts worked out below
  };
  std::vector<Demuxed> demuxed;  // decode order
  int read_error = 0;
  for (;;) {
    if (Due()) return Timeout();
    const int error = av_read_frame(format_, packet_);
    if (error == AVERROR_EXIT) return Timeout();
    if (error < 0) {
      // Unreadable data ends the stream: a truncated file keeps the frames
      // that are whole.
      if (error != AVERROR_EOF) read_error = error;
      break;
    }
    if (packet_->stream_index == stream_) {
      const bool shown =
          !(packet_->flags & (AV_PKT_FLAG_DISCARD | AV_PKT_FLAG_CORRUPT));
      size_t size;
      const uint8_t* palette =
          av_packet_get_side_data(packet_, AV_PKT_DATA_PALETTE, &size);
      if (palette != nullptr) {
        palettes_.emplace_back(
            demuxed.size(),
            std::string(reinterpret_cast<const char*>(palette), size));
      }
      demuxed.push_back({packet_->pts, packet_->dts, packet_->duration,
                         (packet_->flags & AV_PKT_FLAG_KEY) != 0, shown});
    }
    av_packet_unref(packet_);
  }
  const auto has_pts = [](const Demuxed& d) { return d.pts != AV_NOPTS_VALUE; };
  if (!demuxed.empty() &&
      std::none_of(demuxed.begin(), demuxed.end(), [](const Demuxed& d) {
        return d.pts != AV_NOPTS_VALUE || d.dts != AV_NOPTS_VALUE;
      })) {
    return Error(absl::StatusCode::kUnimplemented,
                 "its frames carry no timestamps (a raw elementary stream?); "
                 "put it in a container such as MP4 or MKV");
  }

  const bool reordered = format_->streams[stream_]->codecpar->video_delay > 0;
  if (reordered &&
      std::all_of(demuxed.begin(), demuxed.end(),
                  [](const Demuxed& d) { return d.dts != AV_NOPTS_VALUE; }) &&
      !std::all_of(demuxed.begin(), demuxed.end(), has_pts)) {
    // AVI stores no pts for I- and P-frames (FFmpeg gives B-frames pts =
    // dts), and none at all for H.264: only the decoder knows the order its
    // frames are shown in. Decode the stream once; the k-th frame it shows
    // takes the k-th time, as the ffmpeg CLI numbers them, also where the
    // file's few pts say otherwise (XviD's placeholder frames for packed
    // B-frames are shown before the P-frame they stand behind). Kept when it
    // shows every packet once.
    absl::StatusOr<std::vector<int64_t>> shown = DtsInShowingOrder();
    if (!shown.ok()) return shown.status();
    std::vector<int64_t> times;
    for (const Demuxed& d : demuxed) times.push_back(d.dts);
    std::sort(times.begin(), times.end());
    std::vector<int64_t> sorted_shown = *shown;
    std::sort(sorted_shown.begin(), sorted_shown.end());
    if (sorted_shown == times) {
      std::vector<std::pair<int64_t, int64_t>> time_of;  // (dts, pts)
      for (size_t k = 0; k < shown->size(); ++k) {
        time_of.emplace_back((*shown)[k], times[k]);
      }
      std::sort(time_of.begin(), time_of.end());
      auto time_of_dts = [&time_of](int64_t dts) {
        return std::lower_bound(time_of.begin(), time_of.end(),
                                std::make_pair(dts, INT64_MIN))
            ->second;
      };
      for (Demuxed& d : demuxed) {
        d.pts = time_of_dts(d.dts);
        d.derived = true;
      }
      retimed_ = true;
    }
  }
  if (reordered && !retimed_) {
    if (std::none_of(demuxed.begin(), demuxed.end(), has_pts)) {
      return Error(absl::StatusCode::kUnimplemented,
                   "its frames are reordered (B-frames), the file stores no "
                   "timestamps for them (H.264 in AVI?) and decoding does not "
                   "show each frame once; remux or re-encode it to MP4 or MKV");
    }
    // MPEG-PS also leaves I- and P-frames without pts, and some packets
    // without dts. As in MPEG, such an anchor frame is shown when the next
    // anchor arrives, at that one's dts; knowing the whole stream, we can
    // say when.
    Demuxed* waiting = nullptr;
    int64_t end = AV_NOPTS_VALUE;
    for (Demuxed& d : demuxed) {
      if (d.dts == AV_NOPTS_VALUE) continue;
      end = std::max(end, d.dts + std::max<int64_t>(d.duration, 1));
      if (d.pts == d.dts) continue;  // a B-frame
      if (waiting != nullptr) {
        waiting->pts = d.dts;
        waiting->derived = true;
        waiting = nullptr;
      }
      if (d.pts == AV_NOPTS_VALUE) waiting = &d;
    }
    if (waiting != nullptr) {
      waiting->pts = end;
      waiting->derived = true;
    }
  }
  for (const Demuxed& d : demuxed) {
    if (d.derived) derived_pts_.emplace_back(d.dts, d.pts);
  }
  std::sort(derived_pts_.begin(), derived_pts_.end());

  // Packets before the first keyframe refer to pictures the file lacks. A
  // stream that flags no keyframe at all can only be decoded from its start.
  auto first_key = std::find_if(demuxed.begin(), demuxed.end(),
                                [](const Demuxed& d) { return d.key; });
  if (first_key == demuxed.end() && !demuxed.empty()) {
    first_key = demuxed.begin();
    first_key->key = true;
  }
  int64_t shown = 0;
  for (auto it = first_key; it != demuxed.end(); ++it) {
    const int64_t ts = it->pts != AV_NOPTS_VALUE ? it->pts : it->dts;
    if (ts == AV_NOPTS_VALUE) continue;
    packets_.push_back(
        {ts, it->dts, it - demuxed.begin(), it->duration, it->key, it->shown});
    shown += it->shown;
  }
  std::stable_sort(
      packets_.begin(), packets_.end(),
      [](const Packet& a, const Packet& b) { return a.ts < b.ts; });
  // Two packets at one time cannot be told apart when decoded: keep the one
  // decoded first.
  packets_.erase(std::unique(packets_.begin(), packets_.end(),
                             [](const Packet& a, const Packet& b) {
                               return a.ts == b.ts;
                             }),
                 packets_.end());
  frame_of_.assign(packets_.size(), -1);
  for (size_t i = 0; i < packets_.size(); ++i) {
    if (packets_[i].shown) {
      frame_of_[i] = frames_.size();
      frames_.push_back(i);
    }
    if (packets_[i].key) keyframes_.push_back(i);
  }
  if (frames_.empty()) {
    return read_error < 0
               ? FfmpegError(read_error, "no readable video frames")
               : Error(absl::StatusCode::kInvalidArgument, "no video frames");
  }
  if (frames_.size() == 1 && shown > 1) {
    return Error(
        absl::StatusCode::kInvalidArgument,
        absl::StrCat("all ", shown, " frames have the same timestamp (0 fps)"));
  }
  return absl::OkStatus();
}

void VideoDecoder::Impl::FillInfo() {
  const AVStream* stream = format_->streams[stream_];
  const AVRational time_base = stream->time_base;
  auto seconds = [&](int64_t ts) {
    return static_cast<double>(ts) * time_base.num / time_base.den;
  };
  const int64_t n = frames_.size();
  const Packet& first = packets_[frames_.front()];
  const Packet& last = packets_[frames_.back()];
  frame_times_.reserve(n);
  for (int64_t position : frames_) {
    frame_times_.push_back(seconds(packets_[position].ts - first.ts));
  }

  const AVRational rate = stream->avg_frame_rate;
  const bool rate_plausible =
      rate.num > 0 && rate.den > 0 && av_q2d(rate) <= kMaxPlausibleFps;
  int64_t last_duration = last.duration;
  if (last_duration <= 0) {
    if (n > 1) {
      last_duration = (last.ts - first.ts) / (n - 1);
    } else if (rate_plausible) {
      last_duration = av_rescale_q(1, av_inv_q(rate), time_base);
    }
  }
  info_.duration_s = seconds(last.ts + last_duration - first.ts);
  info_.num_frames = n;
  if (rate_plausible) {
    info_.fps = av_q2d(rate);
  } else if (info_.duration_s > 0) {
    info_.fps = n / info_.duration_s;
  }
  info_.rotation_degrees = RotationDegrees(stream);
  const bool sideways = info_.rotation_degrees % 180 != 0;
  info_.width = sideways ? coded_height_ : coded_width_;
  info_.height = sideways ? coded_width_ : coded_height_;
  info_.codec = avcodec_get_name(stream->codecpar->codec_id);
  const char* pixel_format =
      av_get_pix_fmt_name(static_cast<AVPixelFormat>(stream->codecpar->format));
  info_.pixel_format = pixel_format != nullptr ? pixel_format : "unknown";
  info_.container = format_->iformat->name;
  info_.size_bytes = source_->size;
}

// The packet's table timestamp, filled in as its pts so that the decoder
// hands it on to the frame: a frame's own pkt_dts is that of a later packet.
int64_t VideoDecoder::Impl::PacketTs(AVPacket& packet) const {
  if (packet.pts == AV_NOPTS_VALUE || retimed_) {
    packet.pts = packet.dts;
    auto it = std::lower_bound(derived_pts_.begin(), derived_pts_.end(),
                               std::make_pair(packet.dts, INT64_MIN));
    if (it != derived_pts_.end() && it->first == packet.dts) {
      packet.pts = it->second;
    }
  }
  return packet.pts;
}

int64_t VideoDecoder::Impl::PositionOf(int64_t ts) const {
  auto it = std::lower_bound(
      packets_.begin(), packets_.end(), ts,
      [](const Packet& packet, int64_t value) { return packet.ts < value; });
  return it != packets_.end() && it->ts == ts ? it - packets_.begin() : -1;
}

// The position in keyframes_ of the last keyframe at or before the frame in
// presentation order: decoding from it reaches the frame even when the frame
// is an open-GOP leading picture, which is decoded after a later keyframe but
// refers to this GOP. -1 for none.
int64_t VideoDecoder::Impl::KeyframeBefore(int64_t index) const {
  return std::upper_bound(keyframes_.begin(), keyframes_.end(),
                          frames_[index]) -
         keyframes_.begin() - 1;
}

// Decoding forward reaches the frame correctly when its keyframe has been
// fed since the last seek, or is the next packet; seeking would only redo
// that work. A draining decoder still holds the last frames.
bool VideoDecoder::Impl::CanContinueTo(int64_t index) const {
  if (fed_first_ < 0 || index <= last_output_) return false;
  const int64_t k = KeyframeBefore(index);
  if (k < 0) return false;
  const int64_t pos = packets_[keyframes_[k]].decode_pos;
  return fed_first_ <= pos && pos <= fed_last_ + 1;
}

void VideoDecoder::Impl::LosePosition() {
  if (codec_ != nullptr) avcodec_flush_buffers(codec_);
  fed_first_ = fed_last_ = last_output_ = -1;
  draining_ = false;
  consecutive_errors_ = 0;
}

absl::Status VideoDecoder::Impl::SeekFor(int64_t index, int attempt) {
  LosePosition();
  seek_key_pos_ = -1;
  const int64_t k = KeyframeBefore(index);
  if (format_ != nullptr && attempt < static_cast<int>(std::size(kSeekTries)) &&
      k >= 0) {
    const SeekTry& how = kSeekTries[attempt];
    const Packet& key =
        packets_[keyframes_[std::max<int64_t>(0, k - how.keyframes_back)]];
    const int64_t ts =
        how.by_dts && key.dts != AV_NOPTS_VALUE ? key.dts : key.ts;
    const int error = av_seek_frame(format_, stream_, ts, AVSEEK_FLAG_BACKWARD);
    if (error >= 0) {
      seek_key_pos_ = key.decode_pos;
      return absl::OkStatus();
    }
    if (error == AVERROR_EXIT || Due()) return Timeout();
  }
  return Rewind();
}

// Reopening is the one way back to the first packet that every demuxer
// supports, whatever its index says. Some demuxers (FLV, MPEG-PS) create
// their streams only as packets arrive, in the same order as the first time.
absl::Status VideoDecoder::Impl::Rewind() {
  CloseDemuxer();
  if (absl::Status status = OpenDemuxer(); !status.ok()) return status;
  for (unsigned i = 0; i < format_->nb_streams; ++i) {
    if (static_cast<int>(i) != stream_) {
      format_->streams[i]->discard = AVDISCARD_ALL;
    }
  }
  return absl::OkStatus();
}

// Decodes the whole stream once, each packet carrying its dts as its pts
// (the decoder hands a packet's pts on to its frame), and returns those of
// the frames in the order the decoder shows them. Costs one decode of the
// file, without conversion to RGB, and only for files that store no other
// clue to the order (Open's deadline bounds it).
absl::StatusOr<std::vector<int64_t>> VideoDecoder::Impl::DtsInShowingOrder() {
  if (absl::Status status = Rewind(); !status.ok()) return status;
  std::vector<int64_t> shown;
  bool draining = false;
  int errors = 0;
  for (;;) {
    int error = avcodec_receive_frame(codec_, frame_);
    if (error >= 0) {
      errors = 0;
      if (frame_->pts != AV_NOPTS_VALUE) shown.push_back(frame_->pts);
      av_frame_unref(frame_);
      continue;
    }
    if (error == AVERROR_EOF) break;
    if (error != AVERROR(EAGAIN)) {
      if (error == AVERROR(ENOMEM) || ++errors > kMaxConsecutiveErrors) {
        return FfmpegError(error, "the video decoder keeps failing");
      }
      continue;
    }
    if (draining) break;
    if (Due()) return Timeout();
    error = av_read_frame(format_, packet_);
    if (error < 0) {
      if (error == AVERROR_EXIT || Due()) return Timeout();
      avcodec_send_packet(codec_, nullptr);
      draining = true;
      continue;
    }
    if (packet_->stream_index == stream_) {
      packet_->pts = packet_->dts;
      avcodec_send_packet(codec_, packet_);
    }
    av_packet_unref(packet_);
  }
  // The demuxer stays at the end (a reopened one may not know its streams
  // yet, and FillInfo reads them): the first DecodeFrames seeks.
  avcodec_flush_buffers(codec_);
  return shown;
}

// Gives packet_, the first after a seek, the palette in force at its place.
absl::Status VideoDecoder::Impl::RestorePalette(int64_t decode_pos) {
  auto after = std::upper_bound(
      palettes_.begin(), palettes_.end(), decode_pos,
      [](int64_t pos, const auto& palette) { return pos < palette.first; });
  if (after == palettes_.begin() ||
      av_packet_get_side_data(packet_, AV_PKT_DATA_PALETTE, nullptr) !=
          nullptr) {
    return absl::OkStatus();
  }
  const std::string& palette = std::prev(after)->second;
  uint8_t* data =
      av_packet_new_side_data(packet_, AV_PKT_DATA_PALETTE, palette.size());
  if (data == nullptr) {
    return FfmpegError(AVERROR(ENOMEM), "cannot restore the palette");
  }
  std::memcpy(data, palette.data(), palette.size());
  return absl::OkStatus();
}

// The next frame out of the decoder, reading and feeding packets as needed.
// False at the end of the stream, or when the first packet after a seek
// shows that the seek overshot its keyframe. *index is the frame's place in
// the table, or -1 for a frame the table does not know.
absl::StatusOr<bool> VideoDecoder::Impl::DecodeNext(int64_t* index) {
  for (;;) {
    int error = avcodec_receive_frame(codec_, frame_);
    if (error >= 0) {
      consecutive_errors_ = 0;
      const int64_t position =
          frame_->pts != AV_NOPTS_VALUE ? PositionOf(frame_->pts) : -1;
      *index = position >= 0 ? frame_of_[position] : -1;
      if (*index < 0) return true;
      if (*index < last_output_) {
        return Error(absl::StatusCode::kInvalidArgument,
                     "frames decode in another order than their timestamps "
                     "say (damaged timestamps?)");
      }
      last_output_ = *index;
      return true;
    }
    if (error == AVERROR_EOF) return false;
    if (error != AVERROR(EAGAIN)) {
      // A damaged frame: the ones after it may still decode.
      if (error == AVERROR(ENOMEM) ||
          ++consecutive_errors_ > kMaxConsecutiveErrors) {
        return FfmpegError(error, "the video decoder keeps failing");
      }
      continue;
    }
    if (draining_) return false;
    if (Due()) return Timeout();
    error = av_read_frame(format_, packet_);
    if (error < 0) {
      if (error == AVERROR_EXIT || Due()) return Timeout();
      // The end of the file, or data that cannot be read: both end the
      // stream, and the decoder gives up the frames it still holds.
      avcodec_send_packet(codec_, nullptr);
      draining_ = true;
      continue;
    }
    if (packet_->stream_index == stream_) {
      const int64_t position = PositionOf(PacketTs(*packet_));
      if (position >= 0) {
        const int64_t pos = packets_[position].decode_pos;
        if (fed_first_ < 0) {
          if (seek_key_pos_ >= 0 && pos > seek_key_pos_) {
            av_packet_unref(packet_);
            return false;
          }
          fed_first_ = pos;
          if (absl::Status status = RestorePalette(pos); !status.ok()) {
            av_packet_unref(packet_);
            return status;
          }
        }
        fed_last_ = std::max(fed_last_, pos);
      }
      // A non-reference frame that was not asked for is needed by no other
      // frame: let the decoder skip it. With B-frames that is often every
      // other frame decoded on the way to a target. Frames after the last
      // one asked for are decoded in full, so a next call can continue. Not
      // in a retimed stream: its order is the one decoding every frame
      // showed (XviD's placeholder frames show the frame skipping drops).
      const int64_t frame = position >= 0 ? frame_of_[position] : -1;
      codec_->skip_frame = !retimed_ && frame >= 0 &&
                                   frame < requested_.back() &&
                                   !std::binary_search(requested_.begin(),
                                                       requested_.end(), frame)
                               ? AVDISCARD_NONREF
                               : AVDISCARD_DEFAULT;
      // A packet the decoder rejects is damaged; later ones may decode.
      if (avcodec_send_packet(codec_, packet_) >= 0) ++frames_decoded_;
    }
    av_packet_unref(packet_);
  }
}

absl::Status VideoDecoder::Impl::ConvertTo(const AVFrame& frame,
                                           torch::Tensor dst) {
  sws_ = sws_getCachedContext(sws_, frame.width, frame.height,
                              static_cast<AVPixelFormat>(frame.format),
                              coded_width_, coded_height_, AV_PIX_FMT_RGB24,
                              SWS_BICUBIC, nullptr, nullptr, nullptr);
  if (sws_ == nullptr) {
    const char* format =
        av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame.format));
    return Error(
        absl::StatusCode::kInvalidArgument,
        absl::StrCat("cannot convert pixel format ",
                     format != nullptr ? format : "unknown", " to RGB"));
  }
  // The same matrix and range the ffmpeg CLI uses, so frames match it.
  int *inverse_table, *table;
  int src_range, dst_range, brightness, contrast, saturation;
  if (sws_getColorspaceDetails(sws_, &inverse_table, &src_range, &table,
                               &dst_range, &brightness, &contrast,
                               &saturation) >= 0) {
    const int* coefficients = YuvToRgbCoefficients(frame.colorspace);
    if (frame.color_range != AVCOL_RANGE_UNSPECIFIED) {
      src_range = frame.color_range == AVCOL_RANGE_JPEG;
    }
    sws_setColorspaceDetails(sws_, coefficients, src_range, coefficients,
                             dst_range, brightness, contrast, saturation);
  }
  // swscale's SIMD converters write whole blocks of 16 pixels and, where a
  // row has no room for the last block, skip those pixels: a width that is
  // not a multiple of 16 (e.g. 340) converts into a padded row, as the CLI's
  // frames are, and is copied out.
  const int padded_width = (coded_width_ + 15) / 16 * 16;
  const bool direct =
      info_.rotation_degrees == 0 && padded_width == coded_width_;
  torch::Tensor rgb =
      direct ? dst
             : torch::empty({coded_height_, padded_width, 3}, torch::kUInt8);
  uint8_t* planes[4] = {rgb.data_ptr<uint8_t>(), nullptr, nullptr, nullptr};
  const int strides[4] = {3 * padded_width, 0, 0, 0};
  if (const int error = sws_scale(sws_, frame.data, frame.linesize, 0,
                                  frame.height, planes, strides);
      error < 0) {
    return FfmpegError(error, "cannot convert a frame to RGB");
  }
  if (!direct) {
    rgb = rgb.narrow(1, 0, coded_width_);
    // rot90 turns counterclockwise.
    dst.copy_(
        info_.rotation_degrees == 0
            ? rgb
            : torch::rot90(rgb, (360 - info_.rotation_degrees) / 90, {0, 1}));
  }
  return absl::OkStatus();
}

// Targets in ascending order, so one forward sweep serves them all, with a
// seek only where the next target's keyframe has not been fed.
absl::Status VideoDecoder::Impl::DecodeSorted(
    const std::vector<int64_t>& indices, const std::vector<size_t>& order,
    torch::Tensor& out) {
  size_t next = 0;
  int attempt = 0;
  bool seek = !CanContinueTo(indices[order[0]]);
  while (next < order.size()) {
    const int64_t target = indices[order[next]];
    if (seek) {
      if (absl::Status status = SeekFor(target, attempt); !status.ok()) {
        return status;
      }
      seek = false;
    }
    int64_t index;
    absl::StatusOr<bool> more = DecodeNext(&index);
    if (!more.ok()) return more.status();
    if (*more && index < target) continue;
    if (!*more || index > target) {
      // The seek landed past the target, or the decoder dropped it.
      if (++attempt == kMaxAttempts) {
        return Error(absl::StatusCode::kInvalidArgument,
                     absl::StrCat("frame ", target,
                                  " cannot be decoded (damaged data)"));
      }
      seek = true;
      continue;
    }
    if (absl::Status status = ConvertTo(*frame_, out[order[next]]);
        !status.ok()) {
      return status;
    }
    for (++next; next < order.size() && indices[order[next]] == target;
         ++next) {
      out[order[next]].copy_(out[order[next - 1]]);
    }
    attempt = 0;
    if (next < order.size()) seek = !CanContinueTo(indices[order[next]]);
  }
  return absl::OkStatus();
}

absl::StatusOr<torch::Tensor> VideoDecoder::Impl::DecodeFrames(
    const std::vector<int64_t>& indices) {
  for (int64_t index : indices) {
    if (index < 0) {
      return Error(absl::StatusCode::kInvalidArgument,
                   absl::StrCat("frame index ", index, " is negative"));
    }
    if (index >= info_.num_frames) {
      return Error(absl::StatusCode::kOutOfRange,
                   absl::StrCat("frame ", index, " is past the end (",
                                info_.num_frames, " frames)"));
    }
  }
  const int64_t bytes =
      static_cast<int64_t>(indices.size()) * info_.height * info_.width * 3;
  if (bytes > options_.max_output_bytes) {
    return Error(absl::StatusCode::kResourceExhausted,
                 absl::StrCat(indices.size(), " frames of ", info_.width, "x",
                              info_.height, " take ", bytes >> 20,
                              " MiB, above the limit of ",
                              options_.max_output_bytes >> 20,
                              " MiB per call; ask for fewer frames"));
  }
  torch::Tensor out = torch::empty(
      {static_cast<int64_t>(indices.size()), info_.height, info_.width, 3},
      torch::kUInt8);
  if (indices.empty()) return out;
  std::vector<size_t> order(indices.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return indices[a] < indices[b]; });
  StartCall();
  requested_ = indices;
  std::sort(requested_.begin(), requested_.end());
  if (absl::Status status = DecodeSorted(indices, order, out); !status.ok()) {
    LosePosition();
    return status;
  }
  return out;
}

absl::StatusOr<int64_t> VideoDecoder::Impl::FrameAt(double t_s) const {
  if (!(t_s >= 0)) {
    return Error(absl::StatusCode::kInvalidArgument,
                 absl::StrCat("time must be >= 0 s, got ", t_s));
  }
  if (t_s >= info_.duration_s && t_s > frame_times_.back()) {
    return Error(absl::StatusCode::kOutOfRange,
                 absl::StrCat("time ", t_s, " s is past the end (it lasts ",
                              info_.duration_s, " s)"));
  }
  auto it = std::upper_bound(frame_times_.begin(), frame_times_.end(), t_s);
  return (it - frame_times_.begin()) - 1;
}

VideoDecoder::VideoDecoder(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
VideoDecoder::~VideoDecoder() = default;

absl::StatusOr<std::unique_ptr<VideoDecoder>> VideoDecoder::Open(
    const std::string& path, const DecoderOptions& options) {
  QuietFfmpegLogs();
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat("'", path, "': no such file"));
    }
    return absl::ErrnoToStatus(error,
                               absl::StrCat("'", path, "': cannot open"));
  }
  auto source = std::make_unique<Source>();
  source->fd = fd;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("'", path, "': cannot stat"));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", path, "': ",
        S_ISDIR(st.st_mode) ? "a directory, not a video"
                            : "not a regular file (a pipe or a device?)"));
  }
  source->size = st.st_size;
  auto impl = std::make_unique<Impl>(path, path, options, std::move(source));
  if (absl::Status status = impl->Init(); !status.ok()) return status;
  return std::unique_ptr<VideoDecoder>(new VideoDecoder(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<VideoDecoder>> VideoDecoder::OpenBytes(
    absl::string_view bytes, const DecoderOptions& options) {
  QuietFfmpegLogs();
  auto source = std::make_unique<Source>();
  source->bytes = bytes;
  source->size = source->bytes.size();
  auto impl = std::make_unique<Impl>("<in-memory video>", "", options,
                                     std::move(source));
  if (absl::Status status = impl->Init(); !status.ok()) return status;
  return std::unique_ptr<VideoDecoder>(new VideoDecoder(std::move(impl)));
}

const VideoInfo& VideoDecoder::info() const { return impl_->info(); }

const std::vector<double>& VideoDecoder::frame_times() const {
  return impl_->frame_times();
}

absl::StatusOr<torch::Tensor> VideoDecoder::DecodeFrames(
    const std::vector<int64_t>& indices) {
  return impl_->DecodeFrames(indices);
}

absl::StatusOr<int64_t> VideoDecoder::FrameAt(double t_s) const {
  return impl_->FrameAt(t_s);
}

int64_t VideoDecoder::frames_decoded() const { return impl_->frames_decoded(); }

}  // namespace iv::video
