#include "server/api/silences_api.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "alerting/alerting.h"
#include "alerting/clock.h"
#include "alerting/notifier/webhook_receiver.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "re2/re2.h"
#include "server/api/api.h"
#include "server/e2e/e2e_util.h"
#include "server/http/http_server.h"
#include "server/http/router.h"
#include "server/http/test_client.h"

namespace vigil::server::api {
namespace {

constexpr int64_t kT0 = 1714152065000;  // 2024-04-26T17:21:05Z
constexpr int64_t kSec = 1000;
constexpr int64_t kHour = 3600 * kSec;

std::string Tmp() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t != nullptr ? t : "/tmp";
}

// The built-in Alertmanager of an AlertingService (no rules), with the
// v2 API on a router.
class Stack {
 public:
  Stack(alerting::Clock* clock, const std::string& dir,
        const std::string& webhook_url) {
    std::string am = dir + "/alertmanager.yml";
    std::ofstream(am) << "route:\n"
                         "  receiver: webhook\n"
                         "  group_by: [alertname]\n"
                         "  group_wait: 1s\n"
                         "receivers:\n"
                         "  - name: webhook\n"
                         "    webhook_configs:\n"
                         "      - url: "
                      << webhook_url << "\n";
    alerting::AlertingOptions o;
    o.rules.query = [](absl::string_view, int64_t) {
      return absl::StatusOr<promql::Vector>(promql::Vector{});
    };
    o.rules.clock = clock;
    o.alertmanager_config_file = am;
    o.silences_file = dir + "/silences.json";
    auto s = alerting::AlertingService::Create(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status();
    service = *std::move(s);
    ApiOptions ao;
    ao.now_ms = [clock] { return clock->NowMs(); };
    ApiHooks hooks;
    hooks.alerting = [this] { return service.get(); };
    api = std::make_unique<Api>(ao, nullptr, nullptr, hooks);
    api->Register(&router);
  }

  http::Response Do(const std::string& method, const std::string& target,
                    const std::string& body = "") {
    http::Request req;
    req.method = method;
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) {
      req.raw_query = target.substr(q + 1);
      req.form = *http::ParseUrlEncoded(req.raw_query);
    }
    req.body = body;
    return router.Dispatch(&req);
  }

  std::unique_ptr<alerting::AlertingService> service;
  std::unique_ptr<Api> api;
  http::Router router;
};

std::string IdOf(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.contains("silenceID")) return "";
  return j["silenceID"];
}

std::string SilenceBody(const std::string& start, const std::string& end,
                        const std::string& id = "") {
  return absl::StrCat(
      "{", id.empty() ? "" : absl::StrCat("\"id\":\"", id, "\","),
      R"("matchers":[{"name":"alertname","value":"Nginx.*","isRegex":true,"isEqual":true},)",
      R"({"name":"job","value":"nginx","isRegex":false}],)", "\"startsAt\":\"",
      start, "\",\"endsAt\":\"", end,
      R"(","createdBy":"ops","comment":"deploy <&>"})");
}

std::string IdOf(const http::Response& r) { return IdOf(r.body); }

class SilencesApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = Tmp() + "/" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::system(("rm -rf " + dir_ + " && mkdir -p " + dir_).c_str());
  }
  alerting::FakeClock clock_{kT0};
  std::string dir_;
};

// GET /api/v1/alertmanagers from an Api whose alerting hook returns `svc`.
http::Response GetAlertmanagers(alerting::AlertingService* svc) {
  http::Router router;
  ApiHooks hooks;
  hooks.alerting = [svc] { return svc; };
  Api api(ApiOptions{}, nullptr, nullptr, hooks);
  api.Register(&router);
  http::Request req;
  req.method = "GET";
  req.path = "/api/v1/alertmanagers";
  return router.Dispatch(&req);
}

