#include "tsdb/store.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/compaction_filter.h"
#include "rocksdb/db.h"
#include "rocksdb/memtablerep.h"
#include "rocksdb/metadata.h"
#include "rocksdb/options.h"
#include "rocksdb/sst_file_writer.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"
#include "tsdb/fixed_coding.h"

namespace vigil::tsdb {

namespace {

// Uncompressed chunk blocks kept for queries (see ChunkStore::Open).
constexpr size_t kChunkBlockCacheBytes = 32 << 20;

constexpr char kSeriesCf[] = "series";
constexpr char kMetaCf[] = "seriesmeta";
constexpr char kChunksCf[] = "chunks";
constexpr char kHeadCf[] = "headchunks";
constexpr char kWalCheckpointKey[] = "wal_checkpoint";

void PutBE64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t GetBE64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
bool GetVarint(absl::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const uint8_t b = static_cast<uint8_t>((*in)[0]);
    in->remove_prefix(1);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (b < 0x80) return true;
  }
  return false;
}
uint32_t Crc(absl::string_view s) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(s.data()), s.size()));
}

std::string RefKey(SeriesRef ref) {
  std::string k;
  PutBE64(&k, ref);
  return k;
}
// Flipping the sign bit makes negative times sort before positive ones.
std::string ChunkKey(SeriesRef ref, int64_t mint) {
  std::string k;
  k.reserve(16);
  PutBE64(&k, ref);
  PutBE64(&k, static_cast<uint64_t>(mint) ^ (uint64_t{1} << 63));
  return k;
}
int64_t ChunkKeyTime(const char* p) {
  return static_cast<int64_t>(GetBE64(p) ^ (uint64_t{1} << 63));
}

std::string KeyHex(const rocksdb::Slice& k) {
  return absl::BytesToHexString(absl::string_view(k.data(), k.size()));
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsCorruption()) {
    return absl::DataLossError(absl::StrCat(what, ": ", s.ToString()));
  }
  return absl::InternalError(absl::StrCat(what, ": ", s.ToString()));
}

LabelView ViewOf(const Label& l) { return {l.name, l.value}; }
LabelView ViewOf(const LabelView& l) { return l; }

// `labels` holds Label or LabelView pairs, sorted by name.
template <typename Pairs>
std::string EncodeLabels(const Pairs& labels) {
  std::string body;
  PutVarint(&body, labels.size());
  for (const auto& pair : labels) {
    const auto [name, value] = ViewOf(pair);
    PutVarint(&body, name.size());
    body.append(name.data(), name.size());
    PutVarint(&body, value.size());
    body.append(value.data(), value.size());
  }
  std::string out;
  PutFixed32(&out, Crc(body));
  out.append(body);
  return out;
}

absl::StatusOr<Labels> DecodeLabels(absl::string_view v) {
  if (v.size() < 4) return absl::DataLossError("truncated labels");
  const uint32_t crc = DecodeFixed32(v.data());
  v.remove_prefix(4);
  if (Crc(v) != crc) return absl::DataLossError("labels checksum mismatch");
  uint64_t n;
  if (!GetVarint(&v, &n)) return absl::DataLossError("bad label count");
  std::vector<Label> pairs;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t len;
    Label l;
    if (!GetVarint(&v, &len) || len > v.size()) {
      return absl::DataLossError("truncated label name");
    }
    l.name = std::string(v.substr(0, len));
    v.remove_prefix(len);
    if (!GetVarint(&v, &len) || len > v.size()) {
      return absl::DataLossError("truncated label value");
    }
    l.value = std::string(v.substr(0, len));
    v.remove_prefix(len);
    pairs.push_back(std::move(l));
  }
  return Labels::FromSortedUnchecked(std::move(pairs));
}

class RetentionFilter : public rocksdb::CompactionFilter {
 public:
  explicit RetentionFilter(std::shared_ptr<std::atomic<int64_t>> cutoff)
      : cutoff_(std::move(cutoff)) {}
  bool Filter(int, const rocksdb::Slice&, const rocksdb::Slice& value,
              std::string*, bool*) const override {
    if (value.size() < 17) return false;  // let the checker report it
    const int64_t maxt = static_cast<int64_t>(DecodeFixed64(value.data() + 9));
    return maxt < cutoff_->load(std::memory_order_relaxed);
  }
  const char* Name() const override { return "vigil.RetentionFilter"; }

 private:
  std::shared_ptr<std::atomic<int64_t>> cutoff_;
};

}  // namespace

// [u8 encoding][fixed64 mint][fixed64 maxt][fixed32 samples][fixed32 crc]
// [chunk bytes]; the CRC covers the chunk bytes.
std::string EncodeChunkValue(const ChunkData& c) {
  std::string v;
  v.reserve(25 + c.bytes.size());
  v.push_back(static_cast<char>(c.encoding));
  PutFixed64(&v, static_cast<uint64_t>(c.min_time));
  PutFixed64(&v, static_cast<uint64_t>(c.max_time));
  PutFixed32(&v, static_cast<uint32_t>(c.num_samples));
  PutFixed32(&v, Crc(c.bytes));
  v.append(c.bytes);
  return v;
}

