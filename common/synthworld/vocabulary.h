// SynthWorld v1's closed vocabulary (shared/spec/SYNTHWORLD.md) as data:
// shapes, colors, sizes, the 10 actions with their phrases and reverse twins,
// the 23-answer VQA vocabulary and the question templates.
//
// Ids are positions in these tables and never change: models' output layers,
// evaluation code and stored datasets depend on them. Name lookups return -1
// for names outside the vocabulary so callers decide how strict to be.
#ifndef COMMON_SYNTHWORLD_VOCABULARY_H_
#define COMMON_SYNTHWORLD_VOCABULARY_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace iv::synthworld {

inline constexpr int kFps = 16;
inline constexpr int kClipFrames = 32;  // a trimmed clip: 2.0 s
inline constexpr int kMinSide = 64;     // canvas sides the spec supports
inline constexpr int kMaxSide = 448;
inline constexpr uint8_t kBackgroundLevel = 32;  // RGB (32, 32, 32)
inline constexpr int kNoiseAmplitude = 12;       // noise level 1: [-12, +12]

// Enums name the ids for code that switches on them; the tables below hold
// everything else about each value.
enum Shape : int { kCircle = 0, kSquare, kTriangle, kCross, kNumShapes };
enum Action : int {
  kMoveLeft = 0,
  kMoveRight,
  kMoveUp,
  kMoveDown,
  kRotateClockwise,
  kRotateCounterclockwise,
  kGrow,
  kShrink,
  kAppear,
  kDisappear,
  kNumActions
};
inline constexpr int kNumColors = 6;
inline constexpr int kNumSizes = 2;
inline constexpr int kNumAnswers = 23;

struct Color {
  absl::string_view name;
  uint8_t r, g, b;
};

struct Size {
  absl::string_view name;
  double half_width;  // bounding half-width, as a fraction of the canvas side
};

struct ActionInfo {
  int id;
  absl::string_view name;    // "move_left"
  absl::string_view phrase;  // canonical caption phrase, "moves left"
  absl::Span<const absl::string_view> paraphrases;
  int twin_id;               // the time-reversed action
  absl::string_view answer;  // VQA answer, "move left"
};

// Table order is id order: red, green, blue, yellow, purple, white; circle,
// square, triangle, cross; small, large; actions by id.
absl::Span<const absl::string_view> Shapes();
absl::Span<const Color> Colors();
absl::Span<const Size> Sizes();
absl::Span<const ActionInfo> Actions();

// The 23 VQA answers in this fixed order: the 6 colors (table order), the 4
// shapes, the 10 action answers (id order), then "one", "two", "three".
// An answer's id is its position.
absl::Span<const absl::string_view> Answers();

int ShapeId(absl::string_view name);
int ColorId(absl::string_view name);
int SizeId(absl::string_view name);
int ActionId(absl::string_view name);  // "move_left" -> 0
int AnswerId(absl::string_view answer);
// The action whose canonical phrase or one of whose paraphrases is `phrase`.
int ActionIdForPhrase(absl::string_view phrase);
// The actions a horizontal mirror turns into another, by name: move_left
// and move_right, rotate_clockwise and rotate_counterclockwise, both ways.
// What data::RecognitionSamples flips labels with.
const std::map<std::string, std::string>& MirroredActions();
// "one", "two", "three" for 1..3 objects; empty outside that range.
absl::string_view CountAnswer(int num_objects);

// Question templates with placeholders <color>, <shape> and <phrase> (an
// action's canonical phrase or a paraphrase).
enum QuestionType : int {
  kColorQuestion = 0,
  kShapeQuestion,
  kActionQuestion,
  kCountQuestion,
  kNumQuestionTypes
};
struct QuestionTemplate {
  QuestionType type;
  absl::string_view pattern;      // "what color is the <shape> that <phrase>"
  absl::string_view answer_kind;  // "color", "shape", "action" or "count"
};
absl::Span<const QuestionTemplate> QuestionTemplates();
// Fills a template's placeholders; ones the template lacks are ignored.
std::string FillTemplate(QuestionType type, absl::string_view color,
                         absl::string_view shape, absl::string_view phrase);

}  // namespace iv::synthworld

#endif  // COMMON_SYNTHWORLD_VOCABULARY_H_
