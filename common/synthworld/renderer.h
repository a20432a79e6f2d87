// SynthWorld v1 (shared/spec/SYNTHWORLD.md): samples scenes, renders their
// frames, encodes trimmed clips and untrimmed videos as H.264 mp4 and writes
// their manifests, deterministically per seed.
//
// Layers, lowest first (tests and previews use the lower ones directly):
//   Rng, DeriveSeed, ClipSeed   random numbers of our own, so a seed renders
//                               the same world with any standard library
//   Scene, Sample*Scene         what happens in one clip, in canvas units
//   SceneRenderer               a scene's frames as RGB at a given size
//   Captions, Questions, *Entry a scene's manifest line
//   RenderWorld, WritePreview   a whole dataset on disk
//
// Choices the spec leaves open, made here:
// - Geometry is in fractions of the canvas side S, so one seed gives the same
//   scene at every size. Pixel (i, j) covers [i, i+1) x [j, j+1) of a canvas
//   [0, S)^2. Shapes are anti-aliased with 4x4 supersampling.
// - Odd sides (the spec allows any S in 64..448; H.264 yuv420p needs even
//   sizes) are padded: frames are S+1 pixels wide and high, the geometry
//   stays on [0, S) and the extra right column and bottom row are background.
// - Squares and crosses rotate about their centre, triangles about their
//   centroid; rotation is clockwise on screen for positive angles (y down).
// - Trimmed clips: rotations start at a uniform random angle and other actions
//   at rotation 0, so that one frame cannot tell a rotation from its twin.
// - Untrimmed videos: the actor starts at rotation 0; every instance starts
//   from the state the previous one left (position, angle, scale, opacity),
//   so the sequence is chosen to be continuous: grow and shrink alternate
//   (the video starts at 0.5x or 1.5x to suit the first one), an invisible
//   actor's next action is appear, and appear can otherwise only come first.
//   Videos start and end with >= 0.5 s of stillness too. Times are multiples
//   of 1/16 s: an instance from frame a to frame b is annotated
//   [a/16, b/16] and frame a shows its start state, frame b its end state.
// - Splits: each (split, kind, index) gets its own 64-bit seed hashed from
//   the world seed, so test clips come from seeds the training split never
//   uses (a collision would need two equal 64-bit hashes).
#ifndef COMMON_SYNTHWORLD_RENDERER_H_
#define COMMON_SYNTHWORLD_RENDERER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/data/manifest.h"
#include "common/synthworld/vocabulary.h"

namespace iv::synthworld {

// xoshiro256** seeded through SplitMix64 (Blackman & Vigna). Its helpers are
// our own because std:: distributions differ between standard libraries.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t Next();
  double Uniform();                      // [0, 1)
  double Uniform(double lo, double hi);  // [lo, hi)
  int Int(int lo, int hi);               // [lo, hi], both included
 private:
  uint64_t state_[4];
};

uint64_t SplitMix64(uint64_t x);
// An independent seed for `stream` under `seed`.
uint64_t DeriveSeed(uint64_t seed, uint64_t stream);

enum Split : int { kTrain = 0, kVal, kTest, kNumSplits };
absl::string_view SplitName(int split);  // "train", "val", "test"
// The seed of trimmed clip or untrimmed video `index` of `split`.
uint64_t ClipSeed(uint64_t world_seed, int split, bool untrimmed, int index);

// Where and how an object is at one frame. Canvas units: x, y in [0, 1] of
// the side; rotation in degrees, clockwise on screen.
struct Pose {
  double x = 0.5, y = 0.5;
  double rotation_deg = 0;
  double scale = 1;  // times the size's half-width
  double opacity = 1;
};

struct SceneObject {
  int shape = kCircle, color = 0, size = 0;  // vocabulary ids
  Pose pose;  // the actor's pose at frame 0; distractors never move
};

struct ActionInstance {
  int action_id = 0;
  int start_frame = 0, end_frame = 0;  // progress 0 at start, 1 at end
  double amount = 0;  // moves: distance in sides; rotations: degrees
};

struct Scene {
  uint64_t seed = 0;  // background noise and caption wording derive from it
  int noise = 0;      // 0: flat background; 1: static noise
  int num_frames = kClipFrames;
  SceneObject actor;
  std::vector<ActionInstance> instances;  // in time order, never overlapping
  std::vector<SceneObject> distractors;
};

// The actor's pose at `frame` (of the spec's 16 fps timeline; fractions
// fall between frames, for files at other rates): each instance's effect at
// its progress.
Pose ActorPose(const Scene& scene, double frame);
// An object's circumradius at `scale`, in sides: it never reaches outside
// this circle at any rotation.
double BoundingRadius(int shape, int size, double scale);

// A trimmed clip: 32 frames, one action over all of them, the action drawn
// uniformly from the 10 (so classes are balanced), then a shape that can
// perform it (circles do not rotate), color and size uniformly.
absl::StatusOr<Scene> SampleTrimmedScene(uint64_t seed, int noise);
// An untrimmed video as described at the top of this file.
absl::StatusOr<Scene> SampleUntrimmedScene(uint64_t seed, int noise);
// The same trimmed scene played backwards: starts where `scene` ends and does
// the twin action, so its frame i equals `scene`'s frame num_frames-1-i.
Scene ReverseTwin(const Scene& scene);

// The side of the frames for canvas side `side`: odd sides are padded by one.
int FrameSide(int side);

