#include "common/synthworld/renderer.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/files/atomic_file.h"
#include "common/video/writer.h"

namespace iv::synthworld {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kSqrt3 = 1.7320508075688772;
// Stream ids under a clip's seed: each concern draws from its own stream so
// that, e.g., rewording captions never moves an object.
constexpr uint64_t kSceneStream = 1;
constexpr uint64_t kNoiseStream = 2;
constexpr uint64_t kCaptionStream = 3;
constexpr uint64_t kRenderingStream = 4;

struct FormatInfo {
  absl::string_view name;
  video::Codec codec;
  absl::string_view extension;
  int best_quality, worst_quality;  // at compression 0 and 1
};
constexpr FormatInfo kFormats[] = {
    {"h264-mp4", video::Codec::kH264, ".mp4", 18, 36},
    {"h264-mkv", video::Codec::kH264, ".mkv", 18, 36},
    {"vp9-webm", video::Codec::kVp9, ".webm", 20, 50},
    {"mpeg4-avi", video::Codec::kMpeg4, ".avi", 2, 12},
    {"mjpeg-avi", video::Codec::kMjpeg, ".avi", 2, 12},
};
static_assert(std::size(kFormats) ==
              static_cast<size_t>(VideoFormat::kNumFormats));

const FormatInfo& Info(VideoFormat format) {
  return kFormats[static_cast<int>(format)];
}

constexpr double kMinMove = 0.35, kMaxMove = 0.55;  // sides
constexpr double kMinTurn = 90, kMaxTurn = 180;     // degrees
constexpr double kSmallScale = 0.5, kLargeScale = 1.5;
// Untrimmed timing in frames at 16 fps.
constexpr int kMinVideoFrames = 8 * kFps, kMaxVideoFrames = 16 * kFps;
constexpr int kMinInstanceFrames = 12, kMaxInstanceFrames = 40;  // 0.75-2.5 s
constexpr int kMinIdleFrames = 8;                                // 0.5 s
constexpr int kMaxDistractors = 2;
// Clear space between a distractor and the actor's path or another
// distractor, in sides, so anti-aliased edges never touch either.
constexpr double kClearance = 0.02;
constexpr int kPlacementTries = 100;
// Resampling bound for scenes whose actor cannot stay inside the canvas; a
// few tries suffice in practice (an error past this means a bug).
constexpr int kSceneTries = 1000;
constexpr int kSubsamples = 4;  // per pixel side: 16 samples per pixel

struct Point {
  double x, y;
};

// Unit shapes: bounding half-width 1, centred on the origin at rotation 0,
// y down. The triangle is equilateral with side 2 and its centroid at the
// origin, so its apex is at y = -2/sqrt(3) and its base at y = 1/sqrt(3).
constexpr Point kUnitSquare[] = {{-1, -1}, {1, -1}, {1, 1}, {-1, 1}};
constexpr Point kUnitTriangle[] = {
    {0, -2 / kSqrt3}, {1, 1 / kSqrt3}, {-1, 1 / kSqrt3}};
// The cross's outer corners (its inner corners never bound it).
constexpr Point kUnitCross[] = {{1, -1. / 3},  {1, 1. / 3},  {1. / 3, 1},
                                {-1. / 3, 1},  {-1, 1. / 3}, {-1, -1. / 3},
                                {-1. / 3, -1}, {1. / 3, -1}};

absl::Span<const Point> UnitCorners(int shape) {
  switch (shape) {
    case kSquare:
      return kUnitSquare;
    case kTriangle:
      return kUnitTriangle;
    case kCross:
      return kUnitCross;
    default:
      return {};
  }
}

bool InsideUnitShape(int shape, double u, double v) {
  switch (shape) {
    case kCircle:
      return u * u + v * v <= 1;
    case kSquare:
      return std::abs(u) <= 1 && std::abs(v) <= 1;
    case kTriangle:
      // Base below, two edges through the apex with outward normals
      // (+-sqrt(3), -1).
      return v <= 1 / kSqrt3 && kSqrt3 * std::abs(u) - v <= 2 / kSqrt3;
    case kCross:
      return (std::abs(u) <= 1 && std::abs(v) <= 1. / 3) ||
             (std::abs(u) <= 1. / 3 && std::abs(v) <= 1);
  }
  return false;
}

// How far a shape reaches from its centre along each axis.
struct Extent {
  double min_x, max_x, min_y, max_y;
};

Extent ShapeExtent(int shape, double half_width, double rotation_deg) {
  if (shape == kCircle) {
    return {-half_width, half_width, -half_width, half_width};
  }
  const double c = std::cos(rotation_deg * kPi / 180);
  const double s = std::sin(rotation_deg * kPi / 180);
  Extent e{std::numeric_limits<double>::max(),
           std::numeric_limits<double>::lowest(),
           std::numeric_limits<double>::max(),
           std::numeric_limits<double>::lowest()};
  for (const Point& p : UnitCorners(shape)) {
    // Rotating by +angle with y down turns the picture clockwise on screen.
    const double x = (c * p.x - s * p.y) * half_width;
    const double y = (s * p.x + c * p.y) * half_width;
    e = {std::min(e.min_x, x), std::max(e.max_x, x), std::min(e.min_y, y),
         std::max(e.max_y, y)};
  }
  return e;
}

double HalfWidth(const SceneObject& object, double scale) {
  return Sizes()[object.size].half_width * scale;
}

bool IsRotation(int action) {
  return action == kRotateClockwise || action == kRotateCounterclockwise;
}

void ApplyAction(const ActionInstance& instance, double progress, Pose* pose) {
  const double amount = instance.amount * progress;
  switch (instance.action_id) {
    case kMoveLeft:
      pose->x -= amount;
      break;
    case kMoveRight:
      pose->x += amount;
      break;
    case kMoveUp:
      pose->y -= amount;
      break;
    case kMoveDown:
      pose->y += amount;
      break;
    case kRotateClockwise:
      pose->rotation_deg += amount;
      break;
    case kRotateCounterclockwise:
      pose->rotation_deg -= amount;
      break;
    case kGrow:
      pose->scale = kSmallScale + (kLargeScale - kSmallScale) * progress;
      break;
    case kShrink:
      pose->scale = kLargeScale - (kLargeScale - kSmallScale) * progress;
      break;
    case kAppear:
      pose->opacity = progress;
      break;
    case kDisappear:
      pose->opacity = 1 - progress;
      break;
  }
}

double SampleAmount(int action, Rng& rng) {
  if (IsRotation(action)) return rng.Uniform(kMinTurn, kMaxTurn);
  if (action <= kMoveDown) return rng.Uniform(kMinMove, kMaxMove);
  return 0;  // grow, shrink, appear and disappear have fixed end points
}

void SampleAttributes(Rng& rng, int min_shape, SceneObject* object) {
  object->shape = rng.Int(min_shape, kNumShapes - 1);
  object->color = rng.Int(0, kNumColors - 1);
  object->size = rng.Int(0, kNumSizes - 1);
}

// The actor's scale and opacity before its first action, chosen so every
// action starts from the state it expects.
void SetInitialState(Scene* scene) {
  Pose& pose = scene->actor.pose;
  pose.scale = 1;
  for (const ActionInstance& instance : scene->instances) {
    if (instance.action_id == kGrow || instance.action_id == kShrink) {
      pose.scale = instance.action_id == kGrow ? kSmallScale : kLargeScale;
      break;
    }
  }
  pose.opacity = scene->instances.front().action_id == kAppear ? 0 : 1;
}

// Picks the actor's start position uniformly among those that keep it fully
// inside the canvas at every frame; false if there is none.
bool PlaceActor(Scene* scene, Rng& rng) {
  Pose& start = scene->actor.pose;
  start.x = start.y = 0;  // poses below are then offsets from the start
  double lo_x = 0, hi_x = 1, lo_y = 0, hi_y = 1;
  for (int frame = 0; frame < scene->num_frames; ++frame) {
    const Pose pose = ActorPose(*scene, frame);
    const Extent e =
        ShapeExtent(scene->actor.shape, HalfWidth(scene->actor, pose.scale),
                    pose.rotation_deg);
    lo_x = std::max(lo_x, -pose.x - e.min_x);
    hi_x = std::min(hi_x, 1 - pose.x - e.max_x);
    lo_y = std::max(lo_y, -pose.y - e.min_y);
    hi_y = std::min(hi_y, 1 - pose.y - e.max_y);
  }
  if (lo_x > hi_x || lo_y > hi_y) return false;
  start.x = rng.Uniform(lo_x, hi_x);
  start.y = rng.Uniform(lo_y, hi_y);
  return true;
}

struct Disc {
  double x, y, r;
};

// 0-2 still distractors, each clear of every disc the actor's bounding circle
// sweeps and of the other distractors. One that finds no room in
// kPlacementTries positions is left out.
void PlaceDistractors(Scene* scene, Rng& rng) {
  const SceneObject& actor = scene->actor;
  std::vector<Disc> taken;
  for (int frame = 0; frame < scene->num_frames; ++frame) {
    const Pose pose = ActorPose(*scene, frame);
    taken.push_back(
        {pose.x, pose.y, BoundingRadius(actor.shape, actor.size, pose.scale)});
  }
  const int count = rng.Int(0, kMaxDistractors);
  for (int i = 0; i < count; ++i) {
    SceneObject distractor;
    do {
      SampleAttributes(rng, kCircle, &distractor);
    } while (distractor.shape == actor.shape &&
             distractor.color == actor.color);
    const Extent e = ShapeExtent(distractor.shape, HalfWidth(distractor, 1), 0);
    const double r = BoundingRadius(distractor.shape, distractor.size, 1);
    for (int attempt = 0; attempt < kPlacementTries; ++attempt) {
      const double x = rng.Uniform(-e.min_x, 1 - e.max_x);
      const double y = rng.Uniform(-e.min_y, 1 - e.max_y);
      const bool clear =
          std::all_of(taken.begin(), taken.end(), [&](const Disc& d) {
            return std::hypot(d.x - x, d.y - y) >= d.r + r + kClearance;
          });
      if (clear) {
        distractor.pose.x = x;
        distractor.pose.y = y;
        scene->distractors.push_back(distractor);
        taken.push_back({x, y, r});
        break;
      }
    }
  }
}

bool FinishScene(Scene* scene, Rng& rng) {
  SetInitialState(scene);
  if (!PlaceActor(scene, rng)) return false;
  PlaceDistractors(scene, rng);
  return true;
}

// Whether instance `k` of an untrimmed video may be `action`, given whether
// the actor is visible and its scale so far (-1 after shrink, +1 after grow,
// 0 before either): see "Untrimmed videos" in the header.
bool CanContinue(int action, int k, bool visible, int scale, int shape) {
  if (!visible) return action == kAppear;
  if (action == kAppear) return k == 0;
  if (IsRotation(action)) return shape != kCircle;
  if (action == kGrow) return scale <= 0;
  if (action == kShrink) return scale >= 0;
  return true;
}

std::vector<int> SampleActionSequence(Rng& rng, int shape, int count) {
  std::vector<int> actions;
  bool visible = true;
  int scale = 0;
  for (int k = 0; k < count; ++k) {
    std::vector<int> allowed;
    for (int a = 0; a < kNumActions; ++a) {
      if (CanContinue(a, k, visible, scale, shape)) allowed.push_back(a);
    }
    const int action = allowed[rng.Int(0, allowed.size() - 1)];
    if (action == kAppear) visible = true;
    if (action == kDisappear) visible = false;
    if (action == kGrow) scale = 1;
    if (action == kShrink) scale = -1;
    actions.push_back(action);
  }
  return actions;
}

absl::string_view ColorName(const SceneObject& object) {
  return Colors()[object.color].name;
}
absl::string_view ShapeName(const SceneObject& object) {
  return Shapes()[object.shape];
}

std::string StillClause(const SceneObject& distractor) {
  return absl::StrCat(" while a ", ColorName(distractor), " ",
                      ShapeName(distractor), " stays still");
}

const ActionInfo& TrimmedAction(const Scene& scene) {
  return Actions()[scene.instances.front().action_id];
}

std::string FileName(int split, bool untrimmed, int index, VideoFormat format) {
  const absl::string_view extension = Info(format).extension;
  return untrimmed ? absl::StrFormat("untrimmed/%s_%03d%s", SplitName(split),
                                     index, extension)
                   : absl::StrFormat("clips/%s_%05d%s", SplitName(split), index,
                                     extension);
}

// What file `seed` of a world is rendered with.
Rendering FileRendering(const SynthOptions& options, uint64_t seed) {
  return options.variety ? VarietyRendering(seed, options.variety_min_side,
                                            options.variety_max_side)
                         : options.rendering;
}

std::string JoinPath(const std::string& folder, const std::string& file) {
  return (std::filesystem::path(folder) / file).string();
}

absl::Status ValidateOptions(const SynthOptions& o) {
  auto invalid = [](absl::string_view field, absl::string_view problem) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
  };
  if (o.out_dir.empty()) return invalid("out_dir", "empty");
  const Rendering& r = o.rendering;
  if (r.size < kMinSide || r.size > kMaxSide) {
    return invalid("size", absl::StrCat("must be in [", kMinSide, ", ",
                                        kMaxSide, "], got ", r.size));
  }
  if (o.variety_min_side < kMinSide || o.variety_max_side > kMaxSide ||
      o.variety_min_side + 1 > o.variety_max_side) {
    return invalid(
        "variety_sides",
        absl::StrCat("must be two sides in [", kMinSide, ", ", kMaxSide,
                     "], the first smaller, got ", o.variety_min_side, " and ",
                     o.variety_max_side));
  }
  if (r.noise != 0 && r.noise != 1) {
    return invalid("noise", absl::StrCat("must be 0 or 1, got ", r.noise));
  }
  if (r.fps < 1 || r.fps > 120) {
    return invalid("fps", absl::StrCat("must be in [1, 120], got ", r.fps));
  }
  if (r.format < VideoFormat::kH264Mp4 ||
      r.format >= VideoFormat::kNumFormats) {
    return invalid("format", "unknown");
  }
  if (!(r.compression >= 0 && r.compression <= 1)) {
    return invalid("compression",
                   absl::StrCat("must be in [0, 1], got ", r.compression));
  }
  // Bounds that keep every color's name true (the spec's colors are
  // saturated; these move a channel by at most about a quarter range).
  const Lighting& l = r.lighting;
  if (l.background < 0 || l.background > 64) {
    return invalid("background",
                   absl::StrCat("must be in [0, 64], got ", l.background));
  }
  if (!(l.contrast >= 0.75 && l.contrast <= 1.25)) {
    return invalid("contrast",
                   absl::StrCat("must be in [0.75, 1.25], got ", l.contrast));
  }
  if (l.brightness < -32 || l.brightness > 32) {
    return invalid("brightness",
                   absl::StrCat("must be in [-32, 32], got ", l.brightness));
  }
  if (l.ramp < 0 || l.ramp > 32) {
    return invalid("ramp", absl::StrCat("must be in [0, 32], got ", l.ramp));
  }
  const std::pair<const char*, int> counts[] = {
      {"train_clips", o.train_clips},
      {"val_clips", o.val_clips},
      {"test_clips", o.test_clips},
      {"train_untrimmed", o.train_untrimmed},
      {"val_untrimmed", o.val_untrimmed},
      {"test_untrimmed", o.test_untrimmed},
      {"threads", o.threads}};
  for (const auto& [field, value] : counts) {
    if (value < 0) {
      return invalid(field, absl::StrCat("must not be negative, got ", value));
    }
  }
  return absl::OkStatus();
}

