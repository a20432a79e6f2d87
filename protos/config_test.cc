// Parses the example model config and training recipes in protos/testdata
// with protobuf text format and checks their values; checks that typos are
// rejected; and checks the API's shape and naming conventions through the
// generated descriptors.

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "protos/captioner_service.grpc.pb.h"
#include "protos/common.pb.h"
#include "protos/encoder_service.grpc.pb.h"
#include "protos/index_service.grpc.pb.h"
#include "protos/model_config.pb.h"
#include "protos/task_service.grpc.pb.h"
#include "protos/trainer_service.grpc.pb.h"
#include "protos/training.pb.h"

namespace internvideo::v1 {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::EnumDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;
using google::protobuf::TextFormat;

// Tests run with the runfiles tree's workspace root as working directory.
constexpr char kTestdata[] = "protos/testdata/";

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(kTestdata + name);
  EXPECT_TRUE(in.good()) << "cannot open " << kTestdata << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Collects text-format parse errors as "line:column: message" (1-based).
class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    errors_.push_back(std::to_string(line + 1) + ":" +
                      std::to_string(column + 1) + ": " + message);
  }
  std::string Joined() const {
    std::string all;
    for (const std::string& e : errors_) all += e + "\n";
    return all;
  }
  bool empty() const { return errors_.empty(); }

 private:
  std::vector<std::string> errors_;
};

// Parses `text` into `message`; on failure returns false and fills `errors`.
bool Parse(const std::string& text, google::protobuf::Message* message,
           CollectErrors* errors) {
  TextFormat::Parser parser;
  parser.RecordErrorsTo(errors);
  return parser.ParseFromString(text, message);
}

template <typename T>
T ParseTestdata(const std::string& name) {
  T message;
  CollectErrors errors;
  EXPECT_TRUE(Parse(ReadTestdata(name), &message, &errors)) << name << ":\n"
                                                            << errors.Joined();
  return message;
}

TEST(ModelConfigTest, ParsesFullIvTinyModel) {
  const auto config = ParseTestdata<ModelConfig>("iv_tiny_model.textproto");
  EXPECT_EQ(config.name(), "iv-tiny");
  ASSERT_EQ(config.class_names_size(), 10);
  EXPECT_EQ(config.class_names(0), "move_left");
  EXPECT_EQ(config.class_names(9), "disappear");

  // Masked video encoder (VideoMAE ViT), no pretraining decoder.
  ASSERT_TRUE(config.has_masked_encoder());
  const MaskedVideoEncoderConfig& masked = config.masked_encoder();
  EXPECT_EQ(masked.preset(), "tiny");
  EXPECT_EQ(masked.img_size(), 112);
  EXPECT_EQ(masked.patch_size(), 16);
  EXPECT_EQ(masked.num_frames(), 8);
  EXPECT_EQ(masked.tubelet_size(), 2);
  EXPECT_EQ(masked.embed_dim(), 192);
  EXPECT_EQ(masked.depth(), 6);
  EXPECT_EQ(masked.num_heads(), 3);
  EXPECT_FLOAT_EQ(masked.mlp_ratio(), 4.0f);
  ASSERT_TRUE(masked.has_qkv_bias());
  EXPECT_TRUE(masked.qkv_bias());
  ASSERT_TRUE(masked.has_use_mean_pooling());
  EXPECT_TRUE(masked.use_mean_pooling());
  EXPECT_EQ(masked.num_classes(), 0);
  EXPECT_EQ(masked.normalization(), PIXEL_NORMALIZATION_IMAGENET);
  EXPECT_EQ(masked.sampling().mode(), ClipSampling::MODE_UNIFORM);
  EXPECT_EQ(masked.sampling().crop(), ClipSampling::CROP_CENTER);
  EXPECT_EQ(masked.sampling().crop_size(), 112);
  EXPECT_FALSE(masked.has_decoder());

  // Multimodal encoder: CLIP vision + UniFormerV2 global branch, text,
  // tokenizer, caption decoder.
  ASSERT_TRUE(config.has_multimodal_encoder());
  const MultimodalEncoderConfig& mm = config.multimodal_encoder();
  EXPECT_EQ(mm.embed_dim(), 128);
  EXPECT_EQ(mm.vision().input_resolution(), 112);
  EXPECT_EQ(mm.vision().width(), 192);
  EXPECT_EQ(mm.vision().layers(), 6);
  EXPECT_EQ(mm.vision().output_dim(), 128);
  EXPECT_EQ(mm.vision().num_frames(), 8);
  EXPECT_EQ(mm.vision().global_branch().n_layers(), 2);
  EXPECT_EQ(std::vector<int>(mm.vision().global_branch().return_list().begin(),
                             mm.vision().global_branch().return_list().end()),
            (std::vector<int>{4, 5}));
  EXPECT_EQ(mm.vision().global_branch().n_dim(), 192);
  EXPECT_EQ(mm.vision().normalization(), PIXEL_NORMALIZATION_CLIP);
  EXPECT_EQ(mm.text().context_length(), 32);
  EXPECT_EQ(mm.text().vocab_size(), 1024);
  EXPECT_EQ(mm.text().layers(), 4);
  EXPECT_EQ(mm.tokenizer().vocab_path(), "synthworld_bpe.txt.gz");
  ASSERT_TRUE(mm.has_caption_decoder());
  EXPECT_EQ(mm.caption_decoder().max_length(), 24);

  // Cross-model attention and task heads.
  ASSERT_TRUE(config.has_cma());
  EXPECT_EQ(config.cma().num_blocks(), 2);
  EXPECT_EQ(config.cma().heads(), 3);
  ASSERT_TRUE(config.has_localization_head());
  EXPECT_EQ(config.localization_head().feature_source(), FEATURE_SOURCE_CMA);
  EXPECT_DOUBLE_EQ(config.localization_head().feature_window().window_s(), 1.0);
  EXPECT_DOUBLE_EQ(config.localization_head().feature_window().stride_s(),
                   0.25);
  EXPECT_EQ(config.localization_head().max_sequence_length(), 128);
  ASSERT_TRUE(config.has_vqa_head());
  ASSERT_EQ(config.vqa_head().answers_size(), 23);
  EXPECT_EQ(config.vqa_head().answers(0), "red");
  EXPECT_EQ(config.vqa_head().answers(15), "rotate counterclockwise");
  EXPECT_EQ(config.vqa_head().answers(22), "three");
}

