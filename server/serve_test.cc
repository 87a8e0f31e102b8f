// End-to-end tests of the `vigil` binary: started as a subprocess on a free
// loopback port, fed by remote write, read back by promtool, reloaded,
// restarted on the same data directory and stopped by signal and by
// /-/quit.
#include <netinet/in.h>
#include <signal.h>
#include <snappy.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "alerting/notifier/webhook_receiver.h"
#include "gtest/gtest.h"
#include "server/http/test_client.h"
#include "server/remote/remote.pb.h"

namespace vigil::server {
namespace {

using http::HttpGet;
using http::HttpPost;

constexpr char kBinary[] = "server/vigil";

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

struct CmdResult {
  int exit_code = -1;
  std::string output;
};

CmdResult RunCmd(const std::string& cmd) {
  CmdResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class Vigil {
 public:
  explicit Vigil(std::vector<std::string> args) {
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(kBinary));
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(kBinary, argv.data());
      _exit(127);
    }
  }
  ~Vigil() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Exit code, or -1 if it did not exit within `timeout`.
  int Wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  void Signal(int sig) { kill(pid_, sig); }

 private:
  pid_t pid_ = -1;
};

bool WaitReady(int port) {
  for (int i = 0; i < 500; ++i) {
    if (HttpGet(port, "/-/ready").status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string RemoteWriteBody(int64_t t, double v) {
  remote::WriteRequest wr;
  remote::TimeSeries* ts = wr.add_timeseries();
  remote::Label* l = ts->add_labels();
  l->set_name("__name__");
  l->set_value("e2e_metric");
  l = ts->add_labels();
  l->set_name("job");
  l->set_value("test");
  remote::Sample* s = ts->add_samples();
  s->set_timestamp(t);
  s->set_value(v);
  std::string raw, out;
  wr.SerializeToString(&raw);
  snappy::Compress(raw.data(), raw.size(), &out);
  return out;
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/serve_test_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    RunCmd("rm -rf " + dir_ + " && mkdir -p " + dir_);
    config_ = dir_ + "/vigil.yml";
    WriteConfig("global:\n  external_labels:\n    replica: a\n");
    port_ = FreePort();
  }
  void WriteConfig(const std::string& text) { std::ofstream(config_) << text; }
  std::vector<std::string> Args() {
    return {"serve",
            absl::StrCat("--web.listen-address=127.0.0.1:", port_),
            "--storage.tsdb.path=" + dir_ + "/data",
            "--config.file=" + config_,
            "--web.enable-remote-write-receiver",
            "--web.enable-lifecycle"};
  }

  std::string dir_;
  std::string config_;
  int port_ = 0;
};

TEST_F(ServeTest, RemoteWriteQueryRestartAndSignals) {
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  {
    Vigil v(Args());
    ASSERT_TRUE(WaitReady(port_));
    EXPECT_EQ(HttpGet(port_, "/-/healthy").status, 200);
    auto r = HttpPost(port_, "/api/v1/write", RemoteWriteBody(now_ms, 42),
                      "application/x-protobuf");
    EXPECT_EQ(r.status, 204) << r.body;
    // The same sample again, older: rejected, reported, not retried.
    r = HttpPost(port_, "/api/v1/write", RemoteWriteBody(now_ms - 1000, 1),
                 "application/x-protobuf");
    EXPECT_EQ(r.status, 400) << r.body;

    CmdResult q =
        RunCmd(absl::StrCat("/usr/bin/promtool query instant ",
                            "http://127.0.0.1:", port_, " e2e_metric"));
    if (access("/usr/bin/promtool", X_OK) == 0) {
      EXPECT_EQ(q.exit_code, 0) << q.output;
      EXPECT_NE(q.output.find("e2e_metric{job=\"test\"} => 42"),
                std::string::npos)
          << q.output;
    }
    auto flags = HttpGet(port_, "/api/v1/status/flags");
    EXPECT_NE(flags.body.find("\"web.enable-lifecycle\":\"true\""),
              std::string::npos);
    EXPECT_NE(HttpGet(port_, "/api/v1/status/config").body.find("replica"),
              std::string::npos);

    // A broken config is refused and reported; the old one stays.
    WriteConfig("global:\n  scrape_interval: banana\n");
    r = HttpPost(port_, "/-/reload", "");
    EXPECT_EQ(r.status, 500);
    EXPECT_NE(HttpGet(port_, "/api/v1/status/runtimeinfo")
                  .body.find("\"reloadConfigSuccess\":false"),
              std::string::npos);
    WriteConfig("global:\n  external_labels:\n    replica: b\n");
    EXPECT_EQ(HttpPost(port_, "/-/reload", "").status, 200);
    EXPECT_NE(HttpGet(port_, "/api/v1/status/config").body.find("replica: b"),
              std::string::npos);
    v.Signal(SIGHUP);  // reload by signal keeps serving
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(HttpGet(port_, "/-/healthy").status, 200);

    v.Signal(SIGTERM);
    EXPECT_EQ(v.Wait(std::chrono::seconds(15)), 0);
  }
  {
    // Restart on the same directory: the sample survived.
    Vigil v(Args());
    ASSERT_TRUE(WaitReady(port_));
    auto r = HttpGet(port_, absl::StrCat("/api/v1/query?query=e2e_metric&time=",
                                         now_ms / 1000 + 1));
    EXPECT_NE(r.body.find("\"42\""), std::string::npos) << r.body;
    r = HttpPost(port_, "/-/quit", "");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(v.Wait(std::chrono::seconds(15)), 0);
  }
}

// The Alertmanager API v2 and the metadata API are wired into `vigil serve`:
// a silence posted is listed (and persisted across a restart), and metadata
// scraped from the server's own /metrics is served.
TEST_F(ServeTest, AlertmanagerApiAndMetadataAreServed) {
  WriteConfig(absl::StrCat(
      "scrape_configs:\n  - job_name: self\n", "    scrape_interval: 1s\n",
      "    static_configs:\n      - targets: ['127.0.0.1:", port_, "']\n"));
  const std::string silence =
      R"({"matchers":[{"name":"alertname","value":"TargetDown",)"
      R"("isRegex":false,"isEqual":true}],"startsAt":"2026-01-01T00:00:00Z",)"
      R"("endsAt":"2099-01-01T00:00:00Z","createdBy":"serve_test",)"
      R"("comment":"maintenance window"})";
  const std::string am = dir_ + "/alertmanager.yml";
  std::ofstream(am) << "route:\n  receiver: hook\nreceivers:\n"
                    << "  - name: hook\n    webhook_configs:\n"
                    << "      - url: http://127.0.0.1:9/hook\n";
  std::vector<std::string> args = Args();
  args.push_back("--alerting.config.file=" + am);
  {
    Vigil v(args);
    ASSERT_TRUE(WaitReady(port_));
    auto r = HttpPost(port_, "/api/v2/silences", silence, "application/json");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("silenceID"), std::string::npos) << r.body;
    r = HttpGet(port_, "/api/v2/silences");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("maintenance window"), std::string::npos) << r.body;
    // Metadata appears once the first self-scrape is in.
    bool found = false;
    for (int i = 0; i < 100 && !found; ++i) {
      r = HttpGet(port_, "/api/v1/metadata?metric=vigil_http_requests_total");
      found = r.body.find("\"type\":\"counter\"") != std::string::npos;
      if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(found) << r.body;
    v.Signal(SIGTERM);
    EXPECT_EQ(v.Wait(std::chrono::seconds(15)), 0);
  }
  {
    Vigil v(args);
    ASSERT_TRUE(WaitReady(port_));
    auto r = HttpGet(port_, "/api/v2/silences");
    EXPECT_NE(r.body.find("maintenance window"), std::string::npos) << r.body;
    v.Signal(SIGTERM);
    EXPECT_EQ(v.Wait(std::chrono::seconds(15)), 0);
  }
}

TEST_F(ServeTest, StartupErrorsExitNonZero) {
  {
    Vigil v({"serve", "--no-such-flag"});
    EXPECT_EQ(v.Wait(std::chrono::seconds(10)), 1);
  }
  {
    Vigil v({"serve", "--config.file=" + dir_ + "/missing.yml",
             "--storage.tsdb.path=" + dir_ + "/data"});
    EXPECT_EQ(v.Wait(std::chrono::seconds(10)), 1);
  }
  {
    Vigil v({"nosuchcommand"});
    EXPECT_EQ(v.Wait(std::chrono::seconds(10)), 2);
  }
  {
    Vigil v({"tsdb"});  // a subcommand without its arguments: usage error
    EXPECT_EQ(v.Wait(std::chrono::seconds(10)), 2);
  }
  {
    Vigil v({"import", "openmetrics"});  // no file
    EXPECT_EQ(v.Wait(std::chrono::seconds(10)), 2);
  }
  CmdResult r = RunCmd(absl::StrCat(kBinary, " --version"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output.rfind("vigil, version 0.1.0 (branch: ", 0), 0u)
      << r.output;
}

TEST_F(ServeTest, PortInUseIsReported) {
  Vigil first(Args());
  ASSERT_TRUE(WaitReady(port_));
  auto args = Args();
  args[2] = "--storage.tsdb.path=" + dir_ + "/data2";
  Vigil second(args);
  EXPECT_EQ(second.Wait(std::chrono::seconds(10)), 1);
  first.Signal(SIGINT);
  EXPECT_EQ(first.Wait(std::chrono::seconds(15)), 0);
}

// Polls `query` on the instance at `port` until its answer contains
// `want`; returns the last answer body.
std::string WaitForQuery(int port, const std::string& query,
                         const std::string& want) {
  std::string body;
  for (int i = 0; i < 300; ++i) {
    body = HttpGet(port, "/api/v1/query?query=" + query).body;
    if (body.find(want) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return body;
}

// Scrapes stream to another instance's receiver through remote_write, from
// startup and with the settings of each reload.
TEST_F(ServeTest, RemoteWriteSendsScrapedSamplesAndFollowsReload) {
  Vigil receiver(Args());  // --web.enable-remote-write-receiver
  ASSERT_TRUE(WaitReady(port_));
  const int sender_port = FreePort();
  auto sender_config = [&](const std::string& replica) {
    return absl::StrCat(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  external_labels:\n"
        "    replica: ",
        replica,
        "\n"
        "scrape_configs:\n"
        "  - job_name: self\n"
        "    static_configs:\n"
        "      - targets: ['127.0.0.1:",
        sender_port,
        "']\n"
        "remote_write:\n"
        "  - url: http://127.0.0.1:",
        port_,
        "/api/v1/write\n"
        "    queue_config:\n"
        "      batch_send_deadline: 100ms\n");
  };
  const std::string config = dir_ + "/sender.yml";
  std::ofstream(config) << sender_config("s1");
  Vigil sender({"serve",
                absl::StrCat("--web.listen-address=127.0.0.1:", sender_port),
                "--storage.tsdb.path=" + dir_ + "/sender_data",
                "--config.file=" + config, "--web.enable-lifecycle"});
  ASSERT_TRUE(WaitReady(sender_port));

  // The sender's own scrape of itself arrives, with its external label.
  std::string body =
      WaitForQuery(port_, "up%7Bjob%3D%22self%22%7D", "\"replica\":\"s1\"");
  EXPECT_NE(body.find("\"replica\":\"s1\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"instance\":\"127.0.0.1:"), std::string::npos) << body;
  // The sender's metrics say what it sent.
  std::string metrics = HttpGet(sender_port, "/metrics").body;
  EXPECT_NE(metrics.find("vigil_remote_storage_samples_total{"),
            std::string::npos);

  // Reloaded settings reach the sender.
  std::ofstream(config) << sender_config("s2");
  EXPECT_EQ(HttpPost(sender_port, "/-/reload", "").status, 200);
  body =
      WaitForQuery(port_, "up%7Breplica%3D%22s2%22%7D", "\"replica\":\"s2\"");
  EXPECT_NE(body.find("\"replica\":\"s2\""), std::string::npos) << body;

  sender.Signal(SIGTERM);
  EXPECT_EQ(sender.Wait(std::chrono::seconds(20)), 0);
  receiver.Signal(SIGTERM);
  EXPECT_EQ(receiver.Wait(std::chrono::seconds(20)), 0);
}

}  // namespace
// Startup failures name the step that failed (the Monitor reports it) and
// exit 1 without leaving the data directory locked.
TEST_F(ServeTest, StartupStepErrorsAreLoggedByStep) {
  const std::string base =
      absl::StrCat(kBinary, " serve --web.listen-address=127.0.0.1:", port_,
                   " --storage.tsdb.path=", dir_, "/data");
  CmdResult r = RunCmd(
      absl::StrCat(base, " --alerting.config.file=", dir_, "/missing_am.yml"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("Error loading alerting config"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("missing_am.yml"), std::string::npos) << r.output;

  std::ofstream(dir_ + "/bad_rules.yml")
      << "groups:\n  - name: g\n    rules:\n      - record: r\n"
         "        expr: sum(x\n";
  WriteConfig("rule_files: ['bad_rules.yml']\n");
  r = RunCmd(absl::StrCat(base, " --config.file=", config_));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("Error loading rules"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("bad_rules.yml"), std::string::npos) << r.output;

  // Storage is usable afterwards: the same directory starts.
  WriteConfig("global:\n  evaluation_interval: 1s\n");
  Vigil v(Args());
  ASSERT_TRUE(WaitReady(port_));
  v.Signal(SIGTERM);
  EXPECT_EQ(v.Wait(std::chrono::seconds(15)), 0);
}

// A reload is all or nothing: a broken rule file leaves the old rules
// running (and reported by /api/v1/rules); a good one replaces them.
TEST_F(ServeTest, ReloadWithBrokenRuleFileKeepsTheOldRules) {
  auto rules = [&](const std::string& record, const std::string& expr) {
    std::ofstream(dir_ + "/rules.yml")
        << "groups:\n  - name: g\n    interval: 1s\n    rules:\n"
           "      - record: "
        << record << "\n        expr: " << expr << "\n";
  };
  rules("first_rule", "vector(1)");
  WriteConfig("rule_files: ['rules.yml']\n");
  Vigil v(Args());
  ASSERT_TRUE(WaitReady(port_));
  EXPECT_NE(HttpGet(port_, "/api/v1/rules").body.find("first_rule"),
            std::string::npos);
  rules("broken_rule", "sum(x");
  EXPECT_EQ(HttpPost(port_, "/-/reload", "").status, 500);
  std::string body = HttpGet(port_, "/api/v1/rules").body;
  EXPECT_NE(body.find("first_rule"), std::string::npos) << body;
  EXPECT_EQ(body.find("broken_rule"), std::string::npos) << body;
  EXPECT_NE(HttpGet(port_, "/metrics")
                .body.find("vigil_config_reloads_total{result=\"failure\"} 1"),
            std::string::npos);
  // The storage counters are there, the chunk merger's included.
  EXPECT_NE(
      HttpGet(port_, "/metrics").body.find("vigil_tsdb_chunk_merges_total"),
      std::string::npos);
  rules("second_rule", "vector(2)");
  EXPECT_EQ(HttpPost(port_, "/-/reload", "").status, 200);
  body = HttpGet(port_, "/api/v1/rules").body;
  EXPECT_NE(body.find("second_rule"), std::string::npos) << body;
  EXPECT_EQ(body.find("first_rule"), std::string::npos) << body;
  // The recording rule runs and writes through the Monitor.
  EXPECT_NE(WaitForQuery(port_, "second_rule", "\"2\"").find("\"2\""),
            std::string::npos);
  v.Signal(SIGTERM);
  EXPECT_EQ(v.Wait(std::chrono::seconds(15)), 0);
}

// SIGHUP re-reads alertmanager.yml and global.external_labels: with a new
// webhook URL the next notification goes there (and carries the new
// external label); a broken alertmanager.yml is refused as a whole.
TEST_F(ServeTest, ReloadReappliesAlertmanagerConfig) {
  alerting::notifier::WebhookReceiver a, b;
  const std::string am = dir_ + "/alertmanager.yml";
  auto write_am = [&](const std::string& url) {
    std::ofstream(am) << "route:\n  receiver: hook\n  group_by: [alertname]\n"
                      << "  group_wait: 0s\n  group_interval: 1s\n"
                      << "receivers:\n  - name: hook\n    webhook_configs:\n"
                      << "      - url: '" << url << "'\n";
  };
  auto write_rules = [&](const std::vector<std::string>& alerts) {
    std::ofstream f(dir_ + "/rules.yml");
    f << "groups:\n  - name: g\n    interval: 1s\n    rules:\n";
    for (const std::string& name : alerts) {
      f << "      - alert: " << name << "\n        expr: vector(1)\n";
    }
  };
  auto config = [&](const std::string& replica) {
    WriteConfig(
        "global:\n  evaluation_interval: 1s\n  external_labels:\n"
        "    replica: " +
        replica + "\nrule_files: ['rules.yml']\n");
  };
  write_am(a.url());
  write_rules({"First"});
  config("a");
  std::vector<std::string> args = Args();
  args.push_back("--alerting.config.file=" + am);
  Vigil v(args);
  ASSERT_TRUE(WaitReady(port_));
  ASSERT_TRUE(a.WaitFor(1, absl::Seconds(20)));
  EXPECT_NE(a.Requests()[0].body.find("\"replica\":\"a\""), std::string::npos)
      << a.Requests()[0].body;

  // Broken alertmanager.yml: the reload fails, nothing of it is applied.
  std::ofstream(am) << "route:\n  receiver: nobody\nreceivers: []\n";
  config("never");
  EXPECT_EQ(HttpPost(port_, "/-/reload", "").status, 500);
  EXPECT_NE(HttpGet(port_, "/metrics")
                .body.find("vigil_config_last_reload_successful 0"),
            std::string::npos);

  write_am(b.url());
  write_rules({"First", "Second"});
  config("b");
  v.Signal(SIGHUP);
  ASSERT_TRUE(b.WaitFor(1, absl::Seconds(20)));
  std::string body = b.Requests()[0].body;
  EXPECT_NE(body.find("\"alertname\":\"Second\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"replica\":\"b\""), std::string::npos) << body;
  EXPECT_NE(HttpGet(port_, "/metrics")
                .body.find("vigil_config_last_reload_successful 1"),
            std::string::npos);
  for (const auto& r : a.Requests()) {
    EXPECT_EQ(r.body.find("Second"), std::string::npos) << r.body;
  }
  v.Signal(SIGTERM);
  EXPECT_EQ(v.Wait(std::chrono::seconds(15)), 0);
}

}  // namespace vigil::server
