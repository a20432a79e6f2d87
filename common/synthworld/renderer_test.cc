#include "common/synthworld/renderer.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/data/manifest.h"
#include "common/process/command.h"
#include "common/testing/ffmpeg_cli.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iv::synthworld {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr double kPi = 3.14159265358979323846;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<uint8_t> RenderFrame(const SceneRenderer& renderer, int frame) {
  std::vector<uint8_t> rgb(renderer.frame_bytes());
  renderer.Render(frame, rgb.data());
  return rgb;
}

// Where an object of `color` is in a noiseless frame: each pixel's coverage
// is read back from how far it moved from the background toward the color.
struct Mass {
  double area = 0, x = 0, y = 0;  // pixels; centroid in pixel units
  double min_x = 1e9, max_x = -1, min_y = 1e9, max_y = -1;  // covered pixels
};

Mass MassOf(const std::vector<uint8_t>& rgb, int side, int color_id) {
  const Color& color = Colors()[color_id];
  const int paint[3] = {color.r, color.g, color.b};
  int k = 0;  // the channel farthest from the background reads best
  for (int c = 1; c < 3; ++c) {
    if (std::abs(paint[c] - kBackgroundLevel) >
        std::abs(paint[k] - kBackgroundLevel)) {
      k = c;
    }
  }
  Mass m;
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      const double a =
          static_cast<double>(rgb[(y * side + x) * 3 + k] - kBackgroundLevel) /
          (paint[k] - kBackgroundLevel);
      if (a <= 0) continue;
      m.area += a;
      m.x += a * (x + 0.5);
      m.y += a * (y + 0.5);
      m.min_x = std::min<double>(m.min_x, x);
      m.max_x = std::max<double>(m.max_x, x);
      m.min_y = std::min<double>(m.min_y, y);
      m.max_y = std::max<double>(m.max_y, y);
    }
  }
  if (m.area > 0) {
    m.x /= m.area;
    m.y /= m.area;
  }
  return m;
}

// A trimmed scene with one large white actor doing `action` from `start`.
Scene OneAction(int shape, int action, double amount, Pose start) {
  Scene scene;
  scene.seed = 7;
  scene.actor.shape = shape;
  scene.actor.color = ColorId("white");
  scene.actor.size = SizeId("large");
  scene.actor.pose = start;
  scene.instances = {{action, 0, kClipFrames - 1, amount}};
  return scene;
}

double UnitArea(int shape) {
  constexpr double kAreas[] = {kPi, 4, 1.7320508075688772, 20.0 / 9};
  return kAreas[shape];
}

// Orientation of a shape with k-fold symmetry, in degrees modulo 360/k, from
// the k-th angular moment of its pixels. Angles grow from +x toward +y, i.e.
// clockwise on screen.
double Orientation(const std::vector<uint8_t>& rgb, int side, int color_id,
                   int k) {
  const Mass m = MassOf(rgb, side, color_id);
  const int channel = 0;  // white: all channels read the same
  std::complex<double> moment = 0;
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      const double a = (rgb[(y * side + x) * 3 + channel] - kBackgroundLevel) /
                       (235.0 - kBackgroundLevel);
      if (a <= 0) continue;
      moment +=
          a * std::pow(std::complex<double>(x + 0.5 - m.x, y + 0.5 - m.y), k);
    }
  }
  return std::arg(moment) * 180 / kPi / k;
}

TEST(RngTest, MatchesTheReferenceAlgorithms) {
  // Reference values from an independent Python implementation of
  // SplitMix64 and xoshiro256** (seeded with SplitMix64's outputs).
  EXPECT_EQ(SplitMix64(0), 0xe220a8397b1dcdafULL);
  Rng rng(42);
  EXPECT_EQ(rng.Next(), 0x15780b2e0c2ec716ULL);
  EXPECT_EQ(rng.Next(), 0x6104d9866d113a7eULL);
  EXPECT_EQ(rng.Next(), 0xae17533239e499a1ULL);
  Rng ints(7);
  std::vector<int> drawn;
  for (int i = 0; i < 5; ++i) drawn.push_back(ints.Int(0, 9));
  EXPECT_EQ(drawn, (std::vector<int>{7, 2, 8, 9, 9}));
}

TEST(RngTest, HelpersStayInRange) {
  Rng rng(1);
  std::set<int> seen;
  for (int i = 0; i < 10000; ++i) {
    const int v = rng.Int(-12, 12);
    ASSERT_GE(v, -12);
    ASSERT_LE(v, 12);
    seen.insert(v);
    const double u = rng.Uniform(2, 3);
    ASSERT_GE(u, 2);
    ASSERT_LT(u, 3);
  }
  EXPECT_EQ(seen.size(), 25);
}