TEST(TrainingRecipeTest, ParsesVideoMaeMaskedPretrainingRecipe) {
  const auto recipe =
      ParseTestdata<TrainingRecipe>("videomae_pretrain_recipe.textproto");
  EXPECT_EQ(recipe.name(), "iv-tiny-mvm");
  EXPECT_EQ(recipe.objective_case(), TrainingRecipe::kMaskedVideoModeling);

  const MaskedVideoEncoderConfig& masked = recipe.model().masked_encoder();
  EXPECT_EQ(masked.embed_dim(), 192);
  ASSERT_TRUE(masked.has_decoder());
  EXPECT_EQ(masked.decoder().decoder_embed_dim(), 96);
  EXPECT_EQ(masked.decoder().decoder_depth(), 2);
  EXPECT_EQ(masked.decoder().decoder_num_heads(), 3);
  EXPECT_FLOAT_EQ(masked.decoder().mask_ratio(), 0.9f);
  ASSERT_TRUE(masked.decoder().has_normalize_target());
  EXPECT_TRUE(masked.decoder().normalize_target());
  // Unset optional booleans stay distinguishable from false.
  EXPECT_FALSE(masked.has_qkv_bias());

  ASSERT_EQ(recipe.train_data().manifests_size(), 1);
  EXPECT_EQ(recipe.train_data().manifests(0).path(),
            "data/synthworld/train/clips.jsonl");
  EXPECT_EQ(recipe.train_data().sampling().mode(), ClipSampling::MODE_DENSE);
  EXPECT_EQ(recipe.train_data().sampling().frame_interval(), 4);
  EXPECT_FALSE(recipe.has_eval_data());

  EXPECT_DOUBLE_EQ(recipe.optimizer().learning_rate(), 1.5e-4);
  EXPECT_DOUBLE_EQ(recipe.optimizer().weight_decay(), 0.05);
  EXPECT_DOUBLE_EQ(recipe.optimizer().beta2(), 0.95);
  EXPECT_EQ(recipe.schedule().warmup_steps(), 200);
  EXPECT_DOUBLE_EQ(recipe.schedule().min_lr(), 1e-5);
  EXPECT_EQ(recipe.global_batch_size(), 32);
  EXPECT_EQ(recipe.total_steps(), 3000);
  EXPECT_EQ(recipe.checkpoint_every_steps(), 500);
  EXPECT_EQ(recipe.keep_checkpoints(), 2);
  EXPECT_EQ(recipe.precision(), PRECISION_BF16);
  EXPECT_EQ(recipe.seed(), 1u);
  EXPECT_EQ(recipe.world_size(), 1);
  EXPECT_EQ(recipe.output_dir(), "runs/iv-tiny-mvm");
}

