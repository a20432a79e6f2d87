#include "task_service/task_service.h"

#include "common/serving/status.h"

namespace iv::tasks {
namespace {

using serving::CancelledBy;
using serving::Reply;

}  // namespace

grpc::Status RecognitionServiceImpl::Recognize(
    grpc::ServerContext* context,
    const internvideo::v1::RecognizeRequest* request,
    internvideo::v1::RecognizeResponse* response) {
  return Reply(recognizer_->Recognize(*request, CancelledBy(context)),
               response);
}

grpc::Status LocalizationServiceImpl::Localize(
    grpc::ServerContext* context,
    const internvideo::v1::LocalizeRequest* request,
    internvideo::v1::LocalizeResponse* response) {
  return Reply(localizer_->Localize(*request, CancelledBy(context)), response);
}

grpc::Status VqaServiceImpl::AnswerQuestion(
    grpc::ServerContext* context,
    const internvideo::v1::AnswerQuestionRequest* request,
    internvideo::v1::AnswerQuestionResponse* response) {
  return Reply(answerer_->AnswerQuestion(*request, CancelledBy(context)),
               response);
}

}  // namespace iv::tasks