int ClipCount(const SynthOptions& o, int split, bool untrimmed) {
  const int clips[] = {o.train_clips, o.val_clips, o.test_clips};
  const int videos[] = {o.train_untrimmed, o.val_untrimmed, o.test_untrimmed};
  return untrimmed ? videos[split] : clips[split];
}

video::WriterOptions FileWriterOptions(const Rendering& rendering) {
  const FormatInfo& format = Info(rendering.format);
  video::WriterOptions options;
  options.fps = rendering.fps;
  options.codec = format.codec;
  options.quality = static_cast<int>(std::lround(
      format.best_quality +
      rendering.compression * (format.worst_quality - format.best_quality)));
  // A keyframe every 2 s lets readers seek in untrimmed videos cheaply.
  options.gop = 2 * rendering.fps;
  return options;
}

// Frame i of the file shows the scene at i / fps seconds, up to its last
// frame's time: 32 frames at 16 fps, 49 at 25.
absl::Status EncodeScene(const Scene& scene, const Rendering& rendering,
                         const std::string& path) {
  const SceneRenderer renderer(scene, rendering.size, rendering.lighting);
  absl::StatusOr<std::unique_ptr<video::VideoWriter>> writer =
      video::VideoWriter::Open(path, renderer.frame_side(),
                               renderer.frame_side(),
                               FileWriterOptions(rendering));
  if (!writer.ok()) return writer.status();
  const double step = static_cast<double>(kFps) / rendering.fps;
  const int frames =
      static_cast<int>(std::floor((scene.num_frames - 1) / step + 1e-9)) + 1;
  std::vector<uint8_t> frame(renderer.frame_bytes());
  for (int f = 0; f < frames; ++f) {
    renderer.Render(f * step, frame.data());
    if (absl::Status s = (*writer)->WriteFrame(frame.data()); !s.ok()) {
      return s;
    }
  }
  return (*writer)->Close();
}

