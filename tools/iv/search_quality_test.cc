// Search quality through the whole stack: encoder_server serving the
// committed iv-tiny and index_server run as processes on loopback, a
// SynthWorld library of 100 test clips (seeds iv-tiny never trained on)
// ingested with its labels by `iv ingest`'s library, then text queries
// through the index service's search-by-text. For every distinct (color,
// shape, action) of the library, the query "a COLOR SHAPE PHRASE" must
// bring back a clip with exactly those labels: first for most queries,
// among the first five for nearly all. It prints which label the wrong
// first hits got wrong.
#include <signal.h>

#include <map>
#include <set>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/serving/connection.h"
#include "common/synthworld/renderer.h"
#include "common/synthworld/vocabulary.h"
#include "common/testing/server_process.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "protos/index_service.grpc.pb.h"
#include "tools/iv/ingest.h"

namespace iv::cli {
namespace {

namespace v1 = internvideo::v1;
namespace sw = synthworld;

std::string Label(const v1::SearchHit& hit, const std::string& key) {
  auto it = hit.metadata().find(key);
  return it == hit.metadata().end() ? "" : it->second.string_value();
}

TEST(SearchQualityTest, TextFindsClipsWithTheRightColorShapeAndAction) {
  const std::string root = test::FreshTempDir("search_quality");
  sw::SynthOptions world;
  world.out_dir = root + "/library";
  world.seed = 7;  // iv-tiny's world; its test split was never trained on
  world.rendering.size = 64;
  world.train_clips = world.val_clips = 0;
  world.test_clips = 100;
  world.test_untrimmed = 0;
  ASSERT_TRUE(sw::RenderWorld(world, {}).ok());

  absl::StatusOr<test::ServerProcess> encoder = test::StartServerProcess(
      absl::StrCat("encoder_service/encoder_server --address 127.0.0.1:0 "
                   "--metrics-address '' --model-dir models/iv-tiny "
                   "--allowed-roots ",
                   root),
      root + "/encoder.log");
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  absl::StatusOr<test::ServerProcess> index = test::StartServerProcess(
      absl::StrCat("index_service/index_server --address 127.0.0.1:0 "
                   "--metrics-address '' --data-dir ",
                   root, "/index --encoder-address 127.0.0.1:", encoder->port),
      root + "/index.log");
  ASSERT_TRUE(index.ok()) << index.status();
  ASSERT_TRUE(test::WaitUntilServing(*encoder).ok());
  absl::StatusOr<serving::Connection> encoder_connection =
      serving::Connection::Open(absl::StrCat("127.0.0.1:", encoder->port), {});
  ASSERT_TRUE(encoder_connection.ok());
  absl::StatusOr<serving::Connection> index_connection =
      serving::Connection::Open(absl::StrCat("127.0.0.1:", index->port), {});
  ASSERT_TRUE(index_connection.ok());

  IngestOptions options;
  options.paths = {root + "/library/clips"};
  options.collection = "library";
  options.index_factory = "Flat";
  options.window_s = 0;  // whole clips
  options.manifests = {root + "/library/test.jsonl"};
  absl::StatusOr<IngestSummary> summary =
      Ingest(options, *encoder_connection, *index_connection);
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_EQ(summary->indexed, 100);

  // The distinct (color, shape, action) of the library, from its labels.
  std::set<std::tuple<std::string, std::string, std::string>> triples;
  auto stub = v1::IndexService::NewStub(index_connection->channel());
  int first = 0, top5 = 0;
  std::map<std::string, int> misses;  // which label the first hit got wrong
  for (const sw::ActionInfo& action : sw::Actions()) {
    for (const sw::Color& color : sw::Colors()) {
      for (absl::string_view shape : sw::Shapes()) {
        v1::SearchRequest request;
        request.set_collection("library");
        request.set_k(1);
        // Only triples the library holds: a filtered probe tells.
        request.set_text(
            absl::StrCat("a ", color.name, " ", shape, " ", action.phrase));
        v1::FieldCondition* must = request.mutable_filter()->add_must();
        must->set_key("action");
        must->mutable_equals()->set_string_value(std::string(action.name));
        must = request.mutable_filter()->add_must();
        must->set_key("color");
        must->mutable_equals()->set_string_value(std::string(color.name));
        must = request.mutable_filter()->add_must();
        must->set_key("shape");
        must->mutable_equals()->set_string_value(std::string(shape));
        v1::SearchResponse probe;
        ASSERT_TRUE(
            stub->Search(index_connection->NewContext(absl::Seconds(30)).get(),
                         request, &probe)
                .ok());
        if (probe.hits_size() == 0) continue;
        triples.insert({std::string(color.name), std::string(shape),
                        std::string(action.name)});

        request.clear_filter();
        request.set_k(5);
        v1::SearchResponse response;
        grpc::Status status =
            stub->Search(index_connection->NewContext(absl::Seconds(30)).get(),
                         request, &response);
        ASSERT_TRUE(status.ok()) << status.error_message();
        ASSERT_EQ(response.hits_size(), 5);
        auto right = [&](const v1::SearchHit& hit) {
          return Label(hit, "color") == color.name &&
                 Label(hit, "shape") == shape &&
                 Label(hit, "action") == action.name;
        };
        if (right(response.hits(0))) {
          ++first;
        } else {
          const v1::SearchHit& hit = response.hits(0);
          if (Label(hit, "color") != color.name) ++misses["color"];
          if (Label(hit, "shape") != shape) ++misses["shape"];
          if (Label(hit, "action") != action.name) ++misses["action"];
        }
        for (const v1::SearchHit& hit : response.hits()) {
          if (right(hit)) {
            ++top5;
            break;
          }
        }
      }
    }
  }
  const int n = static_cast<int>(triples.size());
  std::cout << n << " queries: right first " << first << ", in the top 5 "
            << top5 << "; first hits with the wrong color " << misses["color"]
            << ", shape " << misses["shape"] << ", action " << misses["action"]
            << "\n";
  ASSERT_GE(n, 50);  // 100 clips over 240 possible triples
  // Measured: 82 of 84 first (of the 2 wrong first hits, 2 had another
  // shape, 1 another color), all 84 in the top 5; 80 with session 8's
  // iv-tiny, 53 before its masked encoder learned shape. iv-tiny's R@1
  // with the manifests' own captions on 300 test clips is 0.963.
  EXPECT_GE(first, 0.85 * n);
  EXPECT_GE(top5, 0.95 * n);

  test::StopServerProcess(*index, SIGTERM);
  test::StopServerProcess(*encoder, SIGTERM);
}

}  // namespace
}  // namespace iv::cli