TEST(GeometryTest, MovesTranslateAtConstantSpeedInScreenDirections) {
  constexpr int kSide = 128;
  constexpr double kAmount = 0.4;
  const struct {
    int action;
    double dx, dy;  // direction on screen, y down
  } moves[] = {{kMoveLeft, -1, 0},
               {kMoveRight, 1, 0},
               {kMoveUp, 0, -1},
               {kMoveDown, 0, 1}};
  for (const auto& move : moves) {
    SCOPED_TRACE(Actions()[move.action].name);
    Pose start;
    start.x = 0.5 - move.dx * kAmount / 2;
    start.y = 0.5 - move.dy * kAmount / 2;
    const SceneRenderer renderer(
        OneAction(kSquare, move.action, kAmount, start), kSide);
    // 4x4 supersampling places edges to a quarter pixel, so a centroid is
    // within 1/8 pixel of the truth and a step within 1/4.
    const double step = kAmount * kSide / (kClipFrames - 1);
    const Mass first =
        MassOf(RenderFrame(renderer, 0), kSide, ColorId("white"));
    EXPECT_NEAR(first.x, start.x * kSide, 0.125);
    EXPECT_NEAR(first.y, start.y * kSide, 0.125);
    Mass previous = first;
    for (int f = 1; f < kClipFrames; ++f) {
      const Mass m = MassOf(RenderFrame(renderer, f), kSide, ColorId("white"));
      EXPECT_NEAR(m.x - previous.x, move.dx * step, 0.25) << "frame " << f;
      EXPECT_NEAR(m.y - previous.y, move.dy * step, 0.25) << "frame " << f;
      previous = m;
    }
    EXPECT_NEAR(previous.x - first.x, move.dx * kAmount * kSide, 0.25);
    EXPECT_NEAR(previous.y - first.y, move.dy * kAmount * kSide, 0.25);
  }
}

TEST(GeometryTest, GrowAndShrinkScaleFromHalfToOneAndAHalf) {
  constexpr int kSide = 256;
  for (const int action : {kGrow, kShrink}) {
    SCOPED_TRACE(Actions()[action].name);
    Pose start;
    start.scale = action == kGrow ? 0.5 : 1.5;
    const SceneRenderer renderer(OneAction(kCircle, action, 0, start), kSide);
    std::vector<double> areas;
    for (int f = 0; f < kClipFrames; ++f) {
      areas.push_back(
          MassOf(RenderFrame(renderer, f), kSide, ColorId("white")).area);
    }
    const double small_radius = 0.5 * 0.14 * kSide;
    const double small = action == kGrow ? areas.front() : areas.back();
    const double large = action == kGrow ? areas.back() : areas.front();
    EXPECT_NEAR(small, kPi * small_radius * small_radius, 0.02 * small);
    EXPECT_NEAR(large / small, 9, 0.1);
    for (int f = 1; f < kClipFrames; ++f) {
      if (action == kGrow) {
        EXPECT_GT(areas[f], areas[f - 1]);
      } else {
        EXPECT_LT(areas[f], areas[f - 1]);
      }
    }
  }
}

TEST(GeometryTest, AppearAndDisappearBlendOpacityLinearly) {
  constexpr int kSide = 128;
  for (const int action : {kAppear, kDisappear}) {
    SCOPED_TRACE(Actions()[action].name);
    Pose start;
    start.opacity = action == kAppear ? 0 : 1;
    const SceneRenderer renderer(OneAction(kSquare, action, 0, start), kSide);
    const double full = 4 * std::pow(0.14 * kSide, 2);
    for (int f = 0; f < kClipFrames; ++f) {
      const double progress = static_cast<double>(f) / (kClipFrames - 1);
      const double opacity = action == kAppear ? progress : 1 - progress;
      // Rounding each pixel to a level costs up to 0.5/203 of coverage.
      EXPECT_NEAR(
          MassOf(RenderFrame(renderer, f), kSide, ColorId("white")).area,
          opacity * full, 0.01 * full)
          << "frame " << f;
    }
  }
}

TEST(GeometryTest, RotationsTurnTheWayTheirNamesSayOnScreen) {
  constexpr int kSide = 256;
  constexpr double kTurn = 120;
  for (const int shape : {kSquare, kTriangle, kCross}) {
    const int symmetry = shape == kTriangle ? 3 : 4;
    for (const int action : {kRotateClockwise, kRotateCounterclockwise}) {
      SCOPED_TRACE(absl::StrCat(Shapes()[shape], " ", Actions()[action].name));
      Pose start;
      start.rotation_deg = 10;
      const SceneRenderer renderer(OneAction(shape, action, kTurn, start),
                                   kSide);
      const double sign = action == kRotateClockwise ? 1 : -1;
      const double period = 360.0 / symmetry;
      double previous = Orientation(RenderFrame(renderer, 0), kSide,
                                    ColorId("white"), symmetry);
      double turned = 0;
      for (int f = 1; f < kClipFrames; ++f) {
        const double now = Orientation(RenderFrame(renderer, f), kSide,
                                       ColorId("white"), symmetry);
        const double step = std::remainder(now - previous, period);
        EXPECT_NEAR(step, sign * kTurn / (kClipFrames - 1), 0.5)
            << "frame " << f;
        turned += step;
        previous = now;
      }
      EXPECT_NEAR(turned, sign * kTurn, 2);
    }
  }
}

TEST(GeometryTest, TriangleApexStartsUpAndClockwiseTurnsItRight) {
  // What a person checks on screen: a quarter turn clockwise takes the apex
  // from 12 o'clock to 3 o'clock. The bounding box leans toward the apex.
  constexpr int kSide = 256;
  const SceneRenderer renderer(
      OneAction(kTriangle, kRotateClockwise, 90, Pose{}), kSide);
  const Mass first = MassOf(RenderFrame(renderer, 0), kSide, ColorId("white"));
  const Mass last =
      MassOf(RenderFrame(renderer, kClipFrames - 1), kSide, ColorId("white"));
  const double h = 0.14 * kSide;
  EXPECT_NEAR((first.min_y + first.max_y + 1) / 2 - first.y, -h / 2 / 1.7320508,
              1);
  EXPECT_NEAR((first.min_x + first.max_x + 1) / 2 - first.x, 0, 1);
  EXPECT_NEAR((last.min_x + last.max_x + 1) / 2 - last.x, h / 2 / 1.7320508, 1);
  EXPECT_NEAR((last.min_y + last.max_y + 1) / 2 - last.y, 0, 1);
}