absl::StatusOr<ChunkPtr> DecodeChunkValue(absl::string_view v) {
  if (v.size() < 25) return absl::DataLossError("truncated chunk header");
  auto c = std::make_shared<ChunkData>();
  c->encoding = static_cast<ChunkEncoding>(v[0]);
  c->min_time = static_cast<int64_t>(DecodeFixed64(v.data() + 1));
  c->max_time = static_cast<int64_t>(DecodeFixed64(v.data() + 9));
  c->num_samples = static_cast<int>(DecodeFixed32(v.data() + 17));
  const uint32_t crc = DecodeFixed32(v.data() + 21);
  c->bytes = std::string(v.substr(25));
  if (Crc(c->bytes) != crc)
    return absl::DataLossError("chunk checksum mismatch");
  if (c->encoding != ChunkEncoding::kRaw &&
      c->encoding != ChunkEncoding::kXor &&
      c->encoding != ChunkEncoding::kRange) {
    return absl::DataLossError(
        absl::StrCat("unknown chunk encoding ", static_cast<int>(v[0])));
  }
  return ChunkPtr(std::move(c));
}

absl::StatusOr<std::unique_ptr<ChunkStore>> ChunkStore::Open(
    const std::string& dir, bool read_only) {
  std::unique_ptr<ChunkStore> store(new ChunkStore());
  store->dir_ = dir;
  store->cutoff_ = std::make_shared<std::atomic<int64_t>>(
      std::numeric_limits<int64_t>::min());

  rocksdb::DBOptions db_opts;
  db_opts.create_if_missing = !read_only;
  db_opts.create_missing_column_families = !read_only;
  db_opts.max_background_jobs = 2;
  db_opts.keep_log_file_num = 2;
  db_opts.max_total_wal_size = 64 << 20;
  // Each open file writer (RocksDB's WAL, MANIFEST, SSTs being written)
  // grows its buffer up to this; the 1 MiB default kept ~1 MiB resident
  // for the WAL alone, while our writes to RocksDB are small (series
  // definitions, meta, sealed chunks).
  db_opts.writable_file_max_buffer_size = 256 << 10;
  // Open replays RocksDB's WAL into memtables; writing them out as L0
  // files during Open only delays readiness (they are flushed later).
  db_opts.avoid_flush_during_recovery = true;

  rocksdb::ColumnFamilyOptions plain;
  // Off until EnableCompactions (after recovery). With auto compactions
  // off RocksDB applies no L0 write stalls, so writes during recovery
  // cannot block on a compaction that never runs.
  plain.disable_auto_compactions = !read_only;
  rocksdb::ColumnFamilyOptions chunks = plain;
  chunks.compression = rocksdb::kLZ4Compression;
  chunks.bottommost_compression = rocksdb::kZSTD;
  // The filter must outlive the RocksDB instance; the store owns it.
  auto* filter = new RetentionFilter(store->cutoff_);
  chunks.compaction_filter = filter;
  // Memtables are resident memory until flushed, and sealed chunks arrive
  // steadily (~0.25 KiB per series per hour at 15 s scrapes, ~3 KiB at
  // 1 s): a full 32 MiB memtable was up to ~650 B per active series at 50k
  // series, as much as the head's own per-series cost. 8 MiB memtables
  // bound that for a small-cluster server at the price of more, smaller L0
  // files, which compaction merges.
  chunks.write_buffer_size = 8 << 20;
  // Sealed chunks are read back by every query and rule evaluation that
  // reaches past the head. RocksDB's default cache (8 MiB) holds a small
  // fraction of them, so each instant query re-read and LZ4-decompressed
  // the same blocks (a quarter of its CPU at 3,000 series x 24 h). The
  // cache holds uncompressed blocks and fills only as queries read them;
  // 32 MiB holds ~40 M samples of sealed chunks (the instant quantile query
  // of the side-by-side harness: 71 -> 45 ms).
  rocksdb::BlockBasedTableOptions chunk_tables;
  chunk_tables.block_cache = rocksdb::NewLRUCache(kChunkBlockCacheBytes);
  chunks.table_factory.reset(rocksdb::NewBlockBasedTableFactory(chunk_tables));
  // Series definitions, series meta and head chunks are written while the
  // DB runs but only read by full scans at Open (and by the offline
  // checker), never looked up or scanned while it runs. A vector memtable
  // makes each insert an append instead of a skiplist insertion, and so
  // also RocksDB's replay of its own WAL after a crash (at 300k series,
  // replaying the series definitions took ~1 s CPU, most of it skiplist
  // comparisons); a scan sorts the vector once. A vector memtable does not
  // take concurrent inserts, so memtable writes of concurrent commits are
  // applied by the write group's leader.
  rocksdb::ColumnFamilyOptions scanned = plain;
  scanned.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
  scanned.write_buffer_size = 8 << 20;  // see chunks.write_buffer_size
  db_opts.allow_concurrent_memtable_write = false;
  // Series definitions and meta arrive in bursts (a new target's first
  // scrape) and then hardly at all, and RocksDB flushes a memtable only
  // when it is full: an 8 MiB one stayed resident for good after the
  // burst, ~147 B per series at 50k new series (the harness's ingest
  // scenario; heaptrack). 2 MiB ones cost a few more small L0 files, which
  // compaction merges.
  rocksdb::ColumnFamilyOptions defs = scanned;
  defs.write_buffer_size = 2 << 20;

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, plain},
      {kSeriesCf, defs},
      {kMetaCf, defs},
      {kChunksCf, chunks},
      {kHeadCf, scanned},
  };
  rocksdb::Status s;
  if (read_only) {
    s = rocksdb::DB::OpenForReadOnly(db_opts, dir, cfs, &store->handles_,
                                     &store->db_);
  } else {
    s = rocksdb::DB::Open(db_opts, dir, cfs, &store->handles_, &store->db_);
  }
  if (!s.ok()) {
    delete filter;
    return FromRocks(s, absl::StrCat("opening RocksDB store ", dir));
  }
  store->filter_.reset(filter);
  store->default_cf_ = store->handles_[0];
  store->series_cf_ = store->handles_[1];
  store->meta_cf_ = store->handles_[2];
  store->chunks_cf_ = store->handles_[3];
  store->head_cf_ = store->handles_[4];
  return store;
}

