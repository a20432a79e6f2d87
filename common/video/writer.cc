#include "common/video/writer.h"

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

namespace iv::video {
namespace internal {

void AvFree::operator()(AVFormatContext* format) const {
  if (format->pb != nullptr && !(format->oformat->flags & AVFMT_NOFILE)) {
    avio_closep(&format->pb);
  }
  avformat_free_context(format);
}
void AvFree::operator()(AVCodecContext* codec) const {
  avcodec_free_context(&codec);
}
void AvFree::operator()(AVFrame* frame) const { av_frame_free(&frame); }
void AvFree::operator()(AVPacket* packet) const { av_packet_free(&packet); }
void AvFree::operator()(SwsContext* sws) const { sws_freeContext(sws); }

}  // namespace internal
namespace {

constexpr int kMaxSide = 16384;
constexpr absl::string_view kPresets[] = {
    "ultrafast", "superfast", "veryfast", "faster",   "fast",
    "medium",    "slow",      "slower",   "veryslow", "placebo"};

struct CodecInfo {
  Codec codec;
  const char* encoder;  // FFmpeg's encoder name
  const char* name;     // for messages
  int min_quality, max_quality;
};
constexpr CodecInfo kCodecs[] = {
    {Codec::kH264, "libx264", "H.264", 0, 51},
    {Codec::kVp9, "libvpx-vp9", "VP9", 0, 63},
    {Codec::kMpeg4, "mpeg4", "MPEG-4", 1, 31},
    {Codec::kMjpeg, "mjpeg", "MJPEG", 1, 31},
};

const CodecInfo& Info(Codec codec) {
  for (const CodecInfo& info : kCodecs) {
    if (info.codec == codec) return info;
  }
  return kCodecs[0];
}

// The containers a path's extension names and the codecs each is written
// with here (what players expect in them, not all a muxer accepts).
struct ContainerInfo {
  absl::string_view extension;
  const char* muxer;
  std::initializer_list<Codec> codecs;
};
const ContainerInfo kContainers[] = {
    {".mp4", "mp4", {Codec::kH264, Codec::kMpeg4}},
    {".mov", "mov", {Codec::kH264, Codec::kMpeg4}},
    {".mkv",
     "matroska",
     {Codec::kH264, Codec::kVp9, Codec::kMpeg4, Codec::kMjpeg}},
    {".webm", "webm", {Codec::kVp9}},
    {".avi", "avi", {Codec::kMpeg4, Codec::kMjpeg, Codec::kH264}},
};

// The muxer for `path` and `codec`, or INVALID_ARGUMENT naming the field.
absl::StatusOr<const char*> Muxer(const std::string& path, Codec codec) {
  const std::string extension = std::filesystem::path(path).extension();
  for (const ContainerInfo& container : kContainers) {
    if (container.extension != extension) continue;
    for (Codec allowed : container.codecs) {
      if (allowed == codec) return container.muxer;
    }
    return absl::InvalidArgumentError(absl::StrCat("codec: ", Info(codec).name,
                                                   " is not written into ",
                                                   extension, " files"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("path: unknown video container '", extension, "' (", path,
                   "); use .mp4, .mov, .mkv, .webm or .avi"));
}

absl::Status AvError(int error, absl::string_view what) {
  char text[AV_ERROR_MAX_STRING_SIZE];
  av_strerror(error, text, sizeof(text));
  // FFmpeg reports system errors as negated errno values and its own as
  // large negative tags.
  const absl::StatusCode code = error < 0 && error > -4096
                                    ? absl::ErrnoToStatusCode(-error)
                                    : absl::StatusCode::kInternal;
  return absl::Status(code, absl::StrCat(what, ": ", text));
}

// libx264 logs its settings and statistics for every file at INFO level, and
// a dataset has thousands of files: keep FFmpeg to errors, as the decoder
// does (errors reach callers as statuses anyway).
void QuietFfmpegLogs() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (av_log_get_level() > AV_LOG_ERROR) av_log_set_level(AV_LOG_ERROR);
  });
}

absl::Status CheckSize(int width, int height) {
  if (width <= 0 || height <= 0 || width > kMaxSide || height > kMaxSide) {
    return absl::InvalidArgumentError(
        absl::StrCat("size: must be 1..", kMaxSide, " on each side, got ",
                     width, "x", height));
  }
  return absl::OkStatus();
}

}  // namespace

VideoWriter::VideoWriter(const std::string& path, int width, int height)
    : file_(path), width_(width), height_(height) {}

VideoWriter::~VideoWriter() { Close().IgnoreError(); }

