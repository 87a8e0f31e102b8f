// End to end: the scaler binary scrapes a synthetic service over HTTP whose
// latency goes medium -> slow -> fast, and runs a real shell command that
// appends to a file. Timing-tolerant: the test waits for each expected
// decision instead of sleeping fixed amounts, and checks the order of the
// decisions and the commands, not their exact times.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/scrape/internal/test_exporter.h"

extern char** environ;

namespace {

using vigil::scrape::testing::TestExporter;

// The go-demo service of the book: a histogram whose every scrape adds 50
// requests of the current latency.
class SyntheticService {
 public:
  SyntheticService()
      : exporter_([this](const TestExporter::Request&) {
          return TestExporter::Ok(Scrape());
        }) {}

  void SetLatency(double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    latency_ = seconds;
  }
  int port() const { return exporter_.port(); }

 private:
  std::string Scrape() {
    static constexpr std::array<double, 4> kBounds = {0.025, 0.05, 0.1, 0.5};
    static constexpr std::array<const char*, 4> kNames = {"0.025", "0.05",
                                                          "0.1", "0.5"};
    std::lock_guard<std::mutex> lock(mu_);
    count_ += 50;
    sum_ += 50 * latency_;
    for (size_t i = 0; i < kBounds.size(); ++i) {
      if (latency_ <= kBounds[i]) buckets_[i] += 50;
    }
    std::string out =
        "# HELP http_server_resp_time Response time.\n"
        "# TYPE http_server_resp_time histogram\n";
    for (size_t i = 0; i < kBounds.size(); ++i) {
      absl::StrAppend(&out, "http_server_resp_time_bucket{le=\"", kNames[i],
                      "\"} ", buckets_[i], "\n");
    }
    absl::StrAppend(&out, "http_server_resp_time_bucket{le=\"+Inf\"} ", count_,
                    "\nhttp_server_resp_time_sum ", sum_,
                    "\nhttp_server_resp_time_count ", count_, "\n");
    return out;
  }

  std::mutex mu_;
  double latency_ = 0.05;
  int64_t count_ = 0;
  double sum_ = 0;
  std::array<int64_t, 4> buckets_ = {0, 0, 0, 0};
  TestExporter exporter_;  // last: its threads call Scrape()
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Line {
  std::string action;
  int64_t t = 0;
  int to = 0;
};

std::vector<Line> Decisions(const std::string& out) {
  std::vector<Line> lines;
  for (absl::string_view l : absl::StrSplit(out, '\n')) {
    if (!absl::StartsWith(l, "t=")) continue;
    Line d;
    for (absl::string_view f : absl::StrSplit(l, ' ')) {
      std::pair<std::string, std::string> kv = absl::StrSplit(f, '=');
      if (kv.first == "t") (void)absl::SimpleAtoi(kv.second, &d.t);
      if (kv.first == "action") d.action = kv.second;
      if (kv.first == "to") (void)absl::SimpleAtoi(kv.second, &d.to);
    }
    lines.push_back(d);
  }
  return lines;
}

// Waits until the scaler's stdout has a decision `action`; false on timeout.
bool WaitFor(const std::string& stdout_path, const std::string& action,
             absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    for (const Line& l : Decisions(ReadFile(stdout_path))) {
      if (l.action == action) return true;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

TEST(ScalerIntegrationTest, ScalesASyntheticServiceThroughTheBinary) {
  const std::string tmp =
      getenv("TEST_TMPDIR") != nullptr ? getenv("TEST_TMPDIR") : "/tmp";
  const std::string log = tmp + "/scale_commands.txt";
  const std::string out = tmp + "/scaler_stdout.txt";
  std::remove(log.c_str());

  SyntheticService svc;
  svc.SetLatency(0.05);  // within 0.1, beyond 0.025: neither rule fires

  const std::string bin = "examples/scaler/scaler";
  std::vector<std::string> args = {
      bin,
      absl::StrCat("--target=127.0.0.1:", svc.port()),
      "--service=go-demo_main",
      "--replicas=2",
      "--min-replicas=1",
      "--max-replicas=3",
      "--cooldown=1s",
      "--scrape-interval=100ms",
      "--evaluation-interval=200ms",
      "--window=1s",
      absl::StrCat("--scale-command=echo {service} {replicas} >> ", log),
  };
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ),
            0)
      << "cannot start " << bin;
  posix_spawn_file_actions_destroy(&fa);

  // Medium latency for a few windows: no decision at all.
  absl::SleepFor(absl::Milliseconds(2500));
  EXPECT_TRUE(Decisions(ReadFile(out)).empty()) << ReadFile(out);

  svc.SetLatency(0.5);  // slow: scale up, then refuse at the max
  EXPECT_TRUE(WaitFor(out, "at_max", absl::Seconds(15))) << ReadFile(out);

  svc.SetLatency(0.01);  // fast: scale down twice, then refuse at the min
  EXPECT_TRUE(WaitFor(out, "at_min", absl::Seconds(20))) << ReadFile(out);

  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  const std::string stdout_text = ReadFile(out);
  EXPECT_EQ(ReadFile(log), "go-demo_main 3\ngo-demo_main 2\ngo-demo_main 1\n")
      << stdout_text;
  std::vector<Line> ds = Decisions(stdout_text);
  std::vector<std::string> actions;
  std::vector<Line> scalings;
  for (const Line& l : ds) {
    // Cool-down refusals depend on timing; everything else must be exact.
    if (l.action != "cooldown") actions.push_back(l.action);
    if (l.action == "scale_up" || l.action == "scale_down") {
      scalings.push_back(l);
    }
  }
  EXPECT_EQ(actions,
            (std::vector<std::string>{"scale_up", "at_max", "scale_down",
                                      "scale_down", "at_min"}))
      << stdout_text;
  ASSERT_EQ(scalings.size(), 3u) << stdout_text;
  // The two scale-downs want to happen back to back; the cool-down (1s)
  // separates them.
  EXPECT_GE(scalings[2].t - scalings[1].t, 1000) << stdout_text;
  EXPECT_NE(stdout_text.find("action=cooldown"), std::string::npos)
      << stdout_text;
  EXPECT_NE(stdout_text.find("stopped at 1 replicas"), std::string::npos)
      << stdout_text;
}

TEST(ScalerIntegrationTest, RejectsBadFlags) {
  const std::string bin = "examples/scaler/scaler";
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), bin);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    EXPECT_EQ(
        posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(run({"--help"}), 0);
  EXPECT_EQ(run({"--target=127.0.0.1:1"}), 2);  // no --service
  EXPECT_EQ(run({"--service=x"}), 2);           // no target
  EXPECT_EQ(run({"--service=x", "--target=a:1", "--bogus=1"}), 2);
  EXPECT_EQ(run({"--service=x", "--target=a:1", "--cooldown=soon"}), 2);
  EXPECT_EQ(run({"--service=x", "--target=a:1", "--min-replicas=3",
                 "--max-replicas=2"}),
            2);
  EXPECT_EQ(run({"--service=x", "--config.file=/nonexistent/p.yml"}), 2);
}

}  // namespace