// The light a scene is filmed in, mild enough that every color keeps its
// name: the background's grey level, then over the whole frame a contrast
// about mid-grey (128), a brightness offset and a left-to-right ramp from
// -ramp to +ramp levels. The defaults are the spec's (no change).
struct Lighting {
  int background = kBackgroundLevel;
  double contrast = 1;
  int brightness = 0;
  int ramp = 0;
};

class SceneRenderer {
 public:
  SceneRenderer(Scene scene, int side, const Lighting& lighting = {});
  int frame_side() const { return frame_side_; }
  size_t frame_bytes() const { return background_.size(); }
  // Writes frame `frame` (of the 16 fps timeline, fractions allowed) as
  // frame_side^2 RGB24 pixels, row-major, to `rgb`.
  void Render(double frame, uint8_t* rgb) const;

 private:
  void Draw(const SceneObject& object, const Pose& pose, uint8_t* rgb) const;
  void BuildLightTables();
  void Light(uint8_t* rgb) const;

  const Scene scene_;
  const int side_, frame_side_;
  const Lighting lighting_;
  std::vector<uint8_t> background_;
  // 256 levels per column; empty for the spec's lighting (no change).
  std::vector<uint8_t> light_tables_;
};

data::ObjectDesc Describe(const SceneObject& object);
// For trimmed scenes. The canonical caption, "a <size> <color> <shape>
// <phrase>", names the first distractor ("while a <color> <shape> stays
// still") when there is one, as the spec's example does.
std::string CanonicalCaption(const Scene& scene);
// The canonical caption, then one caption per phrase of the action (canonical
// phrase and each paraphrase), each with a random article, size word present
// or not and, with distractors, a "while ..." clause naming a random one or
// none; duplicates dropped.
std::vector<std::string> Captions(const Scene& scene);
// One question per template, in template order, with the canonical phrase.
std::vector<data::QuestionAnswer> Questions(const Scene& scene);
data::TrimmedClip TrimmedEntry(const Scene& scene, std::string file);
data::UntrimmedVideo UntrimmedEntry(const Scene& scene, std::string file);

// How files are encoded: a codec in a container, written as the file's
// extension.
enum class VideoFormat : int {
  kH264Mp4 = 0,  // the spec's
  kH264Mkv,
  kVp9Webm,
  kMpeg4Avi,
  kMjpegAvi,
  kNumFormats
};
// "h264-mp4", "h264-mkv", "vp9-webm", "mpeg4-avi", "mjpeg-avi".
absl::string_view FormatName(VideoFormat format);
// The format named `name`, or kNumFormats.
VideoFormat FormatNamed(absl::string_view name);

// How one scene becomes one file: what real videos vary in and SynthWorld's
// events do not, so the same seed shows the same event under any rendering.
// The defaults are the spec's.
struct Rendering {
  int size = 128;  // canvas side, kMinSide..kMaxSide
  int fps = kFps;  // the file's rate; scenes keep their timing in seconds
  VideoFormat format = VideoFormat::kH264Mp4;
  // 0 (the spec's: x264 crf 18) .. 1 (heavy: crf 36, VP9 crf 50, MPEG-4 and
  // MJPEG quantizer 12), the codec's quality setting in between.
  double compression = 0;
  int noise = 0;  // 0: flat background; 1: static noise
  Lighting lighting;
};

// What `iv synth --variety` renders each file with, drawn from the file's
// seed: even sides in [min_side, max_side], 16 or 25 fps, one of the five
// formats, compression 0..0.6, noise 0 or 1, background level 20..48, contrast
// 0.85..1.15, brightness -12..+12 and a ramp of up to 10 levels.
Rendering VarietyRendering(uint64_t seed, int min_side = 96,
                           int max_side = 224);

struct SynthOptions {
  std::string out_dir;
  uint64_t seed = 0;
  // Every file's rendering; with `variety`, each file's own
  // VarietyRendering instead, its sides in [variety_min_side,
  // variety_max_side].
  Rendering rendering;
  bool variety = false;
  int variety_min_side = 96, variety_max_side = 224;
  int train_clips = 800, val_clips = 100, test_clips = 100;
  int train_untrimmed = 0, val_untrimmed = 0, test_untrimmed = 20;
  int threads = 0;  // 0 = one per core
};

struct SynthProgress {
  int done, total;  // clips and untrimmed videos
};

// Writes <out>/clips/<split>_<nnnnn>.mp4, <out>/untrimmed/<split>_<nnn>.mp4,
// <out>/<split>.jsonl for every split, <out>/<split>_untrimmed.jsonl for
// splits with untrimmed videos and <out>/world.json (the options and
// conventions used). Files are rendered on `threads` threads; `on_progress`
// (may be empty) is called on the calling thread as they finish.
absl::Status RenderWorld(
    const SynthOptions& options,
    const std::function<void(const SynthProgress&)>& on_progress);

// Writes <out>/preview.png, a contact sheet with one row per action (the
// first clip of the world showing it, in train, val, test order) and
// `kPreviewColumns` frames spread over the clip's 2 s as columns, and
// <out>/preview.txt naming each row's file and canonical caption. Renders the
// frames from the scenes, not from the mp4s.
inline constexpr int kPreviewColumns = 8;
absl::Status WritePreview(const SynthOptions& options);

}  // namespace iv::synthworld

#endif  // COMMON_SYNTHWORLD_RENDERER_H_
