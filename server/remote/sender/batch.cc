#include "server/remote/sender/batch.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace vigil::server::remote::sender {
namespace {

constexpr char kVersion = 1;

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutFixed64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(v >> (8 * i));
  out->append(buf, 8);
}

void PutString(std::string* out, absl::string_view s) {
  PutVarint(out, s.size());
  out->append(s.data(), s.size());
}

class Reader {
 public:
  explicit Reader(absl::string_view in) : in_(in) {}
  bool Varint(uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return false;
      uint8_t b = static_cast<uint8_t>(in_[pos_++]);
      r |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = r;
        return true;
      }
    }
    return false;
  }
  bool Fixed64(uint64_t* v) {
    if (in_.size() - pos_ < 8) return false;
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i) {
      r |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i]))
           << (8 * i);
    }
    pos_ += 8;
    *v = r;
    return true;
  }
  bool String(std::string* s) {
    uint64_t n;
    if (!Varint(&n) || n > in_.size() - pos_) return false;
    s->assign(in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool Byte(char* c) {
    if (pos_ >= in_.size()) return false;
    *c = in_[pos_++];
    return true;
  }
  size_t pos() const { return pos_; }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  absl::string_view in_;
  size_t pos_ = 0;
};

absl::Status Malformed(const Reader& r, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("remote-write batch record: ", what,
                                          " at offset ", r.pos()));
}

}  // namespace

void BatchEncoder::Add(tsdb::SeriesRef ref, const tsdb::Labels& labels,
                       int64_t t, double v) {
  // Ref 0 (a storage that does not hand out refs) cannot be deduplicated:
  // such samples each get their own series entry.
  uint32_t idx = num_series_;
  bool inserted = true;
  if (ref != 0) {
    auto [it, ins] = index_.try_emplace(ref, num_series_);
    idx = it->second;
    inserted = ins;
  }
  if (inserted) {
    ++num_series_;
    PutVarint(&series_, labels.size());
    for (const tsdb::Label& l : labels) {
      PutString(&series_, l.name);
      PutString(&series_, l.value);
    }
  }
  PutVarint(&samples_, idx);
  PutFixed64(&samples_, static_cast<uint64_t>(t));
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  PutFixed64(&samples_, bits);
  ++num_samples_;
  if (t > max_t_) max_t_ = t;
}

std::string BatchEncoder::Finish() {
  std::string out;
  out.reserve(1 + 10 + series_.size() + 10 + samples_.size());
  out.push_back(kVersion);
  PutVarint(&out, num_series_);
  out.append(series_);
  PutVarint(&out, static_cast<uint64_t>(num_samples_));
  out.append(samples_);
  index_.clear();
  series_.clear();
  samples_.clear();
  num_series_ = 0;
  num_samples_ = 0;
  max_t_ = INT64_MIN;
  return out;
}

absl::StatusOr<DecodedBatch> DecodeBatch(absl::string_view record) {
  Reader r(record);
  char version;
  if (!r.Byte(&version)) return Malformed(r, "empty record");
  if (version != kVersion) {
    return Malformed(r, absl::StrCat("unknown version ", int{version}));
  }
  DecodedBatch b;
  uint64_t nseries;
  // Each series takes at least one byte, each sample at least 17: bounds
  // checks before reserving keep a corrupt count from allocating wildly.
  if (!r.Varint(&nseries) || nseries > r.remaining()) {
    return Malformed(r, "bad series count");
  }
  b.series.reserve(nseries);
  std::vector<tsdb::Label> pairs;
  for (uint64_t i = 0; i < nseries; ++i) {
    uint64_t nlabels;
    if (!r.Varint(&nlabels) || nlabels > r.remaining()) {
      return Malformed(r, "bad label count");
    }
    pairs.clear();
    pairs.resize(nlabels);
    for (tsdb::Label& l : pairs) {
      if (!r.String(&l.name) || !r.String(&l.value)) {
        return Malformed(r, "truncated label");
      }
    }
    // The labels came from a tsdb::Labels, so they are sorted and valid.
    b.series.push_back(tsdb::Labels::FromSortedUnchecked(std::move(pairs)));
    pairs = {};
  }
  uint64_t nsamples;
  if (!r.Varint(&nsamples) || nsamples > r.remaining() / 17) {
    return Malformed(r, "bad sample count");
  }
  b.samples.resize(nsamples);
  for (BatchSample& s : b.samples) {
    uint64_t idx, t, v;
    if (!r.Varint(&idx) || !r.Fixed64(&t) || !r.Fixed64(&v)) {
      return Malformed(r, "truncated sample");
    }
    if (idx >= nseries) return Malformed(r, "sample of an unknown series");
    s.series = static_cast<uint32_t>(idx);
    s.t = static_cast<int64_t>(t);
    std::memcpy(&s.v, &v, sizeof v);
  }
  if (r.remaining() != 0) return Malformed(r, "trailing bytes");
  return b;
}

}  // namespace vigil::server::remote::sender