TEST(TrainingRecipeTest, ParsesRecognitionFinetuneRecipe) {
  const auto recipe =
      ParseTestdata<TrainingRecipe>("recognition_finetune_recipe.textproto");
  EXPECT_EQ(recipe.objective_case(), TrainingRecipe::kRecognition);
  EXPECT_FLOAT_EQ(recipe.recognition().label_smoothing(), 0.1f);
  EXPECT_EQ(recipe.model().class_names_size(), 10);
  EXPECT_FALSE(recipe.model().masked_encoder().has_decoder());
  EXPECT_FLOAT_EQ(recipe.model().masked_encoder().drop_path_rate(), 0.1f);

  ASSERT_EQ(recipe.init_size(), 1);
  EXPECT_EQ(recipe.init(0).path(), "runs/iv-tiny-mvm/checkpoints/step-3000");
  EXPECT_EQ(recipe.init(0).part(), MODEL_PART_MASKED_ENCODER);

  EXPECT_FALSE(recipe.train_data().horizontal_flip());
  ASSERT_TRUE(recipe.has_eval_data());
  EXPECT_EQ(recipe.eval_data().max_samples(), 300);
  EXPECT_DOUBLE_EQ(recipe.optimizer().layer_decay(), 0.75);
  EXPECT_DOUBLE_EQ(recipe.optimizer().grad_clip_norm(), 1.0);
  ASSERT_EQ(recipe.optimizer().no_weight_decay_size(), 1);
  EXPECT_EQ(recipe.optimizer().no_weight_decay(0), "head.");
  EXPECT_EQ(recipe.eval_every_steps(), 250);
  EXPECT_EQ(recipe.world_size(), 2);
}

TEST(TrainingRecipeTest, ParsesMultimodalPretrainingRecipe) {
  const auto recipe =
      ParseTestdata<TrainingRecipe>("multimodal_pretrain_recipe.textproto");
  EXPECT_EQ(recipe.objective_case(), TrainingRecipe::kMultimodalPretraining);
  ASSERT_TRUE(recipe.multimodal_pretraining().has_caption_loss_weight());
  EXPECT_FLOAT_EQ(recipe.multimodal_pretraining().caption_loss_weight(), 0.5f);
  EXPECT_FALSE(recipe.model().has_masked_encoder());
  EXPECT_EQ(recipe.model()
                .multimodal_encoder()
                .vision()
                .global_branch()
                .return_list_size(),
            2);
  ASSERT_EQ(recipe.train_data().manifests_size(), 2);
  EXPECT_FLOAT_EQ(recipe.train_data().manifests(1).weight(), 0.5f);
  EXPECT_EQ(recipe.precision(), PRECISION_FP32);
}

TEST(TrainingRecipeTest, RejectsMisspelledFieldAndNamesIt) {
  const std::string text = ReadTestdata("bad_field_recipe.textproto");
  // The 1-based line of the typo, found in the file itself.
  const size_t typo_at = text.find("  mask_ration:");
  ASSERT_NE(typo_at, std::string::npos);
  const int typo_line = 1 + static_cast<int>(std::count(
                                text.begin(), text.begin() + typo_at, '\n'));

  TrainingRecipe recipe;
  CollectErrors errors;
  EXPECT_FALSE(Parse(text, &recipe, &errors));
  EXPECT_NE(errors.Joined().find("no field named \"mask_ration\""),
            std::string::npos)
      << errors.Joined();
  EXPECT_EQ(errors.Joined().rfind(std::to_string(typo_line) + ":", 0), 0u)
      << "the error should point at line " << typo_line << ":\n"
      << errors.Joined();
}