absl::StatusOr<std::unique_ptr<VideoWriter>> VideoWriter::Open(
    const std::string& path, int width, int height,
    const WriterOptions& options) {
  if (absl::Status s = CheckSize(width, height); !s.ok()) return s;
  if (width % 2 != 0 || height % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "size: yuv420p needs even width and height, got ", width, "x", height));
  }
  if (options.fps <= 0 || options.fps > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("fps: must be in [1, 1000], got ", options.fps));
  }
  const CodecInfo& codec = Info(options.codec);
  if (options.quality < codec.min_quality ||
      options.quality > codec.max_quality) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quality: must be in [", codec.min_quality, ", ", codec.max_quality,
        "] for ", codec.name, ", got ", options.quality));
  }
  absl::StatusOr<const char*> muxer = Muxer(path, options.codec);
  if (!muxer.ok()) return muxer.status();
  if (std::find(std::begin(kPresets), std::end(kPresets), options.preset) ==
      std::end(kPresets)) {
    return absl::InvalidArgumentError(
        absl::StrCat("preset: unknown x264 preset '", options.preset, "'"));
  }
  if (options.threads < 0 || options.gop < 0) {
    return absl::InvalidArgumentError(
        "threads, gop: must not be negative (0 = the codec's default)");
  }
  QuietFfmpegLogs();
  std::unique_ptr<VideoWriter> writer(new VideoWriter(path, width, height));
  if (absl::Status s = writer->Init(options, *muxer); !s.ok()) {
    writer->error_ = s;
    writer->Close().IgnoreError();
    return s;
  }
  return writer;
}

absl::Status VideoWriter::Init(const WriterOptions& options,
                               const char* muxer) {
  const CodecInfo& info = Info(options.codec);
  const AVCodec* codec = avcodec_find_encoder_by_name(info.encoder);
  if (codec == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat("this FFmpeg has no ", info.encoder, " encoder"));
  }
  AVFormatContext* format = nullptr;
  // The muxer is named because the temporary name has no extension.
  int err = avformat_alloc_output_context2(&format, nullptr, muxer,
                                           file_.temp_path().c_str());
  if (err < 0) return AvError(err, absl::StrCat(muxer, " muxer"));
  format_.reset(format);
  // Leaves FFmpeg's version out of the file: same frames, same bytes.
  format_->flags |= AVFMT_FLAG_BITEXACT;

  codec_.reset(avcodec_alloc_context3(codec));
  stream_ = avformat_new_stream(format_.get(), nullptr);
  frame_.reset(av_frame_alloc());
  packet_.reset(av_packet_alloc());
  if (!codec_ || stream_ == nullptr || !frame_ || !packet_) {
    return absl::ResourceExhaustedError("out of memory opening the encoder");
  }
  // MJPEG is full-range YUV (JFIF); the others limited-range.
  const bool jpeg = options.codec == Codec::kMjpeg;
  pixel_format_ = jpeg ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_YUV420P;
  codec_->width = width_;
  codec_->height = height_;
  codec_->pix_fmt = static_cast<AVPixelFormat>(pixel_format_);
  codec_->time_base = AVRational{1, options.fps};
  codec_->framerate = AVRational{options.fps, 1};
  codec_->thread_count = options.threads;
  if (options.gop > 0) codec_->gop_size = options.gop;
  // swscale converts with BT.601 coefficients; say so in the stream so
  // every decoder converts back with the same matrix.
  codec_->color_range = jpeg ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
  codec_->colorspace = AVCOL_SPC_SMPTE170M;
  codec_->color_primaries = AVCOL_PRI_SMPTE170M;
  codec_->color_trc = AVCOL_TRC_SMPTE170M;
  if (format_->oformat->flags & AVFMT_GLOBALHEADER) {
    codec_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  }
  AVDictionary* codec_options = nullptr;
  switch (options.codec) {
    case Codec::kH264:
      av_dict_set(&codec_options, "preset", options.preset.c_str(), 0);
      av_dict_set_int(&codec_options, "crf", options.quality, 0);
      break;
    case Codec::kVp9:
      // Constant quality needs a zero target bitrate; "good" at cpu-used 5
      // keeps encoding within a few times x264 veryfast.
      codec_->bit_rate = 0;
      av_dict_set_int(&codec_options, "crf", options.quality, 0);
      av_dict_set(&codec_options, "deadline", "good", 0);
      av_dict_set_int(&codec_options, "cpu-used", 5, 0);
      break;
    case Codec::kMpeg4:
    case Codec::kMjpeg:
      // A fixed quantizer; each frame carries it too (WriteFrame). Bit-exact
      // mode leaves FFmpeg's version out of the bitstream.
      codec_->flags |= AV_CODEC_FLAG_QSCALE | AV_CODEC_FLAG_BITEXACT;
      codec_->global_quality = FF_QP2LAMBDA * options.quality;
      break;
  }
  err = avcodec_open2(codec_.get(), codec, &codec_options);
  av_dict_free(&codec_options);
  if (err < 0) return AvError(err, absl::StrCat("opening ", info.encoder));
  err = avcodec_parameters_from_context(stream_->codecpar, codec_.get());
  if (err < 0) return AvError(err, "stream parameters");
  stream_->time_base = codec_->time_base;
  stream_->avg_frame_rate = codec_->framerate;

  err = avio_open(&format_->pb, file_.temp_path().c_str(), AVIO_FLAG_WRITE);
  if (err < 0) {
    return AvError(err, absl::StrCat("cannot create ", file_.temp_path()));
  }
  err = avformat_write_header(format_.get(), nullptr);
  if (err < 0)
    return AvError(err, absl::StrCat("writing the ", muxer, " header"));

  frame_->format = pixel_format_;
  frame_->width = width_;
  frame_->height = height_;
  err = av_frame_get_buffer(frame_.get(), 0);
  if (err < 0) return AvError(err, "frame buffer");
  sws_.reset(sws_getContext(width_, height_, AV_PIX_FMT_RGB24, width_, height_,
                            static_cast<AVPixelFormat>(pixel_format_),
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_BITEXACT,
                            nullptr, nullptr, nullptr));
  if (!sws_) return absl::InternalError("swscale: no RGB24 to YUV420P path");
  return absl::OkStatus();
}