ChunkStore::~ChunkStore() { Close().IgnoreError(); }

absl::Status ChunkStore::Close() {
  if (db_ == nullptr) return absl::OkStatus();
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  handles_.clear();
  rocksdb::Status s = db_->Close();
  delete db_;
  db_ = nullptr;
  return FromRocks(s, absl::StrCat("closing RocksDB store ", dir_));
}

absl::Status ChunkStore::PutSeries(absl::Span<const SeriesDefinition> series) {
  rocksdb::WriteBatch batch;
  for (const SeriesDefinition& d : series) {
    batch.Put(series_cf_, RefKey(d.ref), EncodeLabels(d.labels));
  }
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch),
                   "writing series definitions");
}

absl::Status ChunkStore::PutChunks(const std::vector<ChunkWrite>& chunks) {
  rocksdb::WriteBatch batch;
  for (const ChunkWrite& w : chunks) {
    batch.Put(chunks_cf_, ChunkKey(w.ref, w.chunk->min_time),
              EncodeChunkValue(*w.chunk));
    std::string meta;
    PutFixed64(&meta, static_cast<uint64_t>(w.series_min_time));
    PutFixed64(&meta, static_cast<uint64_t>(w.series_max_time));
    batch.Put(meta_cf_, RefKey(w.ref), meta);
  }
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch),
                   "writing chunks");
}

absl::Status ChunkStore::PutSeriesMeta(SeriesRef ref, int64_t min_time,
                                       int64_t max_time) {
  std::string meta;
  PutFixed64(&meta, static_cast<uint64_t>(min_time));
  PutFixed64(&meta, static_cast<uint64_t>(max_time));
  return FromRocks(
      db_->Put(rocksdb::WriteOptions(), meta_cf_, RefKey(ref), meta),
      "writing series meta");
}

absl::Status ChunkStore::PutHeadChunks(
    const std::vector<std::pair<SeriesRef, ChunkPtr>>& chunks) {
  rocksdb::WriteBatch batch;
  for (const auto& [ref, c] : chunks) {
    if (c == nullptr) {
      batch.Delete(head_cf_, RefKey(ref));
    } else {
      batch.Put(head_cf_, RefKey(ref), EncodeChunkValue(*c));
    }
  }
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch),
                   "writing head chunks");
}

absl::Status ChunkStore::ReadChunks(SeriesRef ref, int64_t mint, int64_t maxt,
                                    std::vector<ChunkPtr>* out) const {
  if (mint > maxt) return absl::OkStatus();
  return NewChunkReader()->Read(ref, mint, maxt, out);
}

ChunkStore::ChunkReader::ChunkReader(const ChunkStore* store,
                                     rocksdb::Iterator* it)
    : store_(store), it_(it) {}

ChunkStore::ChunkReader::~ChunkReader() = default;

std::unique_ptr<ChunkStore::ChunkReader> ChunkStore::NewChunkReader() const {
  // No upper bound: one iterator serves every series, so Read stops at the
  // series' last key itself.
  return std::unique_ptr<ChunkReader>(new ChunkReader(
      this, db_->NewIterator(rocksdb::ReadOptions(), chunks_cf_)));
}