// /api/v1/alertmanagers lists the alerts URLs forwarded to and the dropped
// ones, as Prometheus does; without an alerting service the lists are empty.
TEST_F(SilencesApiTest, AlertmanagersListsForwardingURLs) {
  alerting::AlertingOptions o;
  o.rules.query = [](absl::string_view, int64_t) {
    return absl::StatusOr<promql::Vector>(promql::Vector{});
  };
  o.rules.clock = &clock_;
  o.alertmanager_urls = {"http://am1:9093/", "https://am2:9093/prefix"};
  auto svc = alerting::AlertingService::Create(std::move(o));
  ASSERT_TRUE(svc.ok()) << svc.status();
  for (bool with_service : {true, false}) {
    http::Response r = GetAlertmanagers(with_service ? svc->get() : nullptr);
    EXPECT_EQ(r.status, 200);
    nlohmann::json j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["status"], "success");
    EXPECT_EQ(j["data"]["droppedAlertmanagers"], nlohmann::json::array());
    if (with_service) {
      EXPECT_EQ(j["data"]["activeAlertmanagers"],
                nlohmann::json::parse(
                    R"([{"url":"http://am1:9093/api/v2/alerts"},)"
                    R"({"url":"https://am2:9093/prefix/api/v2/alerts"}])"));
    } else {
      EXPECT_EQ(j["data"]["activeAlertmanagers"], nlohmann::json::array());
    }
  }
  // Discovered Alertmanagers that relabeling dropped are listed too.
  (*svc)->SetAlertmanagers({"http://am1:9093/api/v2/alerts"}, {},
                           {"http://am3:9093/api/v2/alerts"});
  nlohmann::json j = nlohmann::json::parse(GetAlertmanagers(svc->get()).body);
  EXPECT_EQ(
      j["data"]["activeAlertmanagers"],
      nlohmann::json::parse(R"([{"url":"http://am1:9093/api/v2/alerts"}])"));
  EXPECT_EQ(
      j["data"]["droppedAlertmanagers"],
      nlohmann::json::parse(R"([{"url":"http://am3:9093/api/v2/alerts"}])"));
}

TEST_F(SilencesApiTest, NotServedWithoutBuiltInAlertmanager) {
  http::Router router;
  ApiHooks hooks;
  hooks.alerting = [] { return nullptr; };
  Api api(ApiOptions{}, nullptr, nullptr, hooks);
  api.Register(&router);
  http::Request req;
  req.method = "GET";
  req.path = "/api/v2/silences";
  http::Response r = router.Dispatch(&req);
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("--alerting.config.file"), std::string::npos);
}

TEST_F(SilencesApiTest, CreateListGetUpdateExpireInAlertmanagersShape) {
  Stack s(&clock_, dir_, "http://127.0.0.1:1/");
  http::Response r =
      s.Do("POST", "/api/v2/silences",
           SilenceBody("2024-04-26T17:00:00Z", "2024-04-26T18:21:05Z"));
  ASSERT_EQ(r.status, 200) << r.body;
  std::string id = IdOf(r);
  ASSERT_EQ(id.size(), 36u) << r.body;
  EXPECT_EQ(r.body, "{\"silenceID\":\"" + id + "\"}\n");

  // Start in the past moved to now; Go's escaping; keys in Alertmanager's
  // order; times with milliseconds.
  std::string want =
      "{\"id\":\"" + id +
      "\",\"status\":{\"state\":\"active\"},"
      "\"updatedAt\":\"2024-04-26T17:21:05.000Z\","
      "\"comment\":\"deploy \\u003c\\u0026\\u003e\",\"createdBy\":\"ops\","
      "\"endsAt\":\"2024-04-26T18:21:05.000Z\","
      "\"matchers\":[{\"isEqual\":true,\"isRegex\":true,\"name\":"
      "\"alertname\",\"value\":\"Nginx.*\"},{\"isEqual\":true,\"isRegex\":"
      "false,\"name\":\"job\",\"value\":\"nginx\"}],"
      "\"startsAt\":\"2024-04-26T17:21:05.000Z\"}";
  r = s.Do("GET", "/api/v2/silences");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type.find("application/json"), 0u);
  EXPECT_EQ(r.body, "[" + want + "]\n");
  r = s.Do("GET", "/api/v2/silence/" + id);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, want + "\n");

  // Filters match the silence's own matchers.
  EXPECT_EQ(s.Do("GET", "/api/v2/silences?filter=job%3D%22nginx%22").body,
            "[" + want + "]\n");
  EXPECT_EQ(s.Do("GET", "/api/v2/silences?filter=job%3D%22db%22").body, "[]\n");
  EXPECT_EQ(s.Do("GET", "/api/v2/silences?filter=%7B%7D%3D").status, 400);

  // Extending an active silence keeps its id.
  clock_.SetMs(kT0 + 10 * kSec);
  r = s.Do("POST", "/api/v2/silences",
           SilenceBody("2024-04-26T17:21:05Z", "2024-04-26T19:00:00Z", id));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(IdOf(r), id);
  nlohmann::json got =
      nlohmann::json::parse(s.Do("GET", "/api/v2/silence/" + id).body);
  EXPECT_EQ(got["endsAt"], "2024-04-26T19:00:00.000Z");
  EXPECT_EQ(got["updatedAt"], "2024-04-26T17:21:15.000Z");

  // A pending silence sorts after active ones.
  r = s.Do("POST", "/api/v2/silences",
           SilenceBody("2024-04-26T20:00:00Z", "2024-04-26T21:00:00Z"));
  std::string pending = IdOf(r);
  ASSERT_FALSE(pending.empty()) << r.body;

  // Expire: 200, state expired, end = now; again: still 200.
  EXPECT_EQ(s.Do("DELETE", "/api/v2/silence/" + id).status, 200);
  EXPECT_EQ(s.Do("DELETE", "/api/v2/silence/" + id).status, 200);
  got = nlohmann::json::parse(s.Do("GET", "/api/v2/silence/" + id).body);
  EXPECT_EQ(got["status"]["state"], "expired");
  EXPECT_EQ(got["endsAt"], "2024-04-26T17:21:15.000Z");
  nlohmann::json list =
      nlohmann::json::parse(s.Do("GET", "/api/v2/silences").body);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["id"], pending);
  EXPECT_EQ(list[0]["status"]["state"], "pending");
  EXPECT_EQ(list[1]["status"]["state"], "expired");

  // Unknown and malformed ids.
  std::string unknown = "00000000-0000-4000-8000-000000000000";
  r = s.Do("GET", "/api/v2/silence/" + unknown);
  EXPECT_EQ(r.status, 404);
  r = s.Do("DELETE", "/api/v2/silence/" + unknown);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "\"silence not found\"\n");
  r = s.Do("GET", "/api/v2/silence/xyz");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body,
            "{\"code\":601,\"message\":\"silenceID in path must be of type "
            "uuid: \\\"xyz\\\"\"}\n");
  r = s.Do(
      "POST", "/api/v2/silences",
      SilenceBody("2024-04-26T17:21:05Z", "2024-04-26T19:00:00Z", unknown));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "\"silence not found\"\n");
}