TEST(SceneTest, ReverseTwinsAreTheClipPlayedBackwards) {
  constexpr int kSide = 64;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    auto scene = SampleTrimmedScene(seed, /*noise=*/1);
    ASSERT_TRUE(scene.ok()) << scene.status();
    const Scene twin = ReverseTwin(*scene);
    const int action = scene->instances[0].action_id;
    EXPECT_EQ(twin.instances[0].action_id, Actions()[action].twin_id);
    const SceneRenderer forward(*scene, kSide), backward(twin, kSide);
    for (int f = 0; f < kClipFrames; ++f) {
      const std::vector<uint8_t> a = RenderFrame(forward, f);
      const std::vector<uint8_t> b = RenderFrame(backward, kClipFrames - 1 - f);
      int worst = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        worst = std::max(worst, std::abs(int{a[i]} - int{b[i]}));
      }
      // Floating-point rounding may move a subsample across an edge.
      ASSERT_LE(worst, 1) << "seed " << seed << " frame " << f << " "
                          << Actions()[action].name;
    }
  }
}

TEST(SceneTest, TrimmedScenesFollowTheSpec) {
  std::map<int, int> actions, distractor_counts;
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    auto scene = SampleTrimmedScene(seed, 0);
    ASSERT_TRUE(scene.ok()) << scene.status();
    ASSERT_EQ(scene->num_frames, kClipFrames);
    ASSERT_EQ(scene->instances.size(), 1);
    const ActionInstance& instance = scene->instances[0];
    EXPECT_EQ(instance.start_frame, 0);
    EXPECT_EQ(instance.end_frame, kClipFrames - 1);
    ++actions[instance.action_id];
    ++distractor_counts[scene->distractors.size()];
    const Pose& start = scene->actor.pose;
    switch (instance.action_id) {
      case kMoveLeft:
      case kMoveRight:
      case kMoveUp:
      case kMoveDown:
        EXPECT_GE(instance.amount, 0.35);
        EXPECT_LE(instance.amount, 0.55);
        break;
      case kRotateClockwise:
      case kRotateCounterclockwise:
        EXPECT_NE(scene->actor.shape, kCircle);
        EXPECT_GE(instance.amount, 90);
        EXPECT_LE(instance.amount, 180);
        break;
      case kGrow:
        EXPECT_EQ(start.scale, 0.5);
        break;
      case kShrink:
        EXPECT_EQ(start.scale, 1.5);
        break;
      case kAppear:
        EXPECT_EQ(start.opacity, 0);
        break;
    }
    for (const SceneObject& d : scene->distractors) {
      EXPECT_FALSE(d.shape == scene->actor.shape &&
                   d.color == scene->actor.color);
    }
  }
  for (int a = 0; a < kNumActions; ++a) EXPECT_GE(actions[a], 70) << a;
  for (int n = 0; n <= 2; ++n) EXPECT_GE(distractor_counts[n], 200) << n;
}

// Renders `scene` with only the actor and with only the distractors and
// checks, at every frame, that the actor is whole (its pixel area is the
// shape's area: nothing cut off by the canvas edge) and that no pixel shows
// both.
void ExpectInsideAndClear(const Scene& scene, int side) {
  Scene actor_only = scene;
  actor_only.distractors.clear();
  Scene distractors_only = scene;
  distractors_only.instances.clear();
  distractors_only.actor.pose.opacity = 0;
  const SceneRenderer actor(actor_only, side),
      distractors(distractors_only, side);
  const std::vector<uint8_t> still = RenderFrame(distractors, 0);
  for (int f = 0; f < scene.num_frames; ++f) {
    const std::vector<uint8_t> a = RenderFrame(actor, f);
    const Pose pose = ActorPose(scene, f);
    if (pose.opacity >= 0.5) {
      const double h = Sizes()[scene.actor.size].half_width * pose.scale * side;
      const double expected = UnitArea(scene.actor.shape) * h * h;
      ASSERT_NEAR(MassOf(a, side, scene.actor.color).area / pose.opacity,
                  expected, 0.04 * expected)
          << "frame " << f;
    }
    for (size_t p = 0; p < a.size(); p += 3) {
      const bool actor_here = a[p] != kBackgroundLevel ||
                              a[p + 1] != kBackgroundLevel ||
                              a[p + 2] != kBackgroundLevel;
      const bool distractor_here = still[p] != kBackgroundLevel ||
                                   still[p + 1] != kBackgroundLevel ||
                                   still[p + 2] != kBackgroundLevel;
      ASSERT_FALSE(actor_here && distractor_here)
          << "frame " << f << " pixel " << p / 3;
    }
  }
}