absl::Status ChunkStore::ChunkReader::Read(SeriesRef ref, int64_t mint,
                                           int64_t maxt,
                                           std::vector<ChunkPtr>* out) {
  return Visit(ref, mint, maxt, [out](const ChunkView& v) {
    auto c = std::make_shared<ChunkData>();
    c->encoding = v.encoding;
    c->min_time = v.min_time;
    c->max_time = v.max_time;
    c->num_samples = v.num_samples;
    c->bytes = std::string(v.bytes);
    out->push_back(ChunkPtr(std::move(c)));
    return absl::OkStatus();
  });
}

absl::Status ChunkStore::ChunkReader::Visit(
    SeriesRef ref, int64_t mint, int64_t maxt,
    absl::FunctionRef<absl::Status(const ChunkView&)> fn) {
  if (mint > maxt) return absl::OkStatus();
  // Chunks never span a chunk range boundary, so no chunk starting before
  // the range that contains mint can overlap [mint, maxt].
  const std::string start =
      mint < std::numeric_limits<int64_t>::min() + kChunkRangeMs
          ? ChunkKey(ref, std::numeric_limits<int64_t>::min())
          : ChunkKey(ref, ChunkRangeStart(mint));
  char ref_key[8];
  {
    const std::string r = RefKey(ref);
    std::memcpy(ref_key, r.data(), sizeof ref_key);
  }
  rocksdb::Iterator* it = it_.get();
  const int64_t cutoff = store_->cutoff_->load(std::memory_order_relaxed);
  for (it->Seek(start); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() < 8 || std::memcmp(k.data(), ref_key, 8) != 0) break;
    if (k.size() != 16) {
      return absl::DataLossError(
          absl::StrCat("chunks key ", KeyHex(k), ": bad key length"));
    }
    if (ChunkKeyTime(k.data() + 8) > maxt) break;
    rocksdb::Slice v = it->value();
    // The value layout is DecodeChunkValue's. The chunk's max_time is in
    // its header: most chunks before an instant query's window are passed
    // over without checking or copying them.
    if (v.size() < 25) {
      return absl::DataLossError(
          absl::StrCat("chunks key ", KeyHex(k), ": truncated chunk header"));
    }
    ChunkView c;
    c.max_time = static_cast<int64_t>(DecodeFixed64(v.data() + 9));
    if (c.max_time < mint || c.max_time < cutoff) continue;
    c.encoding = static_cast<ChunkEncoding>(v.data()[0]);
    c.min_time = static_cast<int64_t>(DecodeFixed64(v.data() + 1));
    c.num_samples = static_cast<int>(DecodeFixed32(v.data() + 17));
    c.bytes = absl::string_view(v.data() + 25, v.size() - 25);
    if (Crc(c.bytes) != DecodeFixed32(v.data() + 21)) {
      return absl::DataLossError(
          absl::StrCat("chunks key ", KeyHex(k), ": chunk checksum mismatch"));
    }
    if (c.encoding != ChunkEncoding::kRaw &&
        c.encoding != ChunkEncoding::kXor &&
        c.encoding != ChunkEncoding::kRange) {
      return absl::DataLossError(absl::StrCat("chunks key ", KeyHex(k),
                                              ": unknown chunk encoding ",
                                              static_cast<int>(v.data()[0])));
    }
    if (absl::Status st = fn(c); !st.ok()) return st;
  }
  return FromRocks(it->status(), "reading chunks");
}

absl::Status ChunkStore::LoadSeries(
    const std::function<absl::Status(PersistedSeries)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> meta(
      db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
  meta->SeekToFirst();
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), series_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != 8) {
      return absl::DataLossError(
          absl::StrCat("series key ", KeyHex(k), ": bad key length"));
    }
    PersistedSeries ps;
    ps.ref = GetBE64(k.data());
    auto labels =
        DecodeLabels(absl::string_view(it->value().data(), it->value().size()));
    if (!labels.ok()) {
      return absl::DataLossError(absl::StrCat("series key ", KeyHex(k), ": ",
                                              labels.status().message()));
    }
    ps.labels = *std::move(labels);
    // Both families are sorted by ref; walk them together.
    while (meta->Valid() && meta->key().size() == 8 &&
           GetBE64(meta->key().data()) < ps.ref) {
      meta->Next();
    }
    if (meta->Valid() && meta->key().size() == 8 &&
        GetBE64(meta->key().data()) == ps.ref) {
      if (meta->value().size() != 16) {
        return absl::DataLossError(absl::StrCat(
            "seriesmeta key ", KeyHex(meta->key()), ": bad value length"));
      }
      ps.has_meta = true;
      ps.min_time = static_cast<int64_t>(DecodeFixed64(meta->value().data()));
      ps.max_time =
          static_cast<int64_t>(DecodeFixed64(meta->value().data() + 8));
    }
    absl::Status s = fn(std::move(ps));
    if (!s.ok()) return s;
  }
  if (!meta->status().ok()) return FromRocks(meta->status(), "reading meta");
  return FromRocks(it->status(), "reading series");
}