struct Job {
  int split;
  bool untrimmed;
  int index;
};

// What the jobs produce, in slots preallocated so threads never share one.
struct WorldEntries {
  std::vector<data::TrimmedClip> clips[kNumSplits];
  std::vector<data::UntrimmedVideo> videos[kNumSplits];
};

absl::Status RenderJob(const SynthOptions& options, const Job& job,
                       WorldEntries* entries) {
  const uint64_t seed =
      ClipSeed(options.seed, job.split, job.untrimmed, job.index);
  const Rendering rendering = FileRendering(options, seed);
  absl::StatusOr<Scene> scene =
      job.untrimmed ? SampleUntrimmedScene(seed, rendering.noise)
                    : SampleTrimmedScene(seed, rendering.noise);
  if (!scene.ok()) return scene.status();
  std::string file =
      FileName(job.split, job.untrimmed, job.index, rendering.format);
  absl::Status s =
      EncodeScene(*scene, rendering, JoinPath(options.out_dir, file));
  if (!s.ok()) return s;
  if (job.untrimmed) {
    entries->videos[job.split][job.index] =
        UntrimmedEntry(*scene, std::move(file));
  } else {
    entries->clips[job.split][job.index] =
        TrimmedEntry(*scene, std::move(file));
  }
  return absl::OkStatus();
}