TEST(SceneTest, ActorStaysInsideAndDistractorsOffItsPath) {
  for (uint64_t seed = 0; seed < 100; ++seed) {
    SCOPED_TRACE(absl::StrCat("trimmed seed ", seed));
    auto scene = SampleTrimmedScene(seed, 0);
    ASSERT_TRUE(scene.ok());
    ExpectInsideAndClear(*scene, 192);
  }
  for (uint64_t seed = 0; seed < 12; ++seed) {
    SCOPED_TRACE(absl::StrCat("untrimmed seed ", seed));
    auto scene = SampleUntrimmedScene(seed, 0);
    ASSERT_TRUE(scene.ok());
    ExpectInsideAndClear(*scene, 192);
  }
}

TEST(SceneTest, UntrimmedVideosFollowTheSpec) {
  std::set<int> instance_counts;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    auto scene = SampleUntrimmedScene(seed, 0);
    ASSERT_TRUE(scene.ok()) << scene.status();
    const data::UntrimmedVideo video = UntrimmedEntry(*scene, "v.mp4");
    EXPECT_GE(video.duration_s, 8);
    EXPECT_LE(video.duration_s, 16);
    EXPECT_EQ(video.duration_s, scene->num_frames / 16.0);
    ASSERT_GE(video.segments.size(), 2);
    ASSERT_LE(video.segments.size(), 4);
    instance_counts.insert(video.segments.size());
    // Idle >= 0.5 s before, between and after the instances.
    double idle_from = 0;
    for (const data::ActionSegment& segment : video.segments) {
      EXPECT_GE(segment.end_s - segment.start_s, 0.75);
      EXPECT_LE(segment.end_s - segment.start_s, 2.5);
      EXPECT_GE(segment.start_s - idle_from, 0.5);
      EXPECT_EQ(segment.action_id, ActionId(segment.action));
      idle_from = segment.end_s;
    }
    EXPECT_GE((scene->num_frames - 1) / 16.0 - idle_from, 0.5);

    // The actor moves only inside instances and never jumps: each frame
    // changes its pose by at most one frame's worth of the fastest action.
    auto active = [&](int f) {  // whether frame f-1 -> f is inside one
      for (const ActionInstance& i : scene->instances) {
        if (f > i.start_frame && f <= i.end_frame) return true;
      }
      return false;
    };
    for (int f = 1; f < scene->num_frames; ++f) {
      const Pose a = ActorPose(*scene, f - 1), b = ActorPose(*scene, f);
      const double step = 1.0 / 12;  // shortest instance: 12 frames
      if (!active(f)) {
        EXPECT_TRUE(a.x == b.x && a.y == b.y &&
                    a.rotation_deg == b.rotation_deg && a.scale == b.scale &&
                    a.opacity == b.opacity)
            << "frame " << f << " moves while idle";
        continue;
      }
      EXPECT_LE(std::abs(b.x - a.x), 0.55 * step + 1e-9) << "frame " << f;
      EXPECT_LE(std::abs(b.y - a.y), 0.55 * step + 1e-9) << "frame " << f;
      EXPECT_LE(std::abs(b.rotation_deg - a.rotation_deg), 180 * step + 1e-9)
          << "frame " << f;
      EXPECT_LE(std::abs(b.scale - a.scale), step + 1e-9) << "frame " << f;
      EXPECT_LE(std::abs(b.opacity - a.opacity), step + 1e-9) << "frame " << f;
    }
    // Each action starts from the state it expects and is visible.
    for (const ActionInstance& i : scene->instances) {
      const Pose p = ActorPose(*scene, i.start_frame);
      EXPECT_EQ(p.opacity, i.action_id == kAppear ? 0 : 1);
      if (i.action_id == kGrow) {
        EXPECT_NEAR(p.scale, 0.5, 1e-9);
      }
      if (i.action_id == kShrink) {
        EXPECT_NEAR(p.scale, 1.5, 1e-9);
      }
      if (i.action_id == kRotateClockwise ||
          i.action_id == kRotateCounterclockwise) {
        EXPECT_NE(scene->actor.shape, kCircle);
      }
    }
  }
  EXPECT_EQ(instance_counts, (std::set<int>{2, 3, 4}));
}

TEST(SceneTest, IdleFramesOfUntrimmedVideosAreIdenticalPixels) {
  for (uint64_t seed = 0; seed < 5; ++seed) {
    auto scene = SampleUntrimmedScene(seed, 1);
    ASSERT_TRUE(scene.ok());
    const SceneRenderer renderer(*scene, 64);
    std::vector<uint8_t> previous = RenderFrame(renderer, 0);
    size_t next = 0;  // the next instance
    for (int f = 1; f < scene->num_frames; ++f) {
      std::vector<uint8_t> frame = RenderFrame(renderer, f);
      while (next < scene->instances.size() &&
             f > scene->instances[next].end_frame) {
        ++next;
      }
      const bool idle = next == scene->instances.size() ||
                        f <= scene->instances[next].start_frame;
      if (idle) {
        EXPECT_EQ(frame, previous) << "seed " << seed << " frame " << f;
      }
      previous = std::move(frame);
    }
  }
}

TEST(SceneTest, OddSidesArePaddedWithBackground) {
  auto scene = SampleTrimmedScene(3, 0);
  ASSERT_TRUE(scene.ok());
  const SceneRenderer renderer(*scene, 65);
  ASSERT_EQ(renderer.frame_side(), 66);
  const std::vector<uint8_t> rgb = RenderFrame(renderer, 0);
  for (int i = 0; i < 66; ++i) {
    for (const int pixel : {i * 66 + 65, 65 * 66 + i}) {
      EXPECT_EQ(rgb[pixel * 3], kBackgroundLevel);
    }
  }
  EXPECT_EQ(FrameSide(64), 64);
}

