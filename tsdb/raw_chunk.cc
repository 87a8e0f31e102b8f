#include "tsdb/raw_chunk.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace vigil::tsdb {

void RawChunkEncoder::Append(int64_t t, double v) {
  const int64_t prev = num_samples_ == 0 ? 0 : max_time_;
  const uint64_t d = static_cast<uint64_t>(t) - static_cast<uint64_t>(prev);
  uint64_t zz = (d << 1) ^ static_cast<uint64_t>(static_cast<int64_t>(d) >> 63);
  while (zz >= 0x80) {
    buf_.push_back(static_cast<char>(zz | 0x80));
    zz >>= 7;
  }
  buf_.push_back(static_cast<char>(zz));
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  for (int i = 0; i < 8; ++i)
    buf_.push_back(static_cast<char>(bits >> (8 * i)));
  if (num_samples_ == 0) min_time_ = t;
  max_time_ = t;
  ++num_samples_;
}

bool RawChunkDecoder::Next() {
  if (!status_.ok() || pos_ >= bytes_.size()) return false;
  uint64_t zz = 0;
  int shift = 0;
  while (true) {
    if (pos_ >= bytes_.size() || shift > 63) {
      status_ = absl::DataLossError(
          absl::StrCat("raw chunk: truncated timestamp at byte ", pos_));
      return false;
    }
    const uint8_t b = static_cast<uint8_t>(bytes_[pos_++]);
    zz |= static_cast<uint64_t>(b & 0x7f) << shift;
    shift += 7;
    if (b < 0x80) break;
  }
  if (pos_ + 8 > bytes_.size()) {
    status_ = absl::DataLossError(
        absl::StrCat("raw chunk: truncated value at byte ", pos_));
    return false;
  }
  const uint64_t d = (zz >> 1) ^ (~(zz & 1) + 1);
  t_ = static_cast<int64_t>(static_cast<uint64_t>(t_) + d);
  uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) {
    bits |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i]))
            << (8 * i);
  }
  pos_ += 8;
  std::memcpy(&v_, &bits, 8);
  return true;
}

bool RawChunkDecoder::Seek(int64_t t) {
  if (pos_ > 0 && t_ >= t) return status_.ok();
  while (Next()) {
    if (t_ >= t) return true;
  }
  return false;
}

absl::Status RawChunkDecoder::DecodeRange(int64_t mint, int64_t maxt,
                                          std::vector<Sample>* out) {
  while (Next()) {
    if (t_ > maxt) break;
    if (t_ >= mint) out->push_back({t_, v_});
  }
  return status_;
}

}  // namespace vigil::tsdb