TEST_F(SilencesApiTest, ValidationErrorsAre400WithTheReason) {
  Stack s(&clock_, dir_, "http://127.0.0.1:1/");
  struct Case {
    std::string body;
    std::string want;
  };
  std::vector<Case> cases = {
      {SilenceBody("2024-04-26T19:00:00Z", "2024-04-26T18:00:00Z"),
       "\"Failed to create silence: start time must be before end time\"\n"},
      {SilenceBody("2024-04-26T16:00:00Z", "2024-04-26T17:00:00Z"),
       "\"Failed to create silence: end time can't be in the past\"\n"},
      {R"({"matchers":[{"name":"a","value":"","isRegex":false}],"startsAt":"2024-04-26T17:21:05Z","endsAt":"2024-04-26T19:00:00Z","createdBy":"me","comment":"c"})",
       "\"silence invalid: at least one matcher must not match the empty "
       "string\"\n"},
      {R"({"matchers":[{"name":"a b","value":"x","isRegex":false}],"startsAt":"2024-04-26T17:21:05Z","endsAt":"2024-04-26T19:00:00Z","createdBy":"me","comment":"c"})",
       "\"silence invalid: invalid label matcher 0: invalid label name "
       "\\\"a b\\\"\"\n"},
      {R"({"matchers":[{"name":"a","value":"x","isRegex":false}],"startsAt":"2024-04-26T17:21:05Z","endsAt":"2024-04-26T19:00:00Z","comment":"c"})",
       "{\"code\":400,\"message\":\"createdBy in body is required\"}\n"},
      {R"({"matchers":[],"startsAt":"2024-04-26T17:21:05Z","endsAt":"2024-04-26T19:00:00Z","createdBy":"me","comment":"c"})",
       "{\"code\":400,\"message\":\"matchers in body should have at least 1 "
       "items\"}\n"},
      {R"({"matchers":[{"name":"a","value":"x"}],"startsAt":"yesterday","endsAt":"2024-04-26T19:00:00Z","createdBy":"me","comment":"c"})",
       "{\"code\":400,\"message\":\"startsAt in body must be of type "
       "date-time\"}\n"},
  };
  for (const Case& c : cases) {
    http::Response r = s.Do("POST", "/api/v2/silences", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(r.body, c.want) << c.body;
  }
  http::Response r = s.Do("POST", "/api/v2/silences", "nope");
  EXPECT_EQ(r.status, 400);
  r = s.Do(
      "POST", "/api/v2/silences",
      R"({"matchers":[{"name":"a","value":"(","isRegex":true}],"startsAt":"2024-04-26T17:21:05Z","endsAt":"2024-04-26T19:00:00Z","createdBy":"me","comment":"c"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("invalid regular expression"), std::string::npos)
      << r.body;
  EXPECT_EQ(s.Do("GET", "/api/v2/silences").body, "[]\n");
}

TEST_F(SilencesApiTest, SilencesSurviveRestart) {
  std::string id;
  {
    Stack s(&clock_, dir_, "http://127.0.0.1:1/");
    id =
        IdOf(s.Do("POST", "/api/v2/silences",
                  SilenceBody("2024-04-26T17:21:05Z", "2024-04-26T19:00:00Z")));
    ASSERT_FALSE(id.empty());
  }
  Stack again(&clock_, dir_, "http://127.0.0.1:1/");
  nlohmann::json got =
      nlohmann::json::parse(again.Do("GET", "/api/v2/silence/" + id).body);
  EXPECT_EQ(got["status"]["state"], "active");
  EXPECT_EQ(got["comment"], "deploy <&>");
  EXPECT_EQ(got["matchers"].size(), 2u);
}

// Alerts posted in Prometheus's format; the silenced one is reported as
// suppressed and never reaches the webhook.
TEST_F(SilencesApiTest, SilencedAlertsAreNotNotified) {
  alerting::notifier::WebhookReceiver receiver;
  Stack s(&clock_, dir_, receiver.url());
  std::string id =
      IdOf(s.Do("POST", "/api/v2/silences",
                SilenceBody("2024-04-26T17:21:05Z", "2024-04-26T19:00:00Z")));
  ASSERT_FALSE(id.empty());
  http::Response r = s.Do(
      "POST", "/api/v2/alerts",
      R"([{"labels":{"alertname":"NginxDown","job":"nginx"},"annotations":{"a":"b"},"generatorURL":"http://x/graph"},
          {"labels":{"alertname":"DiskFull","job":"node"}}])");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(s.Do("POST", "/api/v2/alerts", "[{}]").status, 400);

  nlohmann::ordered_json alerts =
      nlohmann::ordered_json::parse(s.Do("GET", "/api/v2/alerts").body);
  ASSERT_EQ(alerts.size(), 2u);
  // Sorted by fingerprint; find each by name.
  for (const auto& a : alerts) {
    std::vector<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.push_back(it.key());
    bool nginx = a["labels"]["alertname"] == "NginxDown";
    std::vector<std::string> want = {"annotations", "endsAt",   "fingerprint",
                                     "receivers",   "startsAt", "status",
                                     "updatedAt"};
    if (nginx) want.push_back("generatorURL");
    want.push_back("labels");
    EXPECT_EQ(keys, want);
    EXPECT_EQ(a["receivers"],
              nlohmann::ordered_json::parse(R"([{"name":"webhook"}])"));
    EXPECT_EQ(a["startsAt"], "2024-04-26T17:21:05.000Z");
    EXPECT_EQ(a["endsAt"], "2024-04-26T17:26:05.000Z");  // resolve_timeout
    EXPECT_EQ(a["status"]["state"], nginx ? "suppressed" : "active");
    EXPECT_EQ(a["status"]["silencedBy"],
              nginx ? nlohmann::ordered_json::array({id})
                    : nlohmann::ordered_json::array());
  }
  EXPECT_EQ(
      nlohmann::json::parse(s.Do("GET", "/api/v2/alerts?silenced=false").body)
          .size(),
      1u);
  EXPECT_EQ(nlohmann::json::parse(
                s.Do("GET", "/api/v2/alerts?filter=job%3D%22nginx%22").body)
                .size(),
            1u);
  EXPECT_EQ(
      nlohmann::json::parse(s.Do("GET", "/api/v2/alerts?receiver=other").body)
          .size(),
      0u);

  clock_.SetMs(kT0 + 2 * kSec);  // past group_wait
  s.service->Tick();
  ASSERT_TRUE(s.service->delivery().Drain(absl::Seconds(10)));
  ASSERT_EQ(receiver.Requests().size(), 2u - 1u);
  EXPECT_NE(receiver.Requests()[0].body.find("DiskFull"), std::string::npos);
  EXPECT_EQ(receiver.Requests()[0].body.find("NginxDown"), std::string::npos);

  nlohmann::json st = nlohmann::json::parse(s.Do("GET", "/api/v2/status").body);
  EXPECT_EQ(st["cluster"]["status"], "disabled");
  EXPECT_NE(st["config"]["original"].get<std::string>().find("webhook"),
            std::string::npos);
  EXPECT_EQ(st["versionInfo"]["version"], "0.1.0");
}

// ---------------------------------------------------------------------------
// The same requests against the real Alertmanager 0.25.

int Send(int port, const std::string& method, const std::string& target,
         const std::string& body, std::string* response_body) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return 0;
  }
  std::string req = absl::StrCat(method, " ", target,
                                 " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 "Connection: close\r\n"
                                 "Content-Type: application/json\r\n"
                                 "Content-Length: ",
                                 body.size(), "\r\n\r\n", body);
  ::send(fd, req.data(), req.size(), 0);
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) resp.append(buf, n);
  close(fd);
  int status = 0;
  std::sscanf(resp.c_str(), "HTTP/1.%*d %d", &status);
  size_t p = resp.find("\r\n\r\n");
  std::string b = p == std::string::npos ? "" : resp.substr(p + 4);
  // Go answers small bodies with Content-Length, large ones chunked.
  if (resp.find("Transfer-Encoding: chunked") != std::string::npos) {
    std::string out;
    size_t i = 0;
    while (i < b.size()) {
      size_t eol = b.find("\r\n", i);
      if (eol == std::string::npos) break;
      size_t len = std::stoul(b.substr(i, eol - i), nullptr, 16);
      if (len == 0) break;
      out += b.substr(eol + 2, len);
      i = eol + 2 + len + 2;
    }
    b = out;
  }
  *response_body = b;
  return status;
}