// Splits a caption into its parts; false if it does not follow the grammar
// `(a|the) [size] <color> <shape> <phrase> [while a <color> <shape> stays
// still]`.
struct ParsedCaption {
  int size = -1, color = -1, shape = -1, action = -1;
  int still_color = -1, still_shape = -1;
};
bool ParseCaption(const std::string& caption, ParsedCaption* out) {
  for (const char c : caption) {
    if (!(c == ' ' || (c >= 'a' && c <= 'z'))) return false;
  }
  std::string main = caption;
  const size_t clause = caption.find(" while a ");
  if (clause != std::string::npos) {
    main = caption.substr(0, clause);
    std::vector<std::string> words =
        absl::StrSplit(caption.substr(clause + 9), ' ');
    if (words.size() != 4 || words[2] != "stays" || words[3] != "still") {
      return false;
    }
    out->still_color = ColorId(words[0]);
    out->still_shape = ShapeId(words[1]);
  }
  std::vector<std::string> words = absl::StrSplit(main, ' ');
  if (words.size() < 4 || (words[0] != "a" && words[0] != "the")) return false;
  size_t w = 1;
  out->size = SizeId(words[w]);
  if (out->size >= 0) ++w;
  if (w + 3 > words.size()) return false;  // color, shape, a phrase
  out->color = ColorId(words[w++]);
  out->shape = ShapeId(words[w++]);
  std::vector<std::string> rest(words.begin() + w, words.end());
  out->action = ActionIdForPhrase(absl::StrJoin(rest, " "));
  return out->color >= 0 && out->shape >= 0 && out->action >= 0;
}

TEST(TextTest, CaptionsFollowTheTemplates) {
  for (uint64_t seed = 0; seed < 300; ++seed) {
    auto scene = SampleTrimmedScene(seed, 0);
    ASSERT_TRUE(scene.ok());
    const SceneObject& actor = scene->actor;
    const ActionInfo& action = Actions()[scene->instances[0].action_id];
    const std::vector<std::string> captions = Captions(*scene);
    std::string canonical = absl::StrCat(
        "a ", Sizes()[actor.size].name, " ", Colors()[actor.color].name, " ",
        Shapes()[actor.shape], " ", action.phrase);
    if (!scene->distractors.empty()) {
      absl::StrAppend(&canonical, " while a ",
                      Colors()[scene->distractors[0].color].name, " ",
                      Shapes()[scene->distractors[0].shape], " stays still");
    }
    ASSERT_FALSE(captions.empty());
    EXPECT_EQ(captions[0], canonical);
    EXPECT_EQ(CanonicalCaption(*scene), canonical);
    EXPECT_EQ(std::set<std::string>(captions.begin(), captions.end()).size(),
              captions.size());
    std::set<std::string> phrases;
    for (const std::string& caption : captions) {
      ParsedCaption parsed;
      ASSERT_TRUE(ParseCaption(caption, &parsed)) << caption;
      EXPECT_TRUE(parsed.size == -1 || parsed.size == actor.size) << caption;
      EXPECT_EQ(parsed.color, actor.color) << caption;
      EXPECT_EQ(parsed.shape, actor.shape) << caption;
      EXPECT_EQ(parsed.action, action.id) << caption;
      if (parsed.still_color >= 0) {
        const bool names_a_distractor =
            std::any_of(scene->distractors.begin(), scene->distractors.end(),
                        [&](const SceneObject& d) {
                          return d.color == parsed.still_color &&
                                 d.shape == parsed.still_shape;
                        });
        EXPECT_TRUE(names_a_distractor) << caption;
      }
    }
  }
}

TEST(TextTest, QuestionsHaveTheRightAnswers) {
  const std::set<absl::string_view> vocabulary(Answers().begin(),
                                               Answers().end());
  for (uint64_t seed = 0; seed < 300; ++seed) {
    auto scene = SampleTrimmedScene(seed, 0);
    ASSERT_TRUE(scene.ok());
    const std::string color(Colors()[scene->actor.color].name);
    const std::string shape(Shapes()[scene->actor.shape]);
    const ActionInfo& action = Actions()[scene->instances[0].action_id];
    std::string action_answer(action.name);
    std::replace(action_answer.begin(), action_answer.end(), '_', ' ');
    const char* counts[] = {"one", "two", "three"};
    const std::vector<data::QuestionAnswer> questions = Questions(*scene);
    ASSERT_EQ(questions.size(), 4);
    EXPECT_EQ(questions[0].q, absl::StrCat("what color is the ", shape,
                                           " that ", action.phrase));
    EXPECT_EQ(questions[0].a, color);
    EXPECT_EQ(questions[1].q, absl::StrCat("what shape ", action.phrase));
    EXPECT_EQ(questions[1].a, shape);
    EXPECT_EQ(questions[2].q,
              absl::StrCat("what does the ", color, " ", shape, " do"));
    EXPECT_EQ(questions[2].a, action_answer);
    EXPECT_EQ(questions[3].q, "how many objects are there");
    EXPECT_EQ(questions[3].a, counts[scene->distractors.size()]);
    for (const data::QuestionAnswer& qa : questions) {
      EXPECT_TRUE(vocabulary.count(qa.a)) << qa.a;
    }
  }
}

