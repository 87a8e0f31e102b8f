#include "server/remote/sender/poster.h"

#include <utility>

namespace vigil::server::remote::sender {
namespace {

class HttpPoster : public Poster {
 public:
  explicit HttpPoster(std::shared_ptr<net::HttpClient> client)
      : client_(std::move(client)) {}

  absl::StatusOr<PostResponse> Post(const PostRequest& req,
                                    absl::Duration timeout) override {
    net::Request r;
    r.method = "POST";
    r.url = req.url;
    r.headers = req.headers;
    r.body = req.body;
    r.timeout = timeout;
    r.accept_gzip = false;  // receivers answer with short plain bodies
    net::Response resp;
    absl::Status s = client_->Do(r, &resp);
    if (!s.ok()) return s;
    return PostResponse{resp.status, std::move(resp.body)};
  }

 private:
  const std::shared_ptr<net::HttpClient> client_;
};

}  // namespace

std::unique_ptr<Poster> NewHttpPoster() {
  // Default options load no files, so this cannot fail.
  return NewHttpPoster(*net::HttpClient::Create());
}

std::unique_ptr<Poster> NewHttpPoster(std::shared_ptr<net::HttpClient> client) {
  return std::make_unique<HttpPoster>(std::move(client));
}

}  // namespace vigil::server::remote::sender
