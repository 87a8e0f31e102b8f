#include "server/remote/write_handler.h"

#include <snappy.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/remote/remote.pb.h"

namespace vigil::server::remote {
namespace {

// Keeps committed samples; rejects non-increasing timestamps per series as
// the real head does.
class FakeDb : public tsdb::Appendable {
 public:
  std::map<std::string, std::vector<std::pair<int64_t, double>>> committed;
  int commits = 0;
  int rollbacks = 0;
  bool fail_commit = false;

  std::unique_ptr<tsdb::Appender> NewAppender() override {
    return std::make_unique<App>(this);
  }

 private:
  class App : public tsdb::Appender {
   public:
    explicit App(FakeDb* db) : db_(db) {}
    absl::StatusOr<tsdb::SeriesRef> Append(tsdb::SeriesRef ref,
                                           const tsdb::Labels& l, int64_t t,
                                           double v) override {
      std::string key = l.ToString();
      int64_t last = INT64_MIN;
      auto it = db_->committed.find(key);
      if (it != db_->committed.end() && !it->second.empty()) {
        last = it->second.back().first;
      }
      auto p = pending_.find(key);
      if (p != pending_.end() && !p->second.empty()) {
        last = std::max(last, p->second.back().first);
      }
      if (t <= last) {
        return tsdb::MakeAppendError(tsdb::AppendError::kOutOfOrder, "");
      }
      pending_[key].push_back({t, v});
      return tsdb::SeriesRef{1};
    }
    absl::Status Commit() override {
      if (db_->fail_commit) return absl::InternalError("disk full");
      for (auto& [k, v] : pending_) {
        auto& dst = db_->committed[k];
        dst.insert(dst.end(), v.begin(), v.end());
      }
      ++db_->commits;
      return absl::OkStatus();
    }
    void Rollback() override { ++db_->rollbacks; }

   private:
    FakeDb* db_;
    std::map<std::string, std::vector<std::pair<int64_t, double>>> pending_;
  };
};

void AddSeries(WriteRequest* wr,
               std::vector<std::pair<std::string, std::string>> labels,
               std::vector<std::pair<int64_t, double>> samples) {
  TimeSeries* ts = wr->add_timeseries();
  for (auto& [k, v] : labels) {
    Label* l = ts->add_labels();
    l->set_name(k);
    l->set_value(v);
  }
  for (auto& [t, v] : samples) {
    Sample* s = ts->add_samples();
    s->set_timestamp(t);
    s->set_value(v);
  }
}

http::Request Encode(const WriteRequest& wr) {
  std::string raw;
  wr.SerializeToString(&raw);
  http::Request req;
  req.method = "POST";
  req.path = "/api/v1/write";
  snappy::Compress(raw.data(), raw.size(), &req.body);
  return req;
}

TEST(WriteHandlerTest, StoresEverySample) {
  FakeDb db;
  metrics::Registry reg;
  WriteHandler h(&db, &reg);
  WriteRequest wr;
  AddSeries(&wr, {{"__name__", "up"}, {"job", "a"}}, {{1000, 1}, {2000, 0}});
  AddSeries(&wr, {{"job", "b"}, {"__name__", "up"}}, {{1000, 1}});
  http::Response r = h.Handle(Encode(wr));
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(db.commits, 1);
  ASSERT_EQ(db.committed.size(), 2u);
  EXPECT_EQ(db.committed["up{job=\"a\"}"].size(), 2u);
  EXPECT_EQ(db.committed["up{job=\"b\"}"].size(), 1u);  // labels sorted
  EXPECT_NE(reg.Render().find("vigil_remote_write_samples_received_total 3"),
            std::string::npos);
}

TEST(WriteHandlerTest, OutOfOrderIs400ButTheRestIsKept) {
  FakeDb db;
  WriteHandler h(&db, nullptr);
  WriteRequest wr;
  AddSeries(&wr, {{"__name__", "up"}}, {{2000, 1}, {1000, 5}, {3000, 2}});
  AddSeries(&wr, {{"__name__", "other"}}, {{1000, 1}});
  http::Response r = h.Handle(Encode(wr));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("out of order sample"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("up at timestamp 1000"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("1 of 4 samples rejected"), std::string::npos);
  EXPECT_EQ(db.commits, 1);
  EXPECT_EQ(db.committed["up"].size(), 2u);
  EXPECT_EQ(db.committed["other"].size(), 1u);
}

TEST(WriteHandlerTest, InvalidLabelsAreRejectedPerSeries) {
  FakeDb db;
  WriteHandler h(&db, nullptr);
  WriteRequest wr;
  AddSeries(&wr, {{"__name__", "ok"}}, {{1000, 1}});
  AddSeries(&wr, {{"bad-name", "x"}}, {{1000, 1}});
  AddSeries(&wr, {}, {{1000, 1}});
  http::Response r = h.Handle(Encode(wr));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("invalid labels"), std::string::npos) << r.body;
  EXPECT_EQ(db.committed["ok"].size(), 1u);
}

TEST(WriteHandlerTest, MalformedBodiesAre400) {
  FakeDb db;
  WriteHandler h(&db, nullptr, /*max_decompressed_bytes=*/1024);
  http::Request req;
  req.body = "definitely not snappy";
  http::Response r = h.Handle(req);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "snappy: corrupt input\n");

  std::string junk = "\xff\xff\xff\xff garbage protobuf";
  snappy::Compress(junk.data(), junk.size(), &req.body);
  r = h.Handle(req);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("proto"), std::string::npos);

  std::string big(4096, 'a');
  req.body.clear();
  snappy::Compress(big.data(), big.size(), &req.body);
  r = h.Handle(req);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("exceeds the limit"), std::string::npos);

  req.body.clear();  // empty body: empty request, nothing to do
  r = h.Handle(req);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(db.commits, 0);
}

TEST(WriteHandlerTest, StorageFailureIs500) {
  FakeDb db;
  db.fail_commit = true;
  WriteHandler h(&db, nullptr);
  WriteRequest wr;
  AddSeries(&wr, {{"__name__", "up"}}, {{1000, 1}});
  http::Response r = h.Handle(Encode(wr));
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("disk full"), std::string::npos);
}

}  // namespace
}  // namespace vigil::server::remote
