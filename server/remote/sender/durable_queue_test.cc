#include "server/remote/sender/durable_queue.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace vigil::server::remote::sender {
namespace {

std::string TempDir(const std::string& name) {
  const char* t = std::getenv("TEST_TMPDIR");
  std::string d = absl::StrCat(t != nullptr ? t : "/tmp", "/", name);
  std::system(absl::StrCat("rm -rf '", d, "'").c_str());
  return d;
}

std::unique_ptr<DurableQueue> OpenQ(const std::string& dir,
                                    int64_t segment = 1 << 20,
                                    int64_t max = 1 << 30) {
  DurableQueue::Options o;
  o.dir = dir;
  o.segment_bytes = segment;
  o.max_bytes = max;
  auto q = DurableQueue::Open(o);
  EXPECT_TRUE(q.ok()) << q.status();
  return std::move(*q);
}

std::vector<std::string> ReadAll(DurableQueue* q,
                                 DurableQueue::Position* last) {
  std::vector<std::string> out;
  std::string r;
  while (q->Read(&r, last, absl::ZeroDuration())) out.push_back(r);
  return out;
}

class DurableQueueTest : public ::testing::TestWithParam<bool> {
 protected:
  std::string Dir(const std::string& name) {
    return GetParam() ? TempDir(name) : "";
  }
};

TEST_P(DurableQueueTest, ReadsInOrderAndAcksFreeBytes) {
  auto q = OpenQ(Dir("order"), 100);
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(q->Append(absl::StrCat("r", i)).ok());
  EXPECT_GT(q->bytes(), 0);
  DurableQueue::Position last;
  std::vector<std::string> got = ReadAll(q.get(), &last);
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got[i], absl::StrCat("r", i));
  ASSERT_TRUE(q->Ack(last).ok());
  EXPECT_EQ(q->bytes(), 0);
}

TEST_P(DurableQueueTest, ReadWaitsForAppendAndCloseWakes) {
  auto q = OpenQ(Dir("wait"));
  std::thread t([&] {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(q->Append("late").ok());
  });
  std::string r;
  DurableQueue::Position p;
  ASSERT_TRUE(q->Read(&r, &p, absl::Seconds(10)));
  EXPECT_EQ(r, "late");
  t.join();
  EXPECT_FALSE(q->Read(&r, &p, absl::Milliseconds(10)));
  std::thread c([&] {
    absl::SleepFor(absl::Milliseconds(50));
    q->Close();
  });
  absl::Time start = absl::Now();
  EXPECT_FALSE(q->Read(&r, &p, absl::Seconds(30)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  c.join();
}

TEST_P(DurableQueueTest, FullQueueRejectsNewestAndRecoversAfterAck) {
  auto q = OpenQ(Dir("full"), 1 << 20, 100);
  ASSERT_TRUE(q->Append(std::string(40, 'a')).ok());
  ASSERT_TRUE(q->Append(std::string(40, 'b')).ok());
  absl::Status s = q->Append(std::string(40, 'c'));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  DurableQueue::Position p;
  std::string r;
  ASSERT_TRUE(q->Read(&r, &p, absl::ZeroDuration()));
  ASSERT_TRUE(q->Ack(p).ok());
  EXPECT_TRUE(q->Append(std::string(40, 'd')).ok());
  std::vector<std::string> rest = ReadAll(q.get(), &p);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0][0], 'b');
  EXPECT_EQ(rest[1][0], 'd');
}

TEST_P(DurableQueueTest, RewindRereadsUnacked) {
  auto q = OpenQ(Dir("rewind"), 64);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(q->Append(absl::StrCat("r", i)).ok());
  DurableQueue::Position p;
  std::string r;
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(q->Read(&r, &p, absl::ZeroDuration()));
  ASSERT_TRUE(q->Ack(p).ok());
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(q->Read(&r, &p, absl::ZeroDuration()));
  q->Close();
  q->Rewind();
  std::vector<std::string> rest = ReadAll(q.get(), &p);
  ASSERT_EQ(rest.size(), 6u);
  EXPECT_EQ(rest[0], "r4");
}