// Every file under `dir`, by path relative to it, with its bytes.
std::map<std::string, std::string> Files(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      files[fs::relative(entry.path(), dir).string()] =
          ReadFile(entry.path().string());
    }
  }
  return files;
}

SynthOptions SmallWorld(const std::string& out_dir, uint64_t seed) {
  SynthOptions options;
  options.out_dir = out_dir;
  options.seed = seed;
  options.rendering.size = 64;
  options.rendering.noise = 1;
  options.train_clips = 6;
  options.val_clips = 2;
  options.test_clips = 2;
  options.val_untrimmed = 1;
  options.test_untrimmed = 1;
  return options;
}

TEST(WorldTest, SameSeedSameBytesWhateverTheThreads) {
  SynthOptions a = SmallWorld(test::FreshTempDir("world_a"), 5);
  a.threads = 1;
  SynthOptions b = SmallWorld(test::FreshTempDir("world_b"), 5);
  b.threads = 3;
  std::vector<SynthProgress> progress;
  ASSERT_TRUE(RenderWorld(a, [&](const SynthProgress& p) {
                progress.push_back(p);
              }).ok());
  ASSERT_TRUE(RenderWorld(b, nullptr).ok());
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().done, 12);
  EXPECT_EQ(progress.back().total, 12);

  std::map<std::string, std::string> files_a = Files(a.out_dir);
  std::map<std::string, std::string> files_b = Files(b.out_dir);
  std::vector<std::string> names;
  for (const auto& [name, bytes] : files_a) names.push_back(name);
  EXPECT_THAT(
      names,
      ::testing::UnorderedElementsAre(
          "clips/train_00000.mp4", "clips/train_00001.mp4",
          "clips/train_00002.mp4", "clips/train_00003.mp4",
          "clips/train_00004.mp4", "clips/train_00005.mp4",
          "clips/val_00000.mp4", "clips/val_00001.mp4", "clips/test_00000.mp4",
          "clips/test_00001.mp4", "untrimmed/val_000.mp4",
          "untrimmed/test_000.mp4", "train.jsonl", "val.jsonl", "test.jsonl",
          "val_untrimmed.jsonl", "test_untrimmed.jsonl", "world.json"));
  EXPECT_TRUE(files_a == files_b);

  const std::string other_dir = test::FreshTempDir("world_c");
  ASSERT_TRUE(RenderWorld(SmallWorld(other_dir, 6), nullptr).ok());
  EXPECT_NE(ReadFile(other_dir + "/train.jsonl"), files_a["train.jsonl"]);
}

TEST(WorldTest, ManifestsDescribeTheEncodedFiles) {
  // Without noise, which x264 at crf 18 partly smooths away, so that the
  // comparison below measures the writer on the shapes.
  SynthOptions options = SmallWorld(test::FreshTempDir("world_files"), 11);
  options.rendering.noise = 0;
  ASSERT_TRUE(RenderWorld(options, nullptr).ok());
  EXPECT_THAT(ReadFile(options.out_dir + "/world.json"),
              HasSubstr("\"seed\": 11"));
  auto clips = data::ReadTrimmedManifest(options.out_dir + "/train.jsonl");
  ASSERT_TRUE(clips.ok()) << clips.status();
  ASSERT_EQ(clips->size(), 6);
  for (int i = 0; i < 6; ++i) {
    const data::TrimmedClip& clip = (*clips)[i];
    EXPECT_EQ(clip.file, absl::StrFormat("clips/train_%05d.mp4", i));
    ASSERT_TRUE(fs::exists(clip.path)) << clip.path;
    auto scene = SampleTrimmedScene(ClipSeed(11, kTrain, false, i), 0);
    ASSERT_TRUE(scene.ok());
    EXPECT_EQ(clip.action_id, scene->instances[0].action_id);
    EXPECT_EQ(clip.captions, Captions(*scene));
  }
  // The first clip decodes to what the renderer drew, within a mean of 3
  // levels (measured: 2.4). Limited-range yuv420p alone turns the (32,32,32)
  // background into (31,31,31), and 4:2:0 blurs the chroma of sharp edges
  // between saturated colors.
  auto scene = SampleTrimmedScene(ClipSeed(11, kTrain, false, 0), 0);
  const SceneRenderer renderer(*scene, 64);
  const std::vector<uint8_t> decoded = test::DecodeWithFfmpeg((*clips)[0].path);
  ASSERT_EQ(decoded.size(), renderer.frame_bytes() * kClipFrames);
  double total = 0;
  for (int f = 0; f < kClipFrames; ++f) {
    const std::vector<uint8_t> rgb = RenderFrame(renderer, f);
    for (size_t i = 0; i < rgb.size(); ++i) {
      total += std::abs(int{decoded[f * rgb.size() + i]} - int{rgb[i]});
    }
  }
  EXPECT_LT(total / decoded.size(), 3.0);

  auto videos =
      data::ReadUntrimmedManifest(options.out_dir + "/test_untrimmed.jsonl");
  ASSERT_TRUE(videos.ok()) << videos.status();
  ASSERT_EQ(videos->size(), 1);
  const std::vector<uint8_t> video = test::DecodeWithFfmpeg((*videos)[0].path);
  EXPECT_EQ(video.size() / (64 * 64 * 3) / 16.0, (*videos)[0].duration_s);
  EXPECT_FALSE(fs::exists(options.out_dir + "/train_untrimmed.jsonl"));
}