absl::Status ChunkStore::ScanSeries(
    size_t batch_size,
    const std::function<absl::Status(absl::Span<const StoredSeries>)>& fn)
    const {
  std::unique_ptr<rocksdb::Iterator> meta(
      db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
  meta->SeekToFirst();
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), series_cf_));
  // The batch's label bytes are copied into one arena; views are built
  // once the batch is complete (the arena may move while it grows).
  std::string arena;
  struct Span {
    size_t name_off, name_len, value_off, value_len;
  };
  std::vector<Span> spans;
  std::vector<size_t> first_span;
  std::vector<StoredSeries> batch;
  std::vector<LabelView> views;
  auto emit = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    views.clear();
    views.reserve(spans.size());
    for (const Span& sp : spans) {
      views.emplace_back(
          absl::string_view(arena).substr(sp.name_off, sp.name_len),
          absl::string_view(arena).substr(sp.value_off, sp.value_len));
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].labels = views.data() + first_span[i];
    }
    absl::Status s = fn(batch);
    arena.clear();
    spans.clear();
    first_span.clear();
    batch.clear();
    return s;
  };
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != 8) {
      return absl::DataLossError(
          absl::StrCat("series key ", KeyHex(k), ": bad key length"));
    }
    StoredSeries ss;
    ss.ref = GetBE64(k.data());
    absl::string_view v(it->value().data(), it->value().size());
    auto bad = [&](absl::string_view what) {
      return absl::DataLossError(
          absl::StrCat("series key ", KeyHex(k), ": ", what));
    };
    if (v.size() < 4) return bad("truncated labels");
    const uint32_t crc = DecodeFixed32(v.data());
    v.remove_prefix(4);
    if (Crc(v) != crc) return bad("labels checksum mismatch");
    const size_t base = arena.size();
    const char* start = v.data();
    arena.append(v.data(), v.size());
    uint64_t n;
    if (!GetVarint(&v, &n)) return bad("bad label count");
    first_span.push_back(spans.size());
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t nlen, vlen;
      if (!GetVarint(&v, &nlen) || nlen > v.size()) {
        return bad("truncated label name");
      }
      const size_t noff = base + static_cast<size_t>(v.data() - start);
      v.remove_prefix(nlen);
      if (!GetVarint(&v, &vlen) || vlen > v.size()) {
        return bad("truncated label value");
      }
      const size_t voff = base + static_cast<size_t>(v.data() - start);
      v.remove_prefix(vlen);
      spans.push_back(Span{noff, nlen, voff, vlen});
    }
    ss.num_labels = static_cast<size_t>(n);
    while (meta->Valid() && meta->key().size() == 8 &&
           GetBE64(meta->key().data()) < ss.ref) {
      meta->Next();
    }
    if (meta->Valid() && meta->key().size() == 8 &&
        GetBE64(meta->key().data()) == ss.ref) {
      if (meta->value().size() != 16) {
        return absl::DataLossError(absl::StrCat(
            "seriesmeta key ", KeyHex(meta->key()), ": bad value length"));
      }
      ss.has_meta = true;
      ss.min_time = static_cast<int64_t>(DecodeFixed64(meta->value().data()));
      ss.max_time =
          static_cast<int64_t>(DecodeFixed64(meta->value().data() + 8));
    }
    batch.push_back(ss);
    if (batch.size() >= batch_size) {
      absl::Status s = emit();
      if (!s.ok()) return s;
    }
  }
  if (!meta->status().ok()) return FromRocks(meta->status(), "reading meta");
  if (!it->status().ok()) return FromRocks(it->status(), "reading series");
  return emit();
}

absl::Status ChunkStore::LoadHeadChunks(
    const std::function<absl::Status(SeriesRef, ChunkPtr)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), head_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != 8) {
      return absl::DataLossError(
          absl::StrCat("headchunks key ", KeyHex(k), ": bad key length"));
    }
    auto c = DecodeChunkValue(
        absl::string_view(it->value().data(), it->value().size()));
    if (!c.ok()) {
      return absl::DataLossError(absl::StrCat("headchunks key ", KeyHex(k),
                                              ": ", c.status().message()));
    }
    absl::Status s = fn(GetBE64(k.data()), *std::move(c));
    if (!s.ok()) return s;
  }
  return FromRocks(it->status(), "reading head chunks");
}

absl::Status ChunkStore::ForEachChunk(
    const std::function<absl::Status(SeriesRef, ChunkPtr)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), chunks_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != 16) {
      return absl::DataLossError(
          absl::StrCat("chunks key ", KeyHex(k), ": bad key length"));
    }
    auto c = DecodeChunkValue(
        absl::string_view(it->value().data(), it->value().size()));
    if (!c.ok()) {
      return absl::DataLossError(
          absl::StrCat("chunks key ", KeyHex(k), ": ", c.status().message()));
    }
    absl::Status s = fn(GetBE64(k.data()), *std::move(c));
    if (!s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("chunks key ", KeyHex(k), ": ", s.message()));
    }
  }
  return FromRocks(it->status(), "reading chunks");
}