INSTANTIATE_TEST_SUITE_P(DiskAndMemory, DurableQueueTest,
                         ::testing::Values(true, false));

TEST(DurableQueueDiskTest, RestartResumesFromPersistedPosition) {
  std::string dir = TempDir("restart");
  DurableQueue::Position p;
  {
    auto q = OpenQ(dir, 64);
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(q->Append(absl::StrCat("r", i)).ok());
    }
    std::string r;
    for (int i = 0; i < 7; ++i) {
      ASSERT_TRUE(q->Read(&r, &p, absl::ZeroDuration()));
    }
    ASSERT_TRUE(q->Ack(p).ok());
    ASSERT_TRUE(q->Flush().ok());
  }
  {
    auto q = OpenQ(dir, 64);
    std::vector<std::string> got = ReadAll(q.get(), &p);
    ASSERT_EQ(got.size(), 13u);
    EXPECT_EQ(got[0], "r7");
    EXPECT_EQ(got[12], "r19");
    // New appends after the restart come after the old ones.
    ASSERT_TRUE(q->Append("new").ok());
    std::string r;
    ASSERT_TRUE(q->Read(&r, &p, absl::ZeroDuration()));
    EXPECT_EQ(r, "new");
    ASSERT_TRUE(q->Ack(p).ok());
    ASSERT_TRUE(q->Flush().ok());
  }
  {
    auto q = OpenQ(dir, 64);
    EXPECT_TRUE(ReadAll(q.get(), &p).empty());
    EXPECT_EQ(q->bytes(), 0);
  }
}

TEST(DurableQueueDiskTest, TornTailIsIgnoredAndCorruptFrameSkipsSegment) {
  std::string dir = TempDir("torn");
  {
    auto q = OpenQ(dir);
    ASSERT_TRUE(q->Append("first").ok());
    ASSERT_TRUE(q->Append("second").ok());
  }
  // Tear the last frame: as if the process died inside write().
  std::string seg = dir + "/00000001";
  struct stat st;
  ASSERT_EQ(::stat(seg.c_str(), &st), 0);
  ASSERT_EQ(::truncate(seg.c_str(), st.st_size - 3), 0);
  {
    auto q = OpenQ(dir);
    ASSERT_TRUE(q->Append("third").ok());
    DurableQueue::Position p;
    std::vector<std::string> got = ReadAll(q.get(), &p);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], "first");
    EXPECT_EQ(got[1], "third");
  }
  // Flip a payload byte of "first": its CRC fails, the segment is skipped.
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(9);
    f.put('X');
  }
  {
    auto q = OpenQ(dir);
    DurableQueue::Position p;
    std::vector<std::string> got = ReadAll(q.get(), &p);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], "third");
    EXPECT_EQ(q->corrupt_frames(), 1);
  }
}

TEST(DurableQueueDiskTest, AckedSegmentsAreDeleted) {
  std::string dir = TempDir("delete");
  auto q = OpenQ(dir, 32);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(q->Append(absl::StrCat("record-", i)).ok());
  }
  auto count = [&] {
    int n = 0;
    for (int i = 1; i < 100; ++i) {
      struct stat st;
      if (::stat(absl::StrFormat("%s/%08d", dir, i).c_str(), &st) == 0) ++n;
    }
    return n;
  };
  EXPECT_GT(count(), 5);
  DurableQueue::Position p;
  ReadAll(q.get(), &p);
  ASSERT_TRUE(q->Ack(p).ok());
  EXPECT_LE(count(), 1);
}

TEST(DurableQueueDiskTest, UnwritableDirectoryNamesThePath) {
  DurableQueue::Options o;
  o.dir = "/proc/self/no/such/dir";
  auto q = DurableQueue::Open(o);
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("/proc/self/no"), std::string::npos)
      << q.status();
}

}  // namespace
}  // namespace vigil::server::remote::sender
