#include "server/remote/sender/poster.h"

#include "absl/strings/match.h"
#include "alerting/notifier/http_client.h"

namespace vigil::server::remote::sender {
namespace {

class HttpPoster : public Poster {
 public:
  absl::StatusOr<PostResponse> Post(const PostRequest& req,
                                    absl::Duration timeout) override {
    alerting::notifier::HttpRequest hr;
    hr.url = req.url;
    hr.body = req.body;
    for (const auto& [k, v] : req.headers) {
      if (absl::EqualsIgnoreCase(k, "Content-Type")) {
        hr.content_type = v;
      } else {
        hr.headers.emplace_back(k, v);
      }
    }
    absl::StatusOr<alerting::notifier::HttpResponse> r =
        alerting::notifier::HttpPost(hr, timeout);
    if (!r.ok()) return r.status();
    return PostResponse{r->status, std::move(r->body)};
  }
};

}  // namespace

std::unique_ptr<Poster> NewHttpPoster() {
  return std::make_unique<HttpPoster>();
}

}  // namespace vigil::server::remote::sender