absl::Status VideoWriter::WriteFrame(const uint8_t* rgb24) {
  if (closed_) {
    return absl::FailedPreconditionError(
        absl::StrCat("writer for ", file_.path(), " is closed"));
  }
  if (!error_.ok()) return error_;
  // The encoder may still hold a reference to the previous frame's buffers.
  int err = av_frame_make_writable(frame_.get());
  if (err < 0) return error_ = AvError(err, "frame buffer");
  const uint8_t* const source[1] = {rgb24};
  const int stride[1] = {3 * width_};
  sws_scale(sws_.get(), source, stride, 0, height_, frame_->data,
            frame_->linesize);
  frame_->pts = frames_written_;
  frame_->quality = codec_->global_quality;
  if (absl::Status s = Encode(frame_.get()); !s.ok()) return error_ = s;
  ++frames_written_;
  return absl::OkStatus();
}

absl::Status VideoWriter::Encode(AVFrame* frame) {
  int err = avcodec_send_frame(codec_.get(), frame);
  if (err < 0) return AvError(err, "encoding");
  while (true) {
    err = avcodec_receive_packet(codec_.get(), packet_.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return absl::OkStatus();
    if (err < 0) return AvError(err, "encoding");
    av_packet_rescale_ts(packet_.get(), codec_->time_base, stream_->time_base);
    packet_->stream_index = stream_->index;
    // Takes the packet's data and leaves packet_ empty for the next one.
    err = av_interleaved_write_frame(format_.get(), packet_.get());
    if (err < 0) {
      return AvError(err, absl::StrCat("writing ", file_.temp_path()));
    }
  }
}

absl::Status VideoWriter::Finish() {
  if (!error_.ok()) return error_;
  if (frames_written_ == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no frames were written to ", file_.path(), "; nothing saved"));
  }
  if (absl::Status s = Encode(nullptr); !s.ok()) return s;
  int err = av_write_trailer(format_.get());
  if (err < 0) {
    return AvError(err, absl::StrCat("finishing ", file_.temp_path()));
  }
  err = avio_closep(&format_->pb);
  if (err < 0) return AvError(err, absl::StrCat("closing ", file_.temp_path()));
  return absl::OkStatus();
}

absl::Status VideoWriter::Close() {
  if (closed_) return error_;
  closed_ = true;
  error_ = Finish();
  sws_.reset();
  packet_.reset();
  frame_.reset();
  codec_.reset();
  format_.reset();
  if (error_.ok()) {
    error_ = file_.Commit();
  } else {
    file_.Discard();
  }
  return error_;
}

absl::Status WritePng(const std::string& path, const uint8_t* rgb24, int width,
                      int height) {
  if (absl::Status s = CheckSize(width, height); !s.ok()) return s;
  QuietFfmpegLogs();
  const AVCodec* png = avcodec_find_encoder(AV_CODEC_ID_PNG);
  if (png == nullptr) {
    return absl::UnimplementedError("this FFmpeg has no PNG encoder");
  }
  std::unique_ptr<AVCodecContext, internal::AvFree> codec(
      avcodec_alloc_context3(png));
  std::unique_ptr<AVFrame, internal::AvFree> frame(av_frame_alloc());
  std::unique_ptr<AVPacket, internal::AvFree> packet(av_packet_alloc());
  if (!codec || !frame || !packet) {
    return absl::ResourceExhaustedError("out of memory encoding a PNG");
  }
  codec->width = width;
  codec->height = height;
  codec->pix_fmt = AV_PIX_FMT_RGB24;
  codec->time_base = AVRational{1, 1};
  int err = avcodec_open2(codec.get(), png, nullptr);
  if (err < 0) return AvError(err, "opening the PNG encoder");
  frame->format = AV_PIX_FMT_RGB24;
  frame->width = width;
  frame->height = height;
  err = av_frame_get_buffer(frame.get(), 0);
  if (err < 0) return AvError(err, "frame buffer");
  av_image_copy_plane(frame->data[0], frame->linesize[0], rgb24, 3 * width,
                      3 * width, height);
  err = avcodec_send_frame(codec.get(), frame.get());
  if (err >= 0) err = avcodec_send_frame(codec.get(), nullptr);
  if (err >= 0) err = avcodec_receive_packet(codec.get(), packet.get());
  if (err < 0) return AvError(err, "encoding a PNG");
  return files::WriteFileAtomically(
      path, absl::string_view(reinterpret_cast<const char*>(packet->data),
                              packet->size));
}

}  // namespace iv::video
