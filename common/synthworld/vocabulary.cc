#include "common/synthworld/vocabulary.h"

#include "absl/strings/str_replace.h"

namespace iv::synthworld {
namespace {

constexpr absl::string_view kShapes[] = {"circle", "square", "triangle",
                                         "cross"};

constexpr Color kColors[] = {
    {"red", 230, 40, 40},     {"green", 40, 200, 60},
    {"blue", 50, 90, 230},    {"yellow", 240, 220, 40},
    {"purple", 160, 60, 200}, {"white", 235, 235, 235},
};

constexpr Size kSizes[] = {{"small", 0.08}, {"large", 0.14}};

constexpr absl::string_view kMoveLeftPhrases[] = {
    "slides to the left", "travels leftward", "goes left"};
constexpr absl::string_view kMoveRightPhrases[] = {
    "slides to the right", "travels rightward", "goes right"};
constexpr absl::string_view kMoveUpPhrases[] = {"rises", "travels upward",
                                                "goes up"};
constexpr absl::string_view kMoveDownPhrases[] = {"falls", "travels downward",
                                                  "goes down"};
constexpr absl::string_view kClockwisePhrases[] = {"spins clockwise",
                                                   "turns clockwise"};
constexpr absl::string_view kCounterclockwisePhrases[] = {
    "spins counterclockwise", "turns counterclockwise",
    "rotates anticlockwise"};
constexpr absl::string_view kGrowPhrases[] = {"gets bigger", "expands",
                                              "grows larger"};
constexpr absl::string_view kShrinkPhrases[] = {"gets smaller", "contracts",
                                                "shrinks down"};
constexpr absl::string_view kAppearPhrases[] = {"fades in", "comes into view"};
constexpr absl::string_view kDisappearPhrases[] = {"fades out", "vanishes"};

constexpr ActionInfo kActions[] = {
    {kMoveLeft, "move_left", "moves left", kMoveLeftPhrases, kMoveRight,
     "move left"},
    {kMoveRight, "move_right", "moves right", kMoveRightPhrases, kMoveLeft,
     "move right"},
    {kMoveUp, "move_up", "moves up", kMoveUpPhrases, kMoveDown, "move up"},
    {kMoveDown, "move_down", "moves down", kMoveDownPhrases, kMoveUp,
     "move down"},
    {kRotateClockwise, "rotate_clockwise", "rotates clockwise",
     kClockwisePhrases, kRotateCounterclockwise, "rotate clockwise"},
    {kRotateCounterclockwise, "rotate_counterclockwise",
     "rotates counterclockwise", kCounterclockwisePhrases, kRotateClockwise,
     "rotate counterclockwise"},
    {kGrow, "grow", "grows", kGrowPhrases, kShrink, "grow"},
    {kShrink, "shrink", "shrinks", kShrinkPhrases, kGrow, "shrink"},
    {kAppear, "appear", "appears", kAppearPhrases, kDisappear, "appear"},
    {kDisappear, "disappear", "disappears", kDisappearPhrases, kAppear,
     "disappear"},
};

constexpr absl::string_view kAnswers[] = {
    "red",
    "green",
    "blue",
    "yellow",
    "purple",
    "white",
    "circle",
    "square",
    "triangle",
    "cross",
    "move left",
    "move right",
    "move up",
    "move down",
    "rotate clockwise",
    "rotate counterclockwise",
    "grow",
    "shrink",
    "appear",
    "disappear",
    "one",
    "two",
    "three",
};

constexpr QuestionTemplate kQuestions[] = {
    {kColorQuestion, "what color is the <shape> that <phrase>", "color"},
    {kShapeQuestion, "what shape <phrase>", "shape"},
    {kActionQuestion, "what does the <color> <shape> do", "action"},
    {kCountQuestion, "how many objects are there", "count"},
};

static_assert(sizeof(kShapes) / sizeof(kShapes[0]) == kNumShapes);
static_assert(sizeof(kColors) / sizeof(kColors[0]) == kNumColors);
static_assert(sizeof(kSizes) / sizeof(kSizes[0]) == kNumSizes);
static_assert(sizeof(kActions) / sizeof(kActions[0]) == kNumActions);
static_assert(sizeof(kAnswers) / sizeof(kAnswers[0]) == kNumAnswers);
static_assert(sizeof(kQuestions) / sizeof(kQuestions[0]) == kNumQuestionTypes);

// Position of the entry whose name is `name`, or -1.
template <typename T, typename NameOf>
int IndexOf(absl::Span<const T> table, absl::string_view name, NameOf name_of) {
  for (size_t i = 0; i < table.size(); ++i) {
    if (name_of(table[i]) == name) return static_cast<int>(i);
  }
  return -1;
}

absl::string_view Self(absl::string_view s) { return s; }

}  // namespace

absl::Span<const absl::string_view> Shapes() { return kShapes; }
absl::Span<const Color> Colors() { return kColors; }
absl::Span<const Size> Sizes() { return kSizes; }
absl::Span<const ActionInfo> Actions() { return kActions; }
absl::Span<const absl::string_view> Answers() { return kAnswers; }
absl::Span<const QuestionTemplate> QuestionTemplates() { return kQuestions; }

int ShapeId(absl::string_view name) { return IndexOf(Shapes(), name, Self); }
int ColorId(absl::string_view name) {
  return IndexOf(Colors(), name, [](const Color& c) { return c.name; });
}
int SizeId(absl::string_view name) {
  return IndexOf(Sizes(), name, [](const Size& s) { return s.name; });
}
int ActionId(absl::string_view name) {
  return IndexOf(Actions(), name, [](const ActionInfo& a) { return a.name; });
}
int AnswerId(absl::string_view answer) {
  return IndexOf(Answers(), answer, Self);
}

int ActionIdForPhrase(absl::string_view phrase) {
  for (const ActionInfo& action : Actions()) {
    if (action.phrase == phrase ||
        IndexOf(action.paraphrases, phrase, Self) >= 0) {
      return action.id;
    }
  }
  return -1;
}

const std::map<std::string, std::string>& MirroredActions() {
  static const auto* const mirrored = [] {
    auto* map = new std::map<std::string, std::string>;
    for (const auto [a, b] :
         {std::pair{kMoveLeft, kMoveRight},
          std::pair{kRotateClockwise, kRotateCounterclockwise}}) {
      const std::string left(kActions[a].name), right(kActions[b].name);
      (*map)[left] = right;
      (*map)[right] = left;
    }
    return map;
  }();
  return *mirrored;
}

absl::string_view CountAnswer(int num_objects) {
  if (num_objects < 1 || num_objects > 3) return {};
  return kAnswers[kNumColors + kNumShapes + kNumActions + num_objects - 1];
}

std::string FillTemplate(QuestionType type, absl::string_view color,
                         absl::string_view shape, absl::string_view phrase) {
  return absl::StrReplaceAll(
      kQuestions[type].pattern,
      {{"<color>", color}, {"<shape>", shape}, {"<phrase>", phrase}});
}

}  // namespace iv::synthworld