absl::StatusOr<uint64_t> ChunkStore::GetWalCheckpoint() const {
  std::string v;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), default_cf_, kWalCheckpointKey, &v);
  if (s.IsNotFound()) return 0;
  if (!s.ok()) return FromRocks(s, "reading WAL checkpoint");
  if (v.size() != 8)
    return absl::DataLossError("default key wal_checkpoint: bad value");
  return DecodeFixed64(v.data());
}

absl::Status ChunkStore::SetWalCheckpoint(uint64_t segment) {
  std::string v;
  PutFixed64(&v, segment);
  return FromRocks(
      db_->Put(rocksdb::WriteOptions(), default_cf_, kWalCheckpointKey, v),
      "writing WAL checkpoint");
}

namespace {

// Bulk-load files are written inside the RocksDB directory so that the
// ingest can move (hard-link) them instead of copying. RocksDB only manages
// files named like its own (NNNNNN.sst), so it leaves these alone; a crash
// between writing and ingesting leaves them behind, and the next bulk load
// by another process removes them (files of this process may belong to a
// concurrent bulk load; they are named vigil-bulk-<pid>-...).
constexpr char kBulkFilePrefix[] = "vigil-bulk-";

void RemoveBulkLeftovers(const std::string& dir) {
  const std::string mine = absl::StrCat(kBulkFilePrefix, getpid(), "-");
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kBulkFilePrefix, 0) == 0 && name.rfind(mine, 0) != 0) {
      std::filesystem::remove(e.path(), ec);
    }
  }
}

}  // namespace

absl::Status ChunkStore::IngestBulk(
    const std::vector<std::pair<SeriesRef, const Labels*>>& new_series,
    std::vector<ChunkWrite> chunks) {
  RemoveBulkLeftovers(dir_);
  std::sort(chunks.begin(), chunks.end(),
            [](const ChunkWrite& a, const ChunkWrite& b) {
              return a.ref != b.ref ? a.ref < b.ref
                                    : a.chunk->min_time < b.chunk->min_time;
            });
  std::vector<std::pair<SeriesRef, const Labels*>> defs = new_series;
  std::sort(defs.begin(), defs.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });

  static std::atomic<int> sequence{0};
  const std::string stem = absl::StrCat(dir_, "/", kBulkFilePrefix, getpid(),
                                        "-", sequence.fetch_add(1), "-");
  std::vector<std::string> written;
  auto cleanup = [&] {
    std::error_code ec;
    for (const std::string& f : written) std::filesystem::remove(f, ec);
  };
  // Writes one sorted file for `cf`; `fill` calls put(key, value) in key
  // order. No file when nothing was put (RocksDB refuses empty files).
  auto write_file =
      [&](rocksdb::ColumnFamilyHandle* cf, bool bottommost,
          const std::function<rocksdb::Status(
              const std::function<rocksdb::Status(
                  const rocksdb::Slice&, const rocksdb::Slice&)>&)>& fill,
          std::vector<rocksdb::IngestExternalFileArg>* args) -> absl::Status {
    rocksdb::Options opts(db_->GetDBOptions(), db_->GetOptions(cf));
    // What compaction would write at the bottom: the files usually land
    // there and stay (chunks: ZSTD instead of LZ4, ~25 % smaller).
    if (bottommost &&
        opts.bottommost_compression != rocksdb::kDisableCompressionOption) {
      opts.compression = opts.bottommost_compression;
    }
    rocksdb::SstFileWriter w(rocksdb::EnvOptions(), opts, cf);
    const std::string path = stem + cf->GetName() + ".sst";
    rocksdb::Status s = w.Open(path);
    if (!s.ok()) return FromRocks(s, absl::StrCat("creating ", path));
    written.push_back(path);
    size_t n = 0;
    s = fill([&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
      ++n;
      return w.Put(k, v);
    });
    if (!s.ok()) return FromRocks(s, absl::StrCat("writing ", path));
    if (n == 0) return absl::OkStatus();
    s = w.Finish();
    if (!s.ok()) return FromRocks(s, absl::StrCat("finishing ", path));
    rocksdb::IngestExternalFileArg arg;
    arg.column_family = cf;
    arg.external_files = {path};
    arg.options.move_files = true;
    // Only this RocksDB version opens the store: no global seqno rewrite
    // inside the file (an extra random write per file).
    arg.options.write_global_seqno = false;
    args->push_back(std::move(arg));
    return absl::OkStatus();
  };

  std::vector<rocksdb::IngestExternalFileArg> args;
  absl::Status st = write_file(
      series_cf_, false,
      [&](const auto& put) {
        for (size_t i = 0; i < defs.size(); ++i) {
          if (i > 0 && defs[i].first == defs[i - 1].first) continue;
          rocksdb::Status s =
              put(RefKey(defs[i].first), EncodeLabels(*defs[i].second));
          if (!s.ok()) return s;
        }
        return rocksdb::Status::OK();
      },
      &args);
  if (st.ok()) {
    st = write_file(
        meta_cf_, false,
        [&](const auto& put) {
          for (size_t i = 0; i < chunks.size(); ++i) {
            if (i + 1 < chunks.size() && chunks[i + 1].ref == chunks[i].ref) {
              continue;  // the last chunk of a ref carries its bounds
            }
            std::string meta;
            PutFixed64(&meta, static_cast<uint64_t>(chunks[i].series_min_time));
            PutFixed64(&meta, static_cast<uint64_t>(chunks[i].series_max_time));
            rocksdb::Status s = put(RefKey(chunks[i].ref), meta);
            if (!s.ok()) return s;
          }
          return rocksdb::Status::OK();
        },
        &args);
  }
  if (st.ok()) {
    st = write_file(
        chunks_cf_, true,
        [&](const auto& put) {
          for (const ChunkWrite& w : chunks) {
            rocksdb::Status s = put(ChunkKey(w.ref, w.chunk->min_time),
                                    EncodeChunkValue(*w.chunk));
            if (!s.ok()) return s;
          }
          return rocksdb::Status::OK();
        },
        &args);
  }
  if (st.ok() && !args.empty()) {
    st = FromRocks(db_->IngestExternalFiles(args), "ingesting bulk load");
  }
  cleanup();  // moved files are gone already; failed ones are removed
  return st;
}