TEST(WorldTest, SplitsNeverShareSeeds) {
  std::set<uint64_t> seen;
  for (int split = 0; split < kNumSplits; ++split) {
    for (const bool untrimmed : {false, true}) {
      for (int i = 0; i < 2000; ++i) {
        EXPECT_TRUE(seen.insert(ClipSeed(1, split, untrimmed, i)).second);
      }
    }
  }
}

TEST(WorldTest, OddSizeRendersPaddedVideo) {
  SynthOptions options;
  options.out_dir = test::FreshTempDir("world_odd");
  options.rendering.size = 65;
  options.train_clips = 1;
  options.val_clips = options.test_clips = options.test_untrimmed = 0;
  ASSERT_TRUE(RenderWorld(options, nullptr).ok());
  EXPECT_EQ(
      test::DecodeWithFfmpeg(options.out_dir + "/clips/train_00000.mp4").size(),
      66 * 66 * 3 * kClipFrames);
}

TEST(WorldTest, RefusesBadOptions) {
  SynthOptions options = SmallWorld(test::FreshTempDir("world_bad"), 1);
  options.rendering.size = 63;
  absl::Status s = RenderWorld(options, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("size"));
  options.rendering.size = 64;
  options.rendering.noise = 2;
  EXPECT_THAT(RenderWorld(options, nullptr).message(), HasSubstr("noise"));
  options.rendering.noise = 0;
  options.rendering.fps = 0;
  EXPECT_THAT(RenderWorld(options, nullptr).message(), HasSubstr("fps"));
  options.rendering.fps = 25;
  options.rendering.compression = 1.5;
  EXPECT_THAT(RenderWorld(options, nullptr).message(),
              HasSubstr("compression"));
  options.rendering.compression = 0;
  options.rendering.lighting.contrast = 2;
  EXPECT_THAT(RenderWorld(options, nullptr).message(),
              HasSubstr("contrast: must be in [0.75, 1.25], got 2"));
  options.rendering.lighting.contrast = 1;
  options.variety_min_side = 200;
  options.variety_max_side = 100;
  EXPECT_THAT(RenderWorld(options, nullptr).message(),
              HasSubstr("variety_sides"));
  options.variety_min_side = 96;
  options.variety_max_side = 224;
  options.train_clips = -1;
  EXPECT_THAT(RenderWorld(options, nullptr).message(),
              HasSubstr("train_clips"));
  EXPECT_TRUE(fs::is_empty(options.out_dir));
}

TEST(RenderingTest, LightingMapsEveryLevelByContrastBrightnessAndRamp) {
  absl::StatusOr<Scene> scene = SampleTrimmedScene(3, /*noise=*/0);
  ASSERT_TRUE(scene.ok());
  scene->distractors.clear();
  scene->actor.pose.opacity = 0;  // background only
  scene->instances.clear();
  Lighting lighting;
  lighting.background = 40;
  lighting.contrast = 1.1;
  lighting.brightness = 5;
  lighting.ramp = 10;
  const std::vector<uint8_t> rgb =
      RenderFrame(SceneRenderer(*scene, 64, lighting), 0);
  // By hand: (40 - 128) * 1.1 + 128 + 5 = 36.2, then -10 at the left
  // column, +10 at the right one, -0.16 at column 31 (2 * 31 / 63 - 1).
  EXPECT_EQ(rgb[0], 26);
  EXPECT_EQ(rgb[63 * 3], 46);
  EXPECT_EQ(rgb[(10 * 64 + 31) * 3 + 1], 36);
  // The default lighting changes nothing: the spec's background.
  EXPECT_EQ(RenderFrame(SceneRenderer(*scene, 64), 0)[0], kBackgroundLevel);
}

TEST(RenderingTest, VarietyDrawsEveryFormatAndStaysInItsRanges) {
  std::set<int> formats, fps;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    const Rendering r = VarietyRendering(seed);
    formats.insert(static_cast<int>(r.format));
    fps.insert(r.fps);
    EXPECT_EQ(r.size % 2, 0);
    EXPECT_GE(r.size, 96);
    EXPECT_LE(r.size, 224);
    EXPECT_GE(r.compression, 0);
    EXPECT_LT(r.compression, 0.6);
    EXPECT_GE(r.lighting.background, 20);
    EXPECT_LE(r.lighting.background, 48);
    EXPECT_GE(r.lighting.contrast, 0.85);
    EXPECT_LT(r.lighting.contrast, 1.15);
    EXPECT_LE(std::abs(r.lighting.brightness), 12);
    EXPECT_LE(r.lighting.ramp, 10);
  }
  EXPECT_EQ(formats.size(), static_cast<size_t>(VideoFormat::kNumFormats));
  EXPECT_EQ(fps, (std::set<int>{16, 25}));
  EXPECT_EQ(VarietyRendering(9).size, VarietyRendering(9).size);
  std::set<int> small_sides;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    small_sides.insert(VarietyRendering(seed, 64, 70).size);
  }
  EXPECT_EQ(small_sides, (std::set<int>{64, 66, 68, 70}));
  EXPECT_EQ(FormatNamed("vp9-webm"), VideoFormat::kVp9Webm);
  EXPECT_EQ(FormatNamed("h265"), VideoFormat::kNumFormats);
}

