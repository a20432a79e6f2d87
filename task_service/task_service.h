// The gRPC layer of the task services (protos/task_service.proto): each
// converts statuses; Recognizer, Localizer and QuestionAnswerer do the work.
#ifndef TASK_SERVICE_TASK_SERVICE_H_
#define TASK_SERVICE_TASK_SERVICE_H_

#include "protos/task_service.grpc.pb.h"
#include "task_service/localizer.h"
#include "task_service/question_answerer.h"
#include "task_service/recognizer.h"

namespace iv::tasks {

class RecognitionServiceImpl final
    : public internvideo::v1::RecognitionService::Service {
 public:
  // `recognizer` is not owned and must outlive the service.
  explicit RecognitionServiceImpl(const Recognizer* recognizer)
      : recognizer_(recognizer) {}

  grpc::Status Recognize(grpc::ServerContext* context,
                         const internvideo::v1::RecognizeRequest* request,
                         internvideo::v1::RecognizeResponse* response) override;

 private:
  const Recognizer* recognizer_;
};

class LocalizationServiceImpl final
    : public internvideo::v1::LocalizationService::Service {
 public:
  // `localizer` is not owned and must outlive the service.
  explicit LocalizationServiceImpl(Localizer* localizer)
      : localizer_(localizer) {}

  grpc::Status Localize(grpc::ServerContext* context,
                        const internvideo::v1::LocalizeRequest* request,
                        internvideo::v1::LocalizeResponse* response) override;

 private:
  Localizer* localizer_;
};

class VqaServiceImpl final : public internvideo::v1::VQAService::Service {
 public:
  // `answerer` is not owned and must outlive the service.
  explicit VqaServiceImpl(const QuestionAnswerer* answerer)
      : answerer_(answerer) {}

  grpc::Status AnswerQuestion(
      grpc::ServerContext* context,
      const internvideo::v1::AnswerQuestionRequest* request,
      internvideo::v1::AnswerQuestionResponse* response) override;

 private:
  const QuestionAnswerer* answerer_;
};

}  // namespace iv::tasks

#endif  // TASK_SERVICE_TASK_SERVICE_H_
