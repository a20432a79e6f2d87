// IndexService over gRPC: a thin layer over IndexStore. Text and video
// queries are embedded through the encoder service (EmbedText /
// EmbedVideo) with the collection's model, on the caller's credentials,
// then searched by vector.
#ifndef INDEX_SERVICE_INDEX_SERVICE_H_
#define INDEX_SERVICE_INDEX_SERVICE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "common/serving/connection.h"
#include "index_service/index_store.h"
#include "protos/encoder_service.grpc.pb.h"
#include "protos/index_service.grpc.pb.h"

namespace iv::index {

struct IndexServiceOptions {
  // The encoder service; unset: text and video queries are refused with
  // FAILED_PRECONDITION.
  std::optional<serving::Connection> encoder;
  // The index's own key for the encoder: sent only with text and inline
  // video queries whose caller sent no credentials (a caller's
  // "authorization" is forwarded as it is; a video path is never embedded
  // on the index's authority).
  std::string encoder_api_key;
  // How long an embedding call may take.
  absl::Duration encoder_timeout = absl::Seconds(120);
  // Longest query text in bytes (the encoder truncates to its context, so
  // anything longer is a mistake, not a query).
  int max_text_bytes = 4096;
};

class IndexServiceImpl final : public internvideo::v1::IndexService::Service {
 public:
  // `store` is not owned and must outlive the service.
  IndexServiceImpl(IndexStore* store, IndexServiceOptions options);

  grpc::Status CreateCollection(
      grpc::ServerContext* context,
      const internvideo::v1::CreateCollectionRequest* request,
      internvideo::v1::Collection* response) override;
  grpc::Status GetCollection(
      grpc::ServerContext* context,
      const internvideo::v1::GetCollectionRequest* request,
      internvideo::v1::Collection* response) override;
  grpc::Status ListCollections(
      grpc::ServerContext* context,
      const internvideo::v1::ListCollectionsRequest* request,
      internvideo::v1::ListCollectionsResponse* response) override;
  grpc::Status DeleteCollection(
      grpc::ServerContext* context,
      const internvideo::v1::DeleteCollectionRequest* request,
      internvideo::v1::DeleteCollectionResponse* response) override;
  grpc::Status Upsert(grpc::ServerContext* context,
                      const internvideo::v1::UpsertRequest* request,
                      internvideo::v1::UpsertResponse* response) override;
  grpc::Status Delete(grpc::ServerContext* context,
                      const internvideo::v1::DeleteRequest* request,
                      internvideo::v1::DeleteResponse* response) override;
  grpc::Status Get(grpc::ServerContext* context,
                   const internvideo::v1::GetRequest* request,
                   internvideo::v1::GetResponse* response) override;
  grpc::Status Search(grpc::ServerContext* context,
                      const internvideo::v1::SearchRequest* request,
                      internvideo::v1::SearchResponse* response) override;
  grpc::Status GetStats(grpc::ServerContext* context,
                        const internvideo::v1::GetStatsRequest* request,
                        internvideo::v1::CollectionStats* response) override;
  grpc::Status Snapshot(grpc::ServerContext* context,
                        const internvideo::v1::SnapshotRequest* request,
                        internvideo::v1::SnapshotResponse* response) override;

 private:
  // The embedding of a text or video query, made by the encoder service
  // with `model_id` on the credentials of `caller`.
  absl::StatusOr<internvideo::v1::Embedding> EmbedQuery(
      const grpc::ServerContext& caller,
      const internvideo::v1::SearchRequest& request,
      const std::string& model_id);

  IndexStore* const store_;
  const IndexServiceOptions options_;
  std::unique_ptr<internvideo::v1::EncoderService::Stub> encoder_;
};

}  // namespace iv::index

#endif  // INDEX_SERVICE_INDEX_SERVICE_H_