// A variety world shows the same events as the plain one (same manifest
// rows but for the files' extensions), in files whose codec, size and frame
// count are the rendering's and whose pixels are the scene at i / fps
// seconds under the rendering's lighting.
TEST(WorldTest, VarietyWorldsShowTheSameEventsInOtherFiles) {
  SynthOptions plain = SmallWorld(test::FreshTempDir("world_plain"), 13);
  plain.train_clips = plain.val_clips = plain.val_untrimmed = 0;
  plain.test_clips = 12;
  SynthOptions variety = plain;
  variety.out_dir = test::FreshTempDir("world_variety");
  variety.variety = true;
  ASSERT_TRUE(RenderWorld(plain, nullptr).ok());
  ASSERT_TRUE(RenderWorld(variety, nullptr).ok());
  auto plain_clips = data::ReadTrimmedManifest(plain.out_dir + "/test.jsonl");
  auto clips = data::ReadTrimmedManifest(variety.out_dir + "/test.jsonl");
  ASSERT_TRUE(plain_clips.ok() && clips.ok());
  ASSERT_EQ(clips->size(), 12);
  constexpr absl::string_view kCodecs[] = {"h264", "h264", "vp9", "mpeg4",
                                           "mjpeg"};
  std::set<std::string> extensions;
  for (int i = 0; i < 12; ++i) {
    const data::TrimmedClip& clip = (*clips)[i];
    const data::TrimmedClip& same = (*plain_clips)[i];
    EXPECT_EQ(clip.action_id, same.action_id);
    EXPECT_EQ(clip.captions, same.captions);
    EXPECT_EQ(clip.actor.color, same.actor.color);
    const uint64_t seed = ClipSeed(13, kTest, false, i);
    const Rendering r = VarietyRendering(seed);
    const std::string extension = fs::path(clip.file).extension();
    extensions.insert(extension);
    EXPECT_EQ(fs::path(clip.file).stem(), fs::path(same.file).stem());
    const process::CommandResult probe = process::RunCommand(
        absl::StrCat("ffprobe -v error -select_streams v -show_entries "
                     "stream=codec_name,width,avg_frame_rate -of csv=p=0 '",
                     clip.path, "'"));
    EXPECT_EQ(probe.output,
              absl::StrCat(kCodecs[static_cast<int>(r.format)], ",",
                           FrameSide(r.size), ",", r.fps, "/1\n"))
        << clip.file;
    // Mean absolute error against the renderer at the frame's time: lossy
    // codecs at up to 0.6 compression, which also smooth away much of the
    // background noise (measured: 0.5 to 3.6 without noise, 4.6 to 6.6 with).
    // At 25 fps, the same frames taken as 16 fps ones must be worse.
    auto scene = SampleTrimmedScene(seed, r.noise);
    ASSERT_TRUE(scene.ok());
    const SceneRenderer renderer(*scene, r.size, r.lighting);
    const std::vector<uint8_t> decoded = test::DecodeWithFfmpeg(clip.path);
    const int frames = r.fps == 16 ? 32 : 49;  // 2 s less a 16 fps frame
    ASSERT_EQ(decoded.size(), renderer.frame_bytes() * frames) << clip.file;
    double total = 0, as_16_fps = 0;
    std::vector<uint8_t> rgb(renderer.frame_bytes()), wrong(rgb.size());
    for (int f = 0; f < frames; ++f) {
      renderer.Render(f * 16.0 / r.fps, rgb.data());
      renderer.Render(std::min(f, kClipFrames - 1), wrong.data());
      for (size_t k = 0; k < rgb.size(); ++k) {
        const int value = decoded[f * rgb.size() + k];
        total += std::abs(value - int{rgb[k]});
        as_16_fps += std::abs(value - int{wrong[k]});
      }
    }
    EXPECT_LT(total / decoded.size(), r.noise ? 7.5 : 4.0) << clip.file;
    if (r.fps != 16) EXPECT_LT(total, as_16_fps) << clip.file;
  }
  EXPECT_GE(extensions.size(), 3);
  auto videos =
      data::ReadUntrimmedManifest(variety.out_dir + "/test_untrimmed.jsonl");
  auto plain_videos =
      data::ReadUntrimmedManifest(plain.out_dir + "/test_untrimmed.jsonl");
  ASSERT_TRUE(videos.ok() && plain_videos.ok());
  EXPECT_EQ((*videos)[0].duration_s, (*plain_videos)[0].duration_s);
  EXPECT_EQ((*videos)[0].segments.size(), (*plain_videos)[0].segments.size());
}

TEST(WorldTest, PreviewShowsOneRowPerAction) {
  SynthOptions options;
  options.out_dir = test::FreshTempDir("preview");
  options.rendering.size = 64;
  ASSERT_TRUE(WritePreview(options).ok());
  const std::vector<uint8_t> png =
      test::DecodeWithFfmpeg(options.out_dir + "/preview.png");
  const int width = kPreviewColumns * 66 + 2, height = kNumActions * 66 + 2;
  EXPECT_EQ(png.size(), size_t{3} * width * height);
  const std::vector<std::string> lines = absl::StrSplit(
      ReadFile(options.out_dir + "/preview.txt"), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1 + kNumActions);
  for (int a = 0; a < kNumActions; ++a) {
    EXPECT_THAT(lines[1 + a],
                HasSubstr(absl::StrCat(" ", Actions()[a].phrase)));
  }
}

}  // namespace
}  // namespace iv::synthworld