// Ids and times differ between the two servers; everything else must not.
std::string Normalize(std::string s) {
  RE2::GlobalReplace(&s,
                     "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                     "[0-9a-f]{12}",
                     "<id>");
  RE2::GlobalReplace(&s, R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)", "<time>");
  return s;
}

TEST_F(SilencesApiTest, SameAnswersAsRealAlertmanager) {
  const char* kAlertmanager = "/usr/bin/prometheus-alertmanager";
  if (access(kAlertmanager, X_OK) != 0) {
    GTEST_SKIP() << kAlertmanager << " is not installed";
  }
  // Both on the wall clock: times are compared by shape only.
  Stack vigil(alerting::RealClock::Get(), dir_, "http://127.0.0.1:1/");
  http::HttpServerOptions ho;
  ho.listen_address = "127.0.0.1:0";
  http::HttpServer server(
      ho, [&](http::Request* req) { return vigil.router.Dispatch(req); });
  ASSERT_TRUE(server.Start().ok());
  int am_port = e2e::FreePort();
  e2e::Process am(
      {kAlertmanager, "--config.file=" + dir_ + "/alertmanager.yml",
       absl::StrCat("--web.listen-address=127.0.0.1:", am_port),
       "--cluster.listen-address=", "--storage.path=" + dir_ + "/am"},
      dir_ + "/am.log");
  ASSERT_TRUE(e2e::WaitUntil(
      [&] { return http::HttpGet(am_port, "/-/ready").status == 200; },
      absl::Seconds(20)))
      << e2e::ReadFile(dir_ + "/am.log");

  // Sends the same request to both; the real one must answer `want`.
  auto both = [&](const std::string& method, const std::string& target,
                  const std::string& body, int want) {
    std::string a, b;
    int sa = Send(am_port, method, target, body, &a);
    int sb = Send(server.port(), method, target, body, &b);
    EXPECT_EQ(sa, want) << method << " " << target << " " << body << a;
    EXPECT_EQ(sb, sa) << method << " " << target << " " << body;
    EXPECT_EQ(Normalize(b), Normalize(a))
        << method << " " << target << " " << body;
    return std::make_pair(a, b);
  };
  int64_t now = e2e::NowMs();
  std::string start = alerting::notifier::FormatRFC3339(now - 60 * kSec);
  std::string end = alerting::notifier::FormatRFC3339(now + kHour);
  auto [am_created, vigil_created] =
      both("POST", "/api/v2/silences", SilenceBody(start, end), 200);
  both(
      "POST", "/api/v2/alerts",
      R"([{"labels":{"alertname":"NginxDown","job":"nginx"},"annotations":{"a":"b"},"generatorURL":"http://x/graph"},
           {"labels":{"alertname":"DiskFull","job":"node"}}])",
      200);
  auto [am_list, vigil_list] = both("GET", "/api/v2/silences", "", 200);
  EXPECT_NE(am_list.find("\"matchers\""), std::string::npos) << am_list;
  both("GET", "/api/v2/silences?filter=job%3D%22nginx%22", "", 200);
  both("GET", "/api/v2/silences?filter=job%3D%22db%22", "", 200);
  auto [am_alerts, vigil_alerts] = both("GET", "/api/v2/alerts", "", 200);
  EXPECT_NE(am_alerts.find("\"suppressed\""), std::string::npos) << am_alerts;
  both("GET", "/api/v2/alerts?silenced=false", "", 200);
  both("GET", "/api/v2/silence/00000000-0000-4000-8000-000000000000", "", 404);
  both("DELETE", "/api/v2/silence/00000000-0000-4000-8000-000000000000", "",
       500);
  both("POST", "/api/v2/silences", SilenceBody(end, start),
       400);  // start after end
  both("POST", "/api/v2/silences",
       R"({"matchers":[{"name":"a","value":"","isRegex":false}],"startsAt":")" +
           start + R"(","endsAt":")" + end +
           R"(","createdBy":"me","comment":"c"})",
       400);
  std::string am_id = IdOf(am_created);
  std::string vigil_id = IdOf(vigil_created);
  ASSERT_FALSE(am_id.empty());
  std::string a, b;
  EXPECT_EQ(Send(am_port, "DELETE", "/api/v2/silence/" + am_id, "", &a), 200);
  EXPECT_EQ(
      Send(server.port(), "DELETE", "/api/v2/silence/" + vigil_id, "", &b),
      200);
  EXPECT_EQ(b, a);
  EXPECT_EQ(Send(am_port, "GET", "/api/v2/silence/" + am_id, "", &a), 200);
  Send(server.port(), "GET", "/api/v2/silence/" + vigil_id, "", &b);
  EXPECT_NE(a.find("\"expired\""), std::string::npos) << a;
  EXPECT_EQ(Normalize(b), Normalize(a));
  both("GET", "/api/v2/alerts", "", 200);
  server.Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace vigil::server::api