// Runs every job on `threads` threads, reporting progress on this one.
absl::Status RunJobs(
    const SynthOptions& options, const std::vector<Job>& jobs,
    const std::function<void(const SynthProgress&)>& on_progress,
    WorldEntries* entries) {
  const int total = static_cast<int>(jobs.size());
  const int threads = std::min(
      total,
      options.threads > 0
          ? options.threads
          : std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  absl::Mutex mu;
  absl::CondVar changed;
  int done = 0, running = threads;
  absl::Status first_error;
  auto work = [&] {
    while (!failed) {
      const int i = next++;
      if (i >= total) break;
      absl::Status s = RenderJob(options, jobs[i], entries);
      absl::MutexLock lock(&mu);
      if (!s.ok() && first_error.ok()) {
        first_error = s;
        failed = true;
      }
      ++done;
      changed.Signal();
    }
    absl::MutexLock lock(&mu);
    --running;
    changed.Signal();
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  {
    absl::MutexLock lock(&mu);
    for (int reported = 0;;) {
      while (done == reported && running > 0) changed.Wait(&mu);
      if (done == reported) break;
      reported = done;
      if (on_progress) {
        mu.Unlock();
        on_progress({reported, total});
        mu.Lock();
      }
    }
  }
  for (std::thread& thread : pool) thread.join();
  return first_error;
}

// Everything that determines the output; not the thread count or the folder,
// so the same world renders to identical bytes anywhere.
absl::Status WriteWorldJson(const SynthOptions& o) {
  const Rendering& r = o.rendering;
  const video::WriterOptions codec = FileWriterOptions(r);
  nlohmann::ordered_json rendering = {{"size", r.size},
                                      {"frame_size", FrameSide(r.size)},
                                      {"fps", r.fps},
                                      {"format", FormatName(r.format)},
                                      {"compression", r.compression},
                                      {"codec_quality", codec.quality},
                                      {"keyframe_interval", codec.gop},
                                      {"noise", r.noise},
                                      {"background", r.lighting.background},
                                      {"contrast", r.lighting.contrast},
                                      {"brightness", r.lighting.brightness},
                                      {"ramp", r.lighting.ramp}};
  if (o.variety) {
    rendering =
        "variety: each file's own, drawn from its seed (VarietyRendering): "
        "even sides in variety_sides, 16 or 25 fps, h264-mp4, h264-mkv, "
        "vp9-webm, "
        "mpeg4-avi or mjpeg-avi at compression 0..0.6, noise 0 or 1, "
        "background 20..48, contrast 0.85..1.15, brightness -12..12, "
        "ramp 0..10";
  }
  nlohmann::ordered_json world = {
      {"spec", "SynthWorld v1"},
      {"generator", "iv synth (common/synthworld/renderer.cc)"},
      {"seed", o.seed},
      {"timeline_fps", kFps},
      {"clip_frames", kClipFrames},
      {"rendering", rendering},
      {"variety_sides", {o.variety_min_side, o.variety_max_side}},
      {"train_clips", o.train_clips},
      {"val_clips", o.val_clips},
      {"test_clips", o.test_clips},
      {"train_untrimmed", o.train_untrimmed},
      {"val_untrimmed", o.val_untrimmed},
      {"test_untrimmed", o.test_untrimmed},
      {"split_seeds",
       "each clip's seed is ClipSeed(seed, split, untrimmed, index), a "
       "SplitMix64 hash chain, so splits never share a seed"},
  };
  return files::WriteFileAtomically(JoinPath(o.out_dir, "world.json"),
                                    world.dump(2) + "\n");
}

}  // namespace

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t DeriveSeed(uint64_t seed, uint64_t stream) {
  return SplitMix64(SplitMix64(seed) ^ stream);
}

absl::string_view FormatName(VideoFormat format) {
  if (format < VideoFormat::kH264Mp4 || format >= VideoFormat::kNumFormats) {
    return "unknown";
  }
  return Info(format).name;
}

VideoFormat FormatNamed(absl::string_view name) {
  for (int f = 0; f < static_cast<int>(VideoFormat::kNumFormats); ++f) {
    if (kFormats[f].name == name) return static_cast<VideoFormat>(f);
  }
  return VideoFormat::kNumFormats;
}

Rendering VarietyRendering(uint64_t seed, int min_side, int max_side) {
  Rng rng(DeriveSeed(seed, kRenderingStream));
  Rendering r;
  r.size = 2 * rng.Int((min_side + 1) / 2, max_side / 2);
  r.fps = rng.Int(0, 1) == 0 ? kFps : 25;
  r.format = static_cast<VideoFormat>(
      rng.Int(0, static_cast<int>(VideoFormat::kNumFormats) - 1));
  r.compression = rng.Uniform(0, 0.6);
  r.noise = rng.Int(0, 1);
  r.lighting.background = rng.Int(20, 48);
  r.lighting.contrast = rng.Uniform(0.85, 1.15);
  r.lighting.brightness = rng.Int(-12, 12);
  r.lighting.ramp = rng.Int(0, 10);
  return r;
}

Rng::Rng(uint64_t seed) {
  // The state is SplitMix64's output sequence from `seed`, as xoshiro's
  // authors recommend; it is never all zero.
  for (uint64_t& word : state_) {
    word = SplitMix64(seed);
    seed += 0x9e3779b97f4a7c15ULL;
  }
}

uint64_t Rng::Next() {
  auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

double Rng::Uniform() { return (Next() >> 11) * 0x1.0p-53; }

double Rng::Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }

int Rng::Int(int lo, int hi) {
  // Lemire's multiply-shift: maps 64 random bits onto the range with a bias
  // below 2^-32 for the small ranges used here.
  const uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int>(
                  (static_cast<unsigned __int128>(Next()) * range) >> 64);
}

absl::string_view SplitName(int split) {
  constexpr absl::string_view kNames[] = {"train", "val", "test"};
  return kNames[split];
}

uint64_t ClipSeed(uint64_t world_seed, int split, bool untrimmed, int index) {
  return DeriveSeed(DeriveSeed(DeriveSeed(world_seed, split), untrimmed),
                    index);
}

Pose ActorPose(const Scene& scene, double frame) {
  Pose pose = scene.actor.pose;
  for (const ActionInstance& instance : scene.instances) {
    if (frame <= instance.start_frame) break;
    const double progress =
        frame >= instance.end_frame
            ? 1.0
            : static_cast<double>(frame - instance.start_frame) /
                  (instance.end_frame - instance.start_frame);
    ApplyAction(instance, progress, &pose);
  }
  return pose;
}

double BoundingRadius(int shape, int size, double scale) {
  // Circle 1, square sqrt(2), triangle 2/sqrt(3), cross sqrt(10)/3.
  constexpr double kUnitRadius[] = {1, 1.4142135623730951, 2 / kSqrt3,
                                    1.0540925533894598};
  return kUnitRadius[shape] * Sizes()[size].half_width * scale;
}

absl::StatusOr<Scene> SampleTrimmedScene(uint64_t seed, int noise) {
  Rng rng(DeriveSeed(seed, kSceneStream));
  for (int attempt = 0; attempt < kSceneTries; ++attempt) {
    Scene scene;
    scene.seed = seed;
    scene.noise = noise;
    scene.num_frames = kClipFrames;
    const int action = rng.Int(0, kNumActions - 1);
    const bool rotates = IsRotation(action);
    SampleAttributes(rng, rotates ? kSquare : kCircle, &scene.actor);
    scene.actor.pose.rotation_deg = rotates ? rng.Uniform(0, 360) : 0;
    scene.instances = {{action, 0, kClipFrames - 1, SampleAmount(action, rng)}};
    if (FinishScene(&scene, rng)) return scene;
  }
  return absl::InternalError(
      absl::StrCat("no trimmed scene fits the canvas for seed ", seed));
}

absl::StatusOr<Scene> SampleUntrimmedScene(uint64_t seed, int noise) {
  Rng rng(DeriveSeed(seed, kSceneStream));
  for (int attempt = 0; attempt < kSceneTries; ++attempt) {
    Scene scene;
    scene.seed = seed;
    scene.noise = noise;
    SampleAttributes(rng, kCircle, &scene.actor);
    const int count = rng.Int(2, 4);
    std::vector<int> lengths(count);
    int busy = kMinIdleFrames * (count + 1);
    for (int& length : lengths) {
      length = rng.Int(kMinInstanceFrames, kMaxInstanceFrames);
      busy += length;
    }
    // Frames 0..num_frames-1; the idle time beyond the minimum gaps is split
    // at `count` uniform cut points among the count+1 gaps.
    scene.num_frames =
        rng.Int(std::max(kMinVideoFrames, busy + 1), kMaxVideoFrames);
    const int slack = scene.num_frames - 1 - busy;
    std::vector<int> cuts(count);
    for (int& cut : cuts) cut = rng.Int(0, slack);
    std::sort(cuts.begin(), cuts.end());
    const std::vector<int> actions =
        SampleActionSequence(rng, scene.actor.shape, count);
    int frame = kMinIdleFrames + cuts[0];
    for (int k = 0; k < count; ++k) {
      const int end = frame + lengths[k];
      scene.instances.push_back(
          {actions[k], frame, end, SampleAmount(actions[k], rng)});
      frame =
          end + kMinIdleFrames + (k + 1 < count ? cuts[k + 1] - cuts[k] : 0);
    }
    if (FinishScene(&scene, rng)) return scene;
  }
  return absl::InternalError(
      absl::StrCat("no untrimmed scene fits the canvas for seed ", seed));
}

Scene ReverseTwin(const Scene& scene) {
  Scene twin = scene;
  twin.actor.pose = ActorPose(scene, scene.num_frames - 1);
  ActionInstance& instance = twin.instances.front();
  instance.action_id = Actions()[instance.action_id].twin_id;
  return twin;
}

int FrameSide(int side) { return side + side % 2; }

SceneRenderer::SceneRenderer(Scene scene, int side, const Lighting& lighting)
    : scene_(std::move(scene)),
      side_(side),
      frame_side_(FrameSide(side)),
      lighting_(lighting),
      background_(
          static_cast<size_t>(frame_side_) * frame_side_ * 3,
          static_cast<uint8_t>(std::clamp(lighting.background, 0, 255))) {
  if (scene_.noise > 0) {
    Rng rng(DeriveSeed(scene_.seed, kNoiseStream));
    for (uint8_t& value : background_) {
      value = static_cast<uint8_t>(std::clamp(
          lighting.background + rng.Int(-kNoiseAmplitude, kNoiseAmplitude), 0,
          255));
    }
  }
  BuildLightTables();
}

void SceneRenderer::BuildLightTables() {
  const Lighting& l = lighting_;
  if (l.contrast == 1 && l.brightness == 0 && l.ramp == 0) return;
  // One lookup table per column, built once: the ramp varies along x only.
  light_tables_.resize(static_cast<size_t>(frame_side_) * 256);
  for (int x = 0; x < frame_side_; ++x) {
    const double shift =
        l.brightness +
        (frame_side_ > 1 ? l.ramp * (2.0 * x / (frame_side_ - 1) - 1) : 0);
    for (int v = 0; v < 256; ++v) {
      light_tables_[static_cast<size_t>(x) * 256 + v] =
          static_cast<uint8_t>(std::clamp<long>(
              std::lround((v - 128) * l.contrast + 128 + shift), 0, 255));
    }
  }
}

void SceneRenderer::Render(double frame, uint8_t* rgb) const {
  std::memcpy(rgb, background_.data(), background_.size());
  for (const SceneObject& distractor : scene_.distractors) {
    Draw(distractor, distractor.pose, rgb);
  }
  Draw(scene_.actor, ActorPose(scene_, frame), rgb);
  Light(rgb);
}

void SceneRenderer::Light(uint8_t* rgb) const {
  if (light_tables_.empty()) return;
  for (int y = 0; y < frame_side_; ++y) {
    for (int x = 0; x < frame_side_; ++x) {
      const uint8_t* table = &light_tables_[static_cast<size_t>(x) * 256];
      uint8_t* p = rgb + (static_cast<size_t>(y) * frame_side_ + x) * 3;
      p[0] = table[p[0]];
      p[1] = table[p[1]];
      p[2] = table[p[2]];
    }
  }
}

void SceneRenderer::Draw(const SceneObject& object, const Pose& pose,
                         uint8_t* rgb) const {
  const double h = HalfWidth(object, pose.scale) * side_;  // pixels
  if (h <= 0 || pose.opacity <= 0) return;
  const double cx = pose.x * side_, cy = pose.y * side_;
  const Extent e = ShapeExtent(object.shape, h, pose.rotation_deg);
  const int x0 = std::max(0, static_cast<int>(std::floor(cx + e.min_x)));
  const int x1 =
      std::min(frame_side_ - 1, static_cast<int>(std::floor(cx + e.max_x)));
  const int y0 = std::max(0, static_cast<int>(std::floor(cy + e.min_y)));
  const int y1 =
      std::min(frame_side_ - 1, static_cast<int>(std::floor(cy + e.max_y)));
  // Screen offsets map to the unit shape by the inverse rotation, then 1/h.
  const double c = std::cos(pose.rotation_deg * kPi / 180) / h;
  const double s = std::sin(pose.rotation_deg * kPi / 180) / h;
  const Color& color = Colors()[object.color];
  const double paint[3] = {static_cast<double>(color.r),
                           static_cast<double>(color.g),
                           static_cast<double>(color.b)};
  constexpr double kStep = 1.0 / kSubsamples;
  for (int py = y0; py <= y1; ++py) {
    for (int px = x0; px <= x1; ++px) {
      int covered = 0;
      for (int sy = 0; sy < kSubsamples; ++sy) {
        const double dy = py + (sy + 0.5) * kStep - cy;
        for (int sx = 0; sx < kSubsamples; ++sx) {
          const double dx = px + (sx + 0.5) * kStep - cx;
          covered +=
              InsideUnitShape(object.shape, c * dx + s * dy, -s * dx + c * dy);
        }
      }
      if (covered == 0) continue;
      const double alpha = pose.opacity * covered / (kSubsamples * kSubsamples);
      uint8_t* pixel = rgb + 3 * (static_cast<size_t>(py) * frame_side_ + px);
      for (int k = 0; k < 3; ++k) {
        pixel[k] = static_cast<uint8_t>(pixel[k] +
                                        (paint[k] - pixel[k]) * alpha + 0.5);
      }
    }
  }
}

data::ObjectDesc Describe(const SceneObject& object) {
  return {std::string(ShapeName(object)), std::string(ColorName(object)),
          std::string(Sizes()[object.size].name)};
}

std::string CanonicalCaption(const Scene& scene) {
  const SceneObject& actor = scene.actor;
  return absl::StrCat(
      "a ", Sizes()[actor.size].name, " ", ColorName(actor), " ",
      ShapeName(actor), " ", TrimmedAction(scene).phrase,
      scene.distractors.empty() ? "" : StillClause(scene.distractors[0]));
}

std::vector<std::string> Captions(const Scene& scene) {
  std::vector<std::string> captions = {CanonicalCaption(scene)};
  const ActionInfo& action = TrimmedAction(scene);
  std::vector<absl::string_view> phrases = {action.phrase};
  phrases.insert(phrases.end(), action.paraphrases.begin(),
                 action.paraphrases.end());
  Rng rng(DeriveSeed(scene.seed, kCaptionStream));
  const SceneObject& actor = scene.actor;
  const int num_distractors = static_cast<int>(scene.distractors.size());
  for (absl::string_view phrase : phrases) {
    const bool the = rng.Int(0, 1) == 1;
    const bool with_size = rng.Int(0, 1) == 1;
    // -1: no clause; otherwise the distractor it names.
    const int named = num_distractors > 0 && rng.Int(0, 1) == 1
                          ? rng.Int(0, num_distractors - 1)
                          : -1;
    std::string caption = absl::StrCat(
        the ? "the " : "a ",
        with_size ? absl::StrCat(Sizes()[actor.size].name, " ") : "",
        ColorName(actor), " ", ShapeName(actor), " ", phrase,
        named >= 0 ? StillClause(scene.distractors[named]) : "");
    if (std::find(captions.begin(), captions.end(), caption) ==
        captions.end()) {
      captions.push_back(std::move(caption));
    }
  }
  return captions;
}

std::vector<data::QuestionAnswer> Questions(const Scene& scene) {
  const ActionInfo& action = TrimmedAction(scene);
  const absl::string_view color = ColorName(scene.actor);
  const absl::string_view shape = ShapeName(scene.actor);
  std::vector<data::QuestionAnswer> questions;
  for (const QuestionTemplate& t : QuestionTemplates()) {
    const absl::string_view answer =
        t.type == kColorQuestion   ? color
        : t.type == kShapeQuestion ? shape
        : t.type == kActionQuestion
            ? action.answer
            : CountAnswer(1 + static_cast<int>(scene.distractors.size()));
    questions.push_back({FillTemplate(t.type, color, shape, action.phrase),
                         std::string(answer)});
  }
  return questions;
}

data::TrimmedClip TrimmedEntry(const Scene& scene, std::string file) {
  data::TrimmedClip clip;
  clip.file = std::move(file);
  clip.actor = Describe(scene.actor);
  clip.action = std::string(TrimmedAction(scene).name);
  clip.action_id = TrimmedAction(scene).id;
  for (const SceneObject& d : scene.distractors) {
    clip.distractors.push_back(Describe(d));
  }
  clip.num_objects = 1 + static_cast<int>(scene.distractors.size());
  clip.captions = Captions(scene);
  clip.questions = Questions(scene);
  return clip;
}

data::UntrimmedVideo UntrimmedEntry(const Scene& scene, std::string file) {
  data::UntrimmedVideo video;
  video.file = std::move(file);
  video.duration_s = static_cast<double>(scene.num_frames) / kFps;
  for (const ActionInstance& instance : scene.instances) {
    const ActionInfo& action = Actions()[instance.action_id];
    video.segments.push_back({static_cast<double>(instance.start_frame) / kFps,
                              static_cast<double>(instance.end_frame) / kFps,
                              std::string(action.name), action.id});
  }
  video.actor = Describe(scene.actor);
  for (const SceneObject& d : scene.distractors) {
    video.distractors.push_back(Describe(d));
  }
  return video;
}

absl::Status RenderWorld(
    const SynthOptions& options,
    const std::function<void(const SynthProgress&)>& on_progress) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  WorldEntries entries;
  std::vector<Job> jobs;
  // Untrimmed videos first: they are the longest jobs, and starting them
  // early keeps every thread busy until the end.
  for (const bool untrimmed : {true, false}) {
    for (int split = 0; split < kNumSplits; ++split) {
      const int count = ClipCount(options, split, untrimmed);
      if (untrimmed) {
        entries.videos[split].resize(count);
      } else {
        entries.clips[split].resize(count);
      }
      for (int i = 0; i < count; ++i) jobs.push_back({split, untrimmed, i});
    }
  }
  // The output folder itself always: manifests go there even without clips.
  std::vector<std::string> folders = {options.out_dir};
  for (const bool untrimmed : {false, true}) {
    if (std::any_of(jobs.begin(), jobs.end(), [untrimmed](const Job& j) {
          return j.untrimmed == untrimmed;
        })) {
      folders.push_back(
          JoinPath(options.out_dir, untrimmed ? "untrimmed" : "clips"));
    }
  }
  for (const std::string& folder : folders) {
    std::error_code error;
    std::filesystem::create_directories(folder, error);
    if (error) {
      return absl::ErrnoToStatus(error.value(),
                                 absl::StrCat("cannot create ", folder));
    }
  }
  if (absl::Status s = RunJobs(options, jobs, on_progress, &entries); !s.ok()) {
    return s;
  }
  for (int split = 0; split < kNumSplits; ++split) {
    const std::string name(SplitName(split));
    absl::Status s = data::WriteTrimmedManifest(
        JoinPath(options.out_dir, name + ".jsonl"), entries.clips[split]);
    if (s.ok() && !entries.videos[split].empty()) {
      s = data::WriteUntrimmedManifest(
          JoinPath(options.out_dir, name + "_untrimmed.jsonl"),
          entries.videos[split]);
    }
    if (!s.ok()) return s;
  }
  return WriteWorldJson(options);
}

