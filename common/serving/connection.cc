#include "common/serving/connection.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace iv::serving {

absl::StatusOr<Connection> Connection::Open(const std::string& address,
                                            const ConnectionOptions& options) {
  if (address.empty()) {
    return absl::InvalidArgumentError("address: must be host:port");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca_path.empty()) {
      std::ifstream in(options.tls_ca_path, std::ios::binary);
      if (!in) {
        return absl::NotFoundError(
            absl::StrCat("tls_ca: cannot read '", options.tls_ca_path, "'"));
      }
      std::stringstream pem;
      pem << in.rdbuf();
      ssl.pem_root_certs = pem.str();
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(options.max_message_bytes);
  arguments.SetMaxSendMessageSize(options.max_message_bytes);
  return Connection(address, options.api_key,
                    grpc::CreateCustomChannel(address, credentials, arguments));
}

std::unique_ptr<grpc::ClientContext> Connection::NewContext(
    absl::Duration timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (!api_key_.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", api_key_));
  }
  return context;
}

}  // namespace iv::serving
