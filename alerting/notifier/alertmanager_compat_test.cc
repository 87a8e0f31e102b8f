// Runs the real prometheus-alertmanager (when installed): alerts forwarded
// by Forwarder must be accepted, and the webhook it then sends must be
// byte-identical to what our Dispatcher produces for the same alert and
// alertmanager.yml.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "alerting/notifier/dispatcher.h"
#include "alerting/notifier/forwarder.h"
#include "alerting/notifier/webhook_receiver.h"
#include "gtest/gtest.h"

namespace vigil::alerting::notifier {
namespace {

constexpr char kBinary[] = "/usr/bin/prometheus-alertmanager";

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

TEST(AlertmanagerCompatTest, ForwardedAlertProducesIdenticalWebhook) {
  if (access(kBinary, X_OK) != 0) GTEST_SKIP() << "no " << kBinary;
  WebhookReceiver receiver;
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = tmp ? tmp : "/tmp";
  std::string config =
      "route:\n"
      "  group_by: ['alertname']\n"
      "  group_wait: 1s\n"
      "  group_interval: 5m\n"
      "  repeat_interval: 3h\n"
      "  receiver: 'webhook'\n"
      "receivers:\n"
      "  - name: 'webhook'\n"
      "    webhook_configs:\n"
      "      - url: '" +
      receiver.url() +
      "'\n"
      "        send_resolved: true\n";
  std::string path = dir + "/am.yml";
  std::ofstream(path) << config;
  int port = FreePort();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string listen =
        "--web.listen-address=127.0.0.1:" + std::to_string(port);
    std::string cfg = "--config.file=" + path;
    std::string storage = "--storage.path=" + dir + "/am-data";
    execl(kBinary, kBinary, cfg.c_str(), listen.c_str(),
          "--cluster.listen-address=", storage.c_str(),
          "--web.external-url=http://alertmanager:9093", "--log.level=warn",
          static_cast<char*>(nullptr));
    _exit(127);
  }

  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  Alert a;
  a.labels =
      *tsdb::Labels::FromPairs({{"alertname", "Nginx 100 active connections"},
                                {"instance", "192.168.121.174:9113"},
                                {"job", "nginx"},
                                {"severity", "critical"}});
  a.annotations = *tsdb::Labels::FromPairs(
      {{"description", "seen >100 active connections & more"},
       {"title", "Nginx 100 active connections on 192.168.121.174:9113"}});
  a.starts_at_ms = now - 1000;
  a.ends_at_ms = now + 4 * 60000;
  a.generator_url =
      "http://prometheus:9090/graph?g0.expr=nginx_connections_active%7Bjob%3D%"
      "22nginx%22%7D+%3E%3D+100&g0.tab=1";

  DeliveryQueue::Options qo;
  qo.max_attempts = 20;
  qo.initial_backoff = absl::Milliseconds(250);
  qo.max_backoff = absl::Milliseconds(500);
  DeliveryQueue q(qo);
  ForwarderOptions fo;
  fo.alertmanagers = {AlertsURL("http://127.0.0.1:" + std::to_string(port))};
  Forwarder f(fo, &q);
  f.Send({a});
  EXPECT_TRUE(q.Drain(absl::Seconds(20)));
  EXPECT_EQ(q.stats().sent, 1);
  bool got = receiver.WaitFor(1, absl::Seconds(20));
  kill(pid, SIGTERM);
  int status;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(got) << "Alertmanager sent no webhook";

  // Our dispatcher, same config and alert.
  absl::StatusOr<AlertmanagerConfig> c =
      ParseAlertmanagerConfig(config, "am.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  FakeClock clock(now);
  std::vector<Notification> sent;
  DispatcherOptions o;
  o.clock = &clock;
  o.external_url = "http://alertmanager:9093";
  o.deliver = [&](const Notification& n) { sent.push_back(n); };
  Dispatcher d(*std::move(c), o);
  d.Add({a});
  clock.AdvanceMs(1000);
  d.Tick();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].body, receiver.Requests()[0].body);
}

}  // namespace
}  // namespace vigil::alerting::notifier