absl::StatusOr<int> ChunkStore::ChunkSortedRuns() const {
  rocksdb::ColumnFamilyMetaData meta;
  db_->GetColumnFamilyMetaData(chunks_cf_, &meta);
  int runs = 0;
  for (const rocksdb::LevelMetaData& level : meta.levels) {
    if (level.files.empty()) continue;
    runs += level.level == 0 ? static_cast<int>(level.files.size()) : 1;
  }
  // Unflushed memtable contents are one more run.
  uint64_t entries = 0;
  if (db_->GetIntProperty(chunks_cf_, "rocksdb.num-entries-active-mem-table",
                          &entries) &&
      entries > 0) {
    ++runs;
  }
  return runs;
}

absl::Status ChunkStore::ScanRangesToMerge(
    int64_t from_range, int64_t below_range, int64_t max_keys,
    MergeCursor* cursor, absl::FunctionRef<bool(RangeChunks)> fn) const {
  cursor->done = false;
  if (from_range >= below_range) {
    cursor->done = true;
    return absl::OkStatus();
  }
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), chunks_cf_));
  int64_t steps = 0;
  it->Seek(ChunkKey(cursor->ref, std::max(cursor->time, from_range)));
  while (it->Valid()) {
    rocksdb::Slice k = it->key();
    if (k.size() != 16) {
      return absl::DataLossError(
          absl::StrCat("chunks key ", KeyHex(k), ": bad key length"));
    }
    const SeriesRef ref = GetBE64(k.data());
    const int64_t t = ChunkKeyTime(k.data() + 8);
    if (steps >= max_keys) {
      cursor->ref = ref;
      cursor->time = t;
      return absl::OkStatus();
    }
    ++steps;
    if (t < from_range) {
      it->Seek(ChunkKey(ref, from_range));
      continue;
    }
    if (t >= below_range) {
      if (ref == std::numeric_limits<SeriesRef>::max()) break;
      it->Seek(ChunkKey(ref + 1, from_range));
      continue;
    }
    RangeChunks group;
    group.ref = ref;
    group.range_start = ChunkRangeStart(t);
    // Values are checked and decoded only for ranges with two or more
    // chunks; a merged store is mostly single-chunk ranges.
    std::vector<std::pair<std::string, std::string>> raw;  // key, value
    for (; it->Valid(); it->Next()) {
      rocksdb::Slice gk = it->key();
      if (gk.size() != 16 || GetBE64(gk.data()) != ref ||
          ChunkRangeStart(ChunkKeyTime(gk.data() + 8)) != group.range_start) {
        break;
      }
      raw.emplace_back(gk.ToString(), it->value().ToString());
      ++steps;
    }
    if (raw.size() >= 2) {
      for (const auto& [key, value] : raw) {
        auto c = DecodeChunkValue(value);
        if (!c.ok()) {
          return absl::DataLossError(absl::StrCat("chunks key ", KeyHex(key),
                                                  ": ", c.status().message()));
        }
        group.chunks.push_back(*std::move(c));
      }
    }
    if (group.chunks.size() >= 2 && !fn(std::move(group))) {
      if (it->Valid() && it->key().size() == 16) {
        cursor->ref = GetBE64(it->key().data());
        cursor->time = ChunkKeyTime(it->key().data() + 8);
        return FromRocks(it->status(), "scanning chunks to merge");
      }
      break;
    }
  }
  absl::Status st = FromRocks(it->status(), "scanning chunks to merge");
  if (!st.ok()) return st;
  cursor->done = true;
  return absl::OkStatus();
}