TEST(TrainingRecipeTest, RejectsUnknownEnumValueAndWrongType) {
  TrainingRecipe recipe;
  CollectErrors enum_errors;
  EXPECT_FALSE(Parse("precision: PRECISION_FP16", &recipe, &enum_errors));
  EXPECT_NE(enum_errors.Joined().find("PRECISION_FP16"), std::string::npos)
      << enum_errors.Joined();

  CollectErrors type_errors;
  EXPECT_FALSE(Parse("total_steps: \"many\"", &recipe, &type_errors));
  EXPECT_FALSE(type_errors.empty());

  CollectErrors oneof_errors;
  EXPECT_FALSE(
      Parse("masked_video_modeling {} recognition {}", &recipe, &oneof_errors))
      << "two objectives of one oneof must not parse";
}

TEST(TrainingRecipeTest, TextFormatRoundTrips) {
  const auto recipe =
      ParseTestdata<TrainingRecipe>("recognition_finetune_recipe.textproto");
  std::string text;
  ASSERT_TRUE(TextFormat::PrintToString(recipe, &text));
  TrainingRecipe again;
  CollectErrors errors;
  ASSERT_TRUE(Parse(text, &again, &errors)) << errors.Joined();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(recipe, again))
      << text;
}

// Finds a method or fails the test.
const MethodDescriptor* Method(const std::string& service_full_name,
                               const std::string& method) {
  const ServiceDescriptor* service =
      DescriptorPool::generated_pool()->FindServiceByName(service_full_name);
  EXPECT_NE(service, nullptr) << service_full_name;
  if (service == nullptr) return nullptr;
  const MethodDescriptor* m = service->FindMethodByName(method);
  EXPECT_NE(m, nullptr) << service_full_name << "." << method;
  return m;
}

struct ExpectedRpc {
  const char* method;
  bool client_streaming;
  bool server_streaming;
};

void ExpectRpcs(const std::string& service_full_name,
                const std::vector<ExpectedRpc>& rpcs) {
  const ServiceDescriptor* service =
      DescriptorPool::generated_pool()->FindServiceByName(service_full_name);
  ASSERT_NE(service, nullptr) << service_full_name;
  EXPECT_EQ(service->method_count(), static_cast<int>(rpcs.size()))
      << service_full_name << " has RPCs this test does not know";
  for (const ExpectedRpc& rpc : rpcs) {
    const MethodDescriptor* m = Method(service_full_name, rpc.method);
    if (m == nullptr) continue;
    EXPECT_EQ(m->client_streaming(), rpc.client_streaming) << m->full_name();
    EXPECT_EQ(m->server_streaming(), rpc.server_streaming) << m->full_name();
  }
}

TEST(ApiShapeTest, ServicesHaveTheirRpcs) {
  ExpectRpcs(EncoderService::service_full_name(),
             {{"EmbedVideo", false, false},
              {"EmbedVideoStream", true, false},
              {"BatchEmbedVideos", false, false},
              {"EmbedText", false, false},
              {"GetModelInfo", false, false}});
  ExpectRpcs(IndexService::service_full_name(),
             {{"CreateCollection", false, false},
              {"GetCollection", false, false},
              {"ListCollections", false, false},
              {"DeleteCollection", false, false},
              {"Upsert", false, false},
              {"Delete", false, false},
              {"Get", false, false},
              {"Search", false, false},
              {"GetStats", false, false},
              {"Snapshot", false, false}});
  ExpectRpcs(TrainerService::service_full_name(),
             {{"SubmitJob", false, false},
              {"GetJob", false, false},
              {"ListJobs", false, false},
              {"WatchJob", false, true},
              {"CancelJob", false, false},
              {"ListCheckpoints", false, false}});
  ExpectRpcs(RecognitionService::service_full_name(),
             {{"Recognize", false, false}});
  ExpectRpcs(LocalizationService::service_full_name(),
             {{"Localize", false, false}});
  ExpectRpcs(VQAService::service_full_name(),
             {{"AnswerQuestion", false, false}});
  ExpectRpcs(
      CaptionerService::service_full_name(),
      {{"CaptionVideo", false, false}, {"BatchCaptionVideos", false, false}});
}

