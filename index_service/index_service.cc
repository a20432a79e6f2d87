#include "index_service/index_service.h"

#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/serving/status.h"

namespace iv::index {

using serving::ToGrpcStatus;

IndexServiceImpl::IndexServiceImpl(IndexStore* store,
                                   IndexServiceOptions options)
    : store_(store), options_(std::move(options)) {
  if (options_.encoder.has_value()) {
    encoder_ =
        internvideo::v1::EncoderService::NewStub(options_.encoder->channel());
  }
}

grpc::Status IndexServiceImpl::CreateCollection(
    grpc::ServerContext*,
    const internvideo::v1::CreateCollectionRequest* request,
    internvideo::v1::Collection* response) {
  absl::StatusOr<internvideo::v1::Collection> created =
      store_->CreateCollection(request->collection());
  if (!created.ok()) return ToGrpcStatus(created.status());
  *response = *std::move(created);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::GetCollection(
    grpc::ServerContext*, const internvideo::v1::GetCollectionRequest* request,
    internvideo::v1::Collection* response) {
  absl::StatusOr<internvideo::v1::Collection> found =
      store_->GetCollection(request->name());
  if (!found.ok()) return ToGrpcStatus(found.status());
  *response = *std::move(found);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::ListCollections(
    grpc::ServerContext*, const internvideo::v1::ListCollectionsRequest*,
    internvideo::v1::ListCollectionsResponse* response) {
  for (internvideo::v1::Collection& collection : store_->ListCollections()) {
    *response->add_collections() = std::move(collection);
  }
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::DeleteCollection(
    grpc::ServerContext*,
    const internvideo::v1::DeleteCollectionRequest* request,
    internvideo::v1::DeleteCollectionResponse*) {
  return ToGrpcStatus(store_->DeleteCollection(request->name()));
}

grpc::Status IndexServiceImpl::Upsert(
    grpc::ServerContext*, const internvideo::v1::UpsertRequest* request,
    internvideo::v1::UpsertResponse* response) {
  absl::StatusOr<int64_t> count = store_->Upsert(*request);
  if (!count.ok()) return ToGrpcStatus(count.status());
  response->set_upserted_count(*count);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::Delete(
    grpc::ServerContext*, const internvideo::v1::DeleteRequest* request,
    internvideo::v1::DeleteResponse* response) {
  absl::StatusOr<int64_t> count = store_->Delete(*request);
  if (!count.ok()) return ToGrpcStatus(count.status());
  response->set_deleted_count(*count);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::Get(grpc::ServerContext*,
                                   const internvideo::v1::GetRequest* request,
                                   internvideo::v1::GetResponse* response) {
  absl::StatusOr<internvideo::v1::GetResponse> found = store_->Get(*request);
  if (!found.ok()) return ToGrpcStatus(found.status());
  *response = *std::move(found);
  return grpc::Status::OK;
}

namespace {

// The encoder's failure as the index's answer: what the caller can fix
// (its input, its credentials, a limit) keeps its code, said to come from
// the encoder; an encoder that is down or slow is UNAVAILABLE; its internal
// failures are logged here and not passed on.
absl::Status FromEncoder(const grpc::Status& status,
                         const std::string& address) {
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kCancelled:
      return absl::Status(code, absl::StrCat("the encoder service refused "
                                             "the query: ",
                                             status.error_message()));
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
      return absl::UnavailableError(absl::StrCat(
          "encoder service unavailable (", absl::StatusCodeToString(code),
          "); retry with backoff"));
    default:
      std::fprintf(stderr, "index_service: encoder service at %s: %s: %s\n",
                   address.c_str(), absl::StatusCodeToString(code).c_str(),
                   status.error_message().c_str());
      return absl::InternalError(absl::StrCat(
          "the encoder service failed to embed the query (",
          absl::StatusCodeToString(code), "); its log has the details"));
  }
}

}  // namespace

absl::StatusOr<internvideo::v1::Embedding> IndexServiceImpl::EmbedQuery(
    const grpc::ServerContext& caller,
    const internvideo::v1::SearchRequest& request,
    const std::string& model_id) {
  if (encoder_ == nullptr) {
    return absl::FailedPreconditionError(
        "text and video queries are embedded by the encoder service: start "
        "index_server with --encoder-address HOST:PORT");
  }
  // The caller's deadline and cancellation carry over to the encoder.
  std::unique_ptr<grpc::ClientContext> context =
      grpc::ClientContext::FromServerContext(caller);
  context->set_deadline(
      absl::ToChronoTime(absl::Now() + options_.encoder_timeout));
  // The encoder judges the caller's own credentials (a confused deputy
  // otherwise: a caller could have the encoder read any path the index's
  // key may read). Without any, text and inline videos go with the index's
  // key; a video path never does.
  auto authorization = caller.client_metadata().find("authorization");
  if (authorization != caller.client_metadata().end()) {
    context->AddMetadata("authorization",
                         std::string(authorization->second.data(),
                                     authorization->second.size()));
  } else if (!options_.encoder_api_key.empty() &&
             !(request.query_case() == internvideo::v1::SearchRequest::kVideo &&
               request.video().has_path())) {
    context->AddMetadata("authorization",
                         absl::StrCat("Bearer ", options_.encoder_api_key));
  }
  if (request.query_case() == internvideo::v1::SearchRequest::kText) {
    internvideo::v1::EmbedTextRequest embed;
    embed.add_texts(request.text());
    embed.set_model_id(model_id);
    internvideo::v1::EmbedTextResponse embedded;
    grpc::Status status = encoder_->EmbedText(context.get(), embed, &embedded);
    if (!status.ok()) return FromEncoder(status, options_.encoder->address());
    if (embedded.embeddings_size() != 1) {
      return absl::InternalError(
          "the encoder service returned no embedding for the text");
    }
    return embedded.embeddings(0);
  }
  internvideo::v1::EmbedVideoRequest embed;
  *embed.mutable_video() = request.video();
  embed.set_model_id(model_id);
  internvideo::v1::EmbedVideoResponse embedded;
  grpc::Status status = encoder_->EmbedVideo(context.get(), embed, &embedded);
  if (!status.ok()) return FromEncoder(status, options_.encoder->address());
  return embedded.video_embedding();
}

grpc::Status IndexServiceImpl::Search(
    grpc::ServerContext* context, const internvideo::v1::SearchRequest* request,
    internvideo::v1::SearchResponse* response) {
  if (request->query_case() == internvideo::v1::SearchRequest::kVector) {
    absl::StatusOr<internvideo::v1::SearchResponse> found =
        store_->Search(*request);
    if (!found.ok()) return ToGrpcStatus(found.status());
    *response = *std::move(found);
    return grpc::Status::OK;
  }
  if (request->query_case() == internvideo::v1::SearchRequest::QUERY_NOT_SET) {
    return ToGrpcStatus(serving::InvalidField(
        "query", "exactly one of vector, text or video is required"));
  }
  if (request->query_case() == internvideo::v1::SearchRequest::kText) {
    if (request->text().empty()) {
      return ToGrpcStatus(serving::InvalidField("text", "empty"));
    }
    if (request->text().size() > static_cast<size_t>(options_.max_text_bytes)) {
      return ToGrpcStatus(serving::InvalidField(
          "text", absl::StrCat(request->text().size(), " bytes, the limit is ",
                               options_.max_text_bytes)));
    }
  }
  // The collection names the model; unknown collections fail before the
  // encoder is asked anything.
  absl::StatusOr<internvideo::v1::Collection> collection =
      store_->GetCollection(request->collection());
  if (!collection.ok()) return ToGrpcStatus(collection.status());
  absl::StatusOr<internvideo::v1::Embedding> embedding =
      EmbedQuery(*context, *request, collection->model_id());
  if (!embedding.ok()) return ToGrpcStatus(embedding.status());
  internvideo::v1::SearchRequest by_vector = *request;
  *by_vector.mutable_vector() = *embedding;
  absl::StatusOr<internvideo::v1::SearchResponse> found =
      store_->Search(by_vector);
  if (!found.ok()) return ToGrpcStatus(found.status());
  *response = *std::move(found);
  *response->mutable_query_model() = embedding->model();
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::GetStats(
    grpc::ServerContext*, const internvideo::v1::GetStatsRequest* request,
    internvideo::v1::CollectionStats* response) {
  absl::StatusOr<internvideo::v1::CollectionStats> stats =
      store_->GetStats(request->collection());
  if (!stats.ok()) return ToGrpcStatus(stats.status());
  *response = *std::move(stats);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::Snapshot(
    grpc::ServerContext*, const internvideo::v1::SnapshotRequest* request,
    internvideo::v1::SnapshotResponse* response) {
  absl::StatusOr<internvideo::v1::SnapshotResponse> snapshot =
      store_->Snapshot(request->collection());
  if (!snapshot.ok()) return ToGrpcStatus(snapshot.status());
  *response = *std::move(snapshot);
  return grpc::Status::OK;
}

}  // namespace iv::index
