#include "tsdb/import.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace vigil::tsdb {
namespace {

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// Cuts sorted samples into chunks the way the head does: at most
// kSamplesPerChunk samples, never across a chunk range boundary.
std::vector<ChunkPtr> CutChunks(const std::vector<Sample>& samples) {
  std::vector<ChunkPtr> out;
  HeadChunkEncoder enc;
  auto seal = [&] {
    if (enc.num_samples() == 0) return;
    auto c = std::make_shared<ChunkData>();
    c->min_time = enc.min_time();
    c->max_time = enc.max_time();
    c->num_samples = enc.num_samples();
    c->encoding = kHeadChunkEncoding;
    c->bytes = std::string(enc.Bytes());
    out.push_back(std::move(c));
    enc = HeadChunkEncoder();
  };
  for (const Sample& s : samples) {
    if (enc.num_samples() > 0 &&
        (enc.num_samples() >= kSamplesPerChunk ||
         ChunkRangeStart(s.t) != ChunkRangeStart(enc.min_time()))) {
      seal();
    }
    enc.Append(s.t, s.v);
  }
  seal();
  return out;
}

}  // namespace

absl::StatusOr<ImportStats> ImportOpenMetrics(DB* db, absl::string_view text) {
  return ImportText(db, text, textparse::Format::kOpenMetrics);
}

absl::StatusOr<ImportStats> ImportText(DB* db, absl::string_view text,
                                       textparse::Format format) {
  ImportStats stats;
  // Series in order of first appearance; the map holds their indexes.
  std::vector<std::pair<Labels, std::vector<Sample>>> series;
  absl::flat_hash_map<Labels, size_t> index;
  textparse::Parser p(text, format);
  const int64_t cutoff = db->RetentionCutoff();
  for (textparse::Entry e = p.Next(); e != textparse::Entry::kEOF;
       e = p.Next()) {
    if (e == textparse::Entry::kInvalid) return p.status();
    if (e != textparse::Entry::kSeries) continue;
    auto ts = p.Timestamp();
    if (!ts) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", p.line(), ": sample of ", p.Series(),
                       " has no timestamp; backfill needs one"));
    }
    auto labels = p.BuildLabels();
    if (!labels.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", p.line(), ": ", labels.status().message()));
    }
    absl::Status valid = ValidateSeriesLabels(*labels);
    if (!valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", p.line(), ": ", valid.message()));
    }
    if (*ts < cutoff) {
      ++stats.out_of_bounds;
      continue;
    }
    auto [it, inserted] = index.try_emplace(*labels, series.size());
    if (inserted)
      series.emplace_back(*std::move(labels), std::vector<Sample>());
    series[it->second].second.push_back(Sample{*ts, p.Value()});
  }

  std::vector<std::pair<Labels, std::vector<ChunkPtr>>> batch;
  batch.reserve(series.size());
  stats.min_time = std::numeric_limits<int64_t>::max();
  stats.max_time = std::numeric_limits<int64_t>::min();
  for (auto& [labels, samples] : series) {
    const Labels* l = &labels;
    std::stable_sort(
        samples.begin(), samples.end(),
        [](const Sample& a, const Sample& b) { return a.t < b.t; });
    std::vector<Sample> unique;
    unique.reserve(samples.size());
    for (const Sample& s : samples) {
      if (!unique.empty() && unique.back().t == s.t) {
        if (Bits(unique.back().v) != Bits(s.v)) {
          return MakeAppendError(
              AppendError::kDuplicate,
              absl::StrCat("two values for ", l->ToString(), " at ", s.t));
        }
        ++stats.duplicates;
        continue;
      }
      unique.push_back(s);
    }
    stats.samples += static_cast<int64_t>(unique.size());
    stats.min_time = std::min(stats.min_time, unique.front().t);
    stats.max_time = std::max(stats.max_time, unique.back().t);
    std::vector<ChunkPtr> chunks = CutChunks(unique);
    stats.chunks += static_cast<int64_t>(chunks.size());
    batch.emplace_back(*l, std::move(chunks));
  }
  stats.series = static_cast<int64_t>(batch.size());
  if (batch.empty()) stats.min_time = stats.max_time = 0;
  absl::Status st = db->ImportSeries(batch);
  if (!st.ok()) return st;
  return stats;
}

}  // namespace vigil::tsdb