TEST(ApiShapeTest, VideoSourceOffersPathBytesAndChunkedStream) {
  const Descriptor* d = VideoSource::descriptor();
  ASSERT_NE(d->FindOneofByName("source"), nullptr);
  EXPECT_EQ(d->FindOneofByName("source")->field_count(), 3);
  EXPECT_NE(d->FindFieldByName("path"), nullptr);
  EXPECT_NE(d->FindFieldByName("content"), nullptr);
  EXPECT_NE(d->FindFieldByName("chunked"), nullptr);
}

// "CamelCase" -> "CAMEL_CASE".
std::string UpperSnake(const std::string& camel) {
  std::string out;
  for (size_t i = 0; i < camel.size(); ++i) {
    const char c = camel[i];
    if (std::isupper(static_cast<unsigned char>(c)) && i > 0 &&
        (std::islower(static_cast<unsigned char>(camel[i - 1])) ||
         (i + 1 < camel.size() &&
          std::islower(static_cast<unsigned char>(camel[i + 1]))))) {
      out += '_';
    }
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

bool IsSnakeCase(const std::string& name) {
  if (name.empty() || !std::islower(static_cast<unsigned char>(name[0]))) {
    return false;
  }
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
      return false;
    }
  }
  return true;
}

void CheckEnum(const EnumDescriptor* e) {
  const std::string prefix = UpperSnake(e->name()) + "_";
  ASSERT_GT(e->value_count(), 0) << e->full_name();
  EXPECT_EQ(e->value(0)->number(), 0) << e->full_name();
  EXPECT_EQ(e->value(0)->name(), prefix + "UNSPECIFIED") << e->full_name();
  for (int i = 0; i < e->value_count(); ++i) {
    EXPECT_EQ(e->value(i)->name().rfind(prefix, 0), 0u)
        << e->value(i)->full_name() << " should start with " << prefix;
  }
}

void CheckMessage(const Descriptor* d) {
  for (int i = 0; i < d->field_count(); ++i) {
    EXPECT_TRUE(IsSnakeCase(d->field(i)->name())) << d->field(i)->full_name();
  }
  for (int i = 0; i < d->enum_type_count(); ++i) CheckEnum(d->enum_type(i));
  for (int i = 0; i < d->nested_type_count(); ++i) {
    if (d->nested_type(i)->options().map_entry()) continue;
    CheckMessage(d->nested_type(i));
  }
}

TEST(ApiConventionsTest, EveryFileFollowsTheStyle) {
  const std::vector<const FileDescriptor*> files = {
      VideoSource::descriptor()->file(),
      ModelConfig::descriptor()->file(),
      TrainingRecipe::descriptor()->file(),
      EmbedVideoRequest::descriptor()->file(),
      SearchRequest::descriptor()->file(),
      SubmitJobRequest::descriptor()->file(),
      RecognizeRequest::descriptor()->file(),
      CaptionVideoRequest::descriptor()->file(),
  };
  for (const FileDescriptor* file : files) {
    SCOPED_TRACE(file->name());
    EXPECT_EQ(file->package(), "internvideo.v1");
    EXPECT_EQ(file->name().rfind("protos/", 0), 0u);
    EXPECT_EQ(file->syntax(), FileDescriptor::SYNTAX_PROTO3);
    for (int i = 0; i < file->enum_type_count(); ++i) {
      CheckEnum(file->enum_type(i));
    }
    for (int i = 0; i < file->message_type_count(); ++i) {
      CheckMessage(file->message_type(i));
    }
    for (int s = 0; s < file->service_count(); ++s) {
      const ServiceDescriptor* service = file->service(s);
      EXPECT_EQ(service->name().size() > 7 &&
                    service->name().compare(service->name().size() - 7, 7,
                                            "Service") == 0,
                true)
          << service->full_name();
      for (int m = 0; m < service->method_count(); ++m) {
        const MethodDescriptor* method = service->method(m);
        EXPECT_EQ(method->input_type()->name(), method->name() + "Request")
            << method->full_name();
      }
    }
  }
}

}  // namespace
}  // namespace internvideo::v1
