#include "task_service/task_service.h"

#include "common/serving/status.h"

namespace iv::tasks {
namespace {

using serving::Reply;

}  // namespace

grpc::Status RecognitionServiceImpl::Recognize(
    grpc::ServerContext*, const internvideo::v1::RecognizeRequest* request,
    internvideo::v1::RecognizeResponse* response) {
  return Reply(recognizer_->Recognize(*request), response);
}

grpc::Status LocalizationServiceImpl::Localize(
    grpc::ServerContext*, const internvideo::v1::LocalizeRequest* request,
    internvideo::v1::LocalizeResponse* response) {
  return Reply(localizer_->Localize(*request), response);
}

grpc::Status VqaServiceImpl::AnswerQuestion(
    grpc::ServerContext*, const internvideo::v1::AnswerQuestionRequest* request,
    internvideo::v1::AnswerQuestionResponse* response) {
  return Reply(answerer_->AnswerQuestion(*request), response);
}

}  // namespace iv::tasks
