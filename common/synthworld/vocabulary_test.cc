#include "common/synthworld/vocabulary.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iv::synthworld {
namespace {

using ::testing::ElementsAre;

TEST(VocabularyTest, TablesFollowTheSpec) {
  EXPECT_THAT(Shapes(), ElementsAre("circle", "square", "triangle", "cross"));
  ASSERT_EQ(Colors().size(), 6);
  EXPECT_EQ(Colors()[ColorId("blue")].r, 50);
  EXPECT_EQ(Colors()[ColorId("blue")].g, 90);
  EXPECT_EQ(Colors()[ColorId("blue")].b, 230);
  EXPECT_EQ(Colors()[ColorId("purple")].r, 160);
  EXPECT_DOUBLE_EQ(Sizes()[SizeId("small")].half_width, 0.08);
  EXPECT_DOUBLE_EQ(Sizes()[SizeId("large")].half_width, 0.14);
  ASSERT_EQ(Actions().size(), 10);
  for (int id = 0; id < kNumActions; ++id) {
    const ActionInfo& action = Actions()[id];
    EXPECT_EQ(action.id, id);
    EXPECT_EQ(ActionId(action.name), id);
    EXPECT_NE(action.twin_id, id) << action.name;
    EXPECT_EQ(Actions()[action.twin_id].twin_id, id) << action.name;
    EXPECT_GE(action.paraphrases.size(), 2) << action.name;
  }
  EXPECT_EQ(ActionId("rotate_counterclockwise"), kRotateCounterclockwise);
  EXPECT_EQ(Actions()[kMoveUp].twin_id, kMoveDown);
  EXPECT_EQ(Actions()[kGrow].phrase, "grows");
  EXPECT_EQ(Actions()[kRotateClockwise].answer, "rotate clockwise");
}

TEST(VocabularyTest, AnswersAreTheDocumented23InOrder) {
  ASSERT_EQ(Answers().size(), 23);
  EXPECT_EQ(Answers()[0], "red");
  EXPECT_EQ(Answers()[5], "white");
  EXPECT_EQ(Answers()[6], "circle");
  EXPECT_EQ(Answers()[9], "cross");
  EXPECT_EQ(Answers()[10], "move left");
  EXPECT_EQ(Answers()[19], "disappear");
  EXPECT_EQ(Answers()[22], "three");
  EXPECT_EQ(
      std::set<absl::string_view>(Answers().begin(), Answers().end()).size(),
      23);
  for (int id = 0; id < kNumActions; ++id) {
    // The answer is the action's name with '_' read as a space.
    std::string name(Actions()[id].name);
    std::replace(name.begin(), name.end(), '_', ' ');
    EXPECT_EQ(AnswerId(name), 10 + id);
  }
  EXPECT_EQ(CountAnswer(2), "two");
  EXPECT_EQ(CountAnswer(0), "");
  EXPECT_EQ(CountAnswer(4), "");
}

TEST(VocabularyTest, LookupsReturnMinusOneForUnknownNames) {
  EXPECT_EQ(ShapeId("triangle"), kTriangle);
  EXPECT_EQ(ShapeId("hexagon"), -1);
  EXPECT_EQ(ColorId("Red"), -1);
  EXPECT_EQ(SizeId("medium"), -1);
  EXPECT_EQ(ActionId("move left"), -1);
  EXPECT_EQ(AnswerId("four"), -1);
}

TEST(VocabularyTest, PhrasesMapToTheirActions) {
  EXPECT_EQ(ActionIdForPhrase("moves left"), kMoveLeft);
  EXPECT_EQ(ActionIdForPhrase("rotates anticlockwise"),
            kRotateCounterclockwise);
  EXPECT_EQ(ActionIdForPhrase("falls"), kMoveDown);
  EXPECT_EQ(ActionIdForPhrase("vanishes"), kDisappear);
  EXPECT_EQ(ActionIdForPhrase("jumps"), -1);
  // No phrase belongs to two actions, or captions could not be parsed back.
  std::set<absl::string_view> seen;
  for (const ActionInfo& action : Actions()) {
    EXPECT_TRUE(seen.insert(action.phrase).second) << action.phrase;
    for (absl::string_view p : action.paraphrases) {
      EXPECT_TRUE(seen.insert(p).second) << p;
    }
  }
}

TEST(VocabularyTest, TemplatesFill) {
  ASSERT_EQ(QuestionTemplates().size(), 4);
  EXPECT_EQ(FillTemplate(kColorQuestion, "red", "triangle", "disappears"),
            "what color is the triangle that disappears");
  EXPECT_EQ(FillTemplate(kShapeQuestion, "red", "triangle", "moves left"),
            "what shape moves left");
  EXPECT_EQ(FillTemplate(kActionQuestion, "red", "triangle", "moves left"),
            "what does the red triangle do");
  EXPECT_EQ(FillTemplate(kCountQuestion, "red", "triangle", "moves left"),
            "how many objects are there");
  EXPECT_EQ(QuestionTemplates()[kShapeQuestion].answer_kind, "shape");
}

TEST(VocabularyTest, MirroringSwapsOnlyHorizontalDirections) {
  const std::map<std::string, std::string> expected = {
      {"move_left", "move_right"},
      {"move_right", "move_left"},
      {"rotate_clockwise", "rotate_counterclockwise"},
      {"rotate_counterclockwise", "rotate_clockwise"}};
  EXPECT_EQ(MirroredActions(), expected);
}

}  // namespace
}  // namespace iv::synthworld