absl::Status ChunkStore::ReplaceChunks(
    absl::Span<const ChunkReplacement> replacements) {
  rocksdb::WriteBatch batch;
  for (const ChunkReplacement& r : replacements) {
    // Deletes first: a new chunk that reuses an old key must win.
    for (int64_t t : r.old_min_times)
      batch.Delete(chunks_cf_, ChunkKey(r.ref, t));
    for (const ChunkPtr& c : r.chunks) {
      batch.Put(chunks_cf_, ChunkKey(r.ref, c->min_time), EncodeChunkValue(*c));
    }
    if (r.meta) {
      std::string meta;
      PutFixed64(&meta, static_cast<uint64_t>(r.meta_min_time));
      PutFixed64(&meta, static_cast<uint64_t>(r.meta_max_time));
      batch.Put(meta_cf_, RefKey(r.ref), meta);
    }
  }
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch),
                   "replacing chunks");
}

size_t ChunkStore::EstimateSeriesCount() const {
  uint64_t keys = 0;
  if (!db_->GetIntProperty(series_cf_, "rocksdb.estimate-num-keys", &keys)) {
    return 0;
  }
  return static_cast<size_t>(keys);
}

absl::Status ChunkStore::DeleteSeries(absl::Span<const SeriesRef> refs) {
  rocksdb::WriteBatch batch;
  for (SeriesRef ref : refs) {
    batch.Delete(series_cf_, RefKey(ref));
    batch.Delete(meta_cf_, RefKey(ref));
    batch.Delete(head_cf_, RefKey(ref));
    batch.DeleteRange(chunks_cf_, RefKey(ref), RefKey(ref + 1));
  }
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch),
                   "deleting series");
}

absl::Status ChunkStore::DeleteChunkRange(SeriesRef ref, int64_t from,
                                          int64_t to) {
  rocksdb::WriteBatch batch;
  const std::string end = to == std::numeric_limits<int64_t>::max()
                              ? RefKey(ref + 1)
                              : ChunkKey(ref, to + 1);
  batch.DeleteRange(chunks_cf_, ChunkKey(ref, from), end);
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch),
                   "deleting chunks");
}

void ChunkStore::SetRetentionCutoff(int64_t cutoff_ms) {
  cutoff_->store(cutoff_ms);
}

absl::Status ChunkStore::CompactChunks() {
  rocksdb::CompactRangeOptions opts;
  opts.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  return FromRocks(db_->CompactRange(opts, chunks_cf_, nullptr, nullptr),
                   "compacting chunks");
}

int64_t ChunkStore::DiskBytes() const {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    if (e.is_regular_file(ec)) total += static_cast<int64_t>(e.file_size(ec));
  }
  return total;
}

absl::StatusOr<std::optional<int64_t>> ChunkStore::OldestChunkTime() const {
  // Keys are ordered by ref first, so the oldest chunk needs a full scan of
  // keys; retention by size runs rarely and this avoids a second index.
  std::optional<int64_t> oldest;
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, chunks_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 16) continue;
    const int64_t t = ChunkKeyTime(it->key().data() + 8);
    if (!oldest || t < *oldest) oldest = t;
    // Skip the rest of this series: its later chunks are newer.
    std::string next = RefKey(GetBE64(it->key().data()) + 1);
    it->Seek(next);
    if (!it->Valid()) break;
    it->Prev();
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scanning chunks");
  return oldest;
}

absl::Status ChunkStore::Flush() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return FromRocks(db_->Flush(fo, handles_), "flushing RocksDB memtables");
}

absl::Status ChunkStore::EnableCompactions() {
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    rocksdb::Status s =
        db_->SetOptions(h, {{"disable_auto_compactions", "false"}});
    if (!s.ok()) {
      return FromRocks(s,
                       absl::StrCat("enabling compactions of ", h->GetName()));
    }
  }
  return absl::OkStatus();
}

absl::Status ChunkStore::CompactScanned() {
  rocksdb::CompactRangeOptions o;
  for (rocksdb::ColumnFamilyHandle* h : {head_cf_, meta_cf_}) {
    rocksdb::Status s = db_->CompactRange(o, h, nullptr, nullptr);
    if (!s.ok()) {
      return FromRocks(s, absl::StrCat("compacting ", h->GetName()));
    }
  }
  return absl::OkStatus();
}

absl::Status ChunkStore::CreateCheckpoint(const std::string& dir) {
  rocksdb::Checkpoint* cp = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(db_, &cp);
  if (!s.ok()) return FromRocks(s, "creating checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> owned(cp);
  return FromRocks(cp->CreateCheckpoint(dir),
                   absl::StrCat("writing checkpoint to ", dir));
}

}  // namespace vigil::tsdb