absl::Status WritePreview(const SynthOptions& options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  struct Row {
    std::string file;
    Rendering rendering;  // its lighting shows; the cells share one size
    Scene scene;
  };
  std::vector<std::optional<Row>> by_action(kNumActions);
  int missing = kNumActions;
  for (int split = 0; split < kNumSplits; ++split) {
    for (int i = 0; i < ClipCount(options, split, false) && missing > 0; ++i) {
      const uint64_t seed = ClipSeed(options.seed, split, false, i);
      const Rendering rendering = FileRendering(options, seed);
      absl::StatusOr<Scene> scene = SampleTrimmedScene(seed, rendering.noise);
      if (!scene.ok()) return scene.status();
      std::optional<Row>& row = by_action[scene->instances[0].action_id];
      if (row) continue;
      row = Row{FileName(split, false, i, rendering.format), rendering,
                *std::move(scene)};
      --missing;
    }
  }
  std::vector<Row> rows;
  for (std::optional<Row>& row : by_action) {
    if (row) rows.push_back(*std::move(row));
  }
  if (rows.empty()) {
    return absl::FailedPreconditionError(
        "preview: the world has no trimmed clips");
  }
  constexpr int kGrid = 2;
  constexpr uint8_t kGridLevel = 160;
  const int cell = FrameSide(options.rendering.size);
  const int width = kPreviewColumns * (cell + kGrid) + kGrid;
  const int height = static_cast<int>(rows.size()) * (cell + kGrid) + kGrid;
  std::vector<uint8_t> sheet(static_cast<size_t>(width) * height * 3,
                             kGridLevel);
  std::string text = "preview.png: one clip per row; columns are frames";
  int frames[kPreviewColumns];
  for (int c = 0; c < kPreviewColumns; ++c) {
    frames[c] = static_cast<int>(
        std::lround(c * (kClipFrames - 1.0) / (kPreviewColumns - 1)));
    absl::StrAppend(&text, " ", frames[c]);
  }
  absl::StrAppend(&text, " of 0..", kClipFrames - 1,
                  " (time runs left to right)\n");
  std::vector<uint8_t> frame(static_cast<size_t>(cell) * cell * 3);
  for (size_t r = 0; r < rows.size(); ++r) {
    const SceneRenderer renderer(rows[r].scene, options.rendering.size,
                                 rows[r].rendering.lighting);
    for (int c = 0; c < kPreviewColumns; ++c) {
      renderer.Render(frames[c], frame.data());
      const int left = kGrid + c * (cell + kGrid);
      const int top = kGrid + static_cast<int>(r) * (cell + kGrid);
      for (int y = 0; y < cell; ++y) {
        std::memcpy(&sheet[(static_cast<size_t>(top + y) * width + left) * 3],
                    &frame[static_cast<size_t>(y) * cell * 3], cell * 3);
      }
    }
    absl::StrAppend(&text, "row ", r + 1, " (", rows[r].file,
                    "): ", CanonicalCaption(rows[r].scene), "\n");
  }
  absl::Status s = video::WritePng(JoinPath(options.out_dir, "preview.png"),
                                   sheet.data(), width, height);
  if (!s.ok()) return s;
  return files::WriteFileAtomically(JoinPath(options.out_dir, "preview.txt"),
                                    text);
}

}  // namespace iv::synthworld
