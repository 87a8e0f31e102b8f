#include "tsdb/labels.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace vigil::tsdb {
namespace {

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// Validates UTF-8 structurally (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

inline uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h *= 0xff51afd7ed558ccdULL;
  return h ^ (h >> 33);
}

uint64_t HashBytes(uint64_t h, absl::string_view s) {
  // FNV-1a over bytes, folded through Mix for avalanche.
  uint64_t f = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    f ^= c;
    f *= 0x100000001b3ULL;
  }
  return Mix(h, f ^ s.size());
}

}  // namespace

bool IsValidLabelName(absl::string_view name) {
  if (name.empty() || !IsNameStart(name[0])) return false;
  for (char c : name.substr(1)) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

bool IsValidMetricName(absl::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  for (char c : name.substr(1)) {
    if (!(IsNameChar(c) || c == ':')) return false;
  }
  return true;
}

absl::StatusOr<Labels> Labels::FromPairs(std::vector<Label> pairs) {
  for (const Label& l : pairs) {
    if (l.name.empty()) {
      return absl::InvalidArgumentError("empty label name");
    }
    if (!IsValidLabelName(l.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid label name \"", l.name, "\""));
    }
    if (!IsValidUtf8(l.value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid UTF-8 in value of label \"", l.name, "\""));
    }
  }
  pairs.erase(std::remove_if(pairs.begin(), pairs.end(),
                             [](const Label& l) { return l.value.empty(); }),
              pairs.end());
  std::sort(pairs.begin(), pairs.end(),
            [](const Label& a, const Label& b) { return a.name < b.name; });
  for (size_t i = 1; i < pairs.size(); ++i) {
    if (pairs[i].name == pairs[i - 1].name) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate label name \"", pairs[i].name, "\""));
    }
  }
  Labels out;
  out.labels_ = std::move(pairs);
  return out;
}

Labels Labels::FromSortedUnchecked(std::vector<Label> pairs) {
  Labels out;
  out.labels_ = std::move(pairs);
  return out;
}

absl::string_view Labels::Get(absl::string_view name) const {
  auto it = std::lower_bound(
      labels_.begin(), labels_.end(), name,
      [](const Label& l, absl::string_view n) { return l.name < n; });
  if (it != labels_.end() && it->name == name) return it->value;
  return {};
}

bool Labels::Has(absl::string_view name) const { return !Get(name).empty(); }

uint64_t Labels::Hash() const {
  uint64_t h = 0x2545F4914F6CDD1DULL;
  for (const Label& l : labels_) {
    h = HashBytes(h, l.name);
    h = HashBytes(h, l.value);
  }
  return h;
}

uint64_t HashLabelViews(const LabelView* pairs, size_t n) {
  uint64_t h = 0x2545F4914F6CDD1DULL;
  for (size_t i = 0; i < n; ++i) {
    h = HashBytes(h, pairs[i].first);
    h = HashBytes(h, pairs[i].second);
  }
  return h;
}

uint64_t Labels::HashFor(const std::vector<std::string>& names,
                         bool include) const {
  uint64_t h = 0x2545F4914F6CDD1DULL;
  for (const Label& l : labels_) {
    bool listed = std::find(names.begin(), names.end(), l.name) != names.end();
    if (listed != include) continue;
    h = HashBytes(h, l.name);
    h = HashBytes(h, l.value);
  }
  return h;
}

namespace {
void AppendQuoted(std::string* out, absl::string_view v) {
  out->push_back('"');
  for (char c : v) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '"':
        out->append("\\\"");
        break;
      case '\n':
        out->append("\\n");
        break;
      default:
        out->push_back(c);
    }
  }
  out->push_back('"');
}
}  // namespace

std::string Labels::ToString() const {
  std::string out;
  absl::string_view name = MetricName();
  out.append(name.data(), name.size());
  bool first = true;
  out.push_back('{');
  for (const Label& l : labels_) {
    if (l.name == kMetricName) continue;
    if (!first) out.append(", ");
    first = false;
    out.append(l.name);
    out.push_back('=');
    AppendQuoted(&out, l.value);
  }
  out.push_back('}');
  if (!name.empty() && first) out.resize(out.size() - 2);
  return out;
}

bool operator<(const Labels& a, const Labels& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a.labels_[i].name != b.labels_[i].name) {
      return a.labels_[i].name < b.labels_[i].name;
    }
    if (a.labels_[i].value != b.labels_[i].value) {
      return a.labels_[i].value < b.labels_[i].value;
    }
  }
  return a.size() < b.size();
}

LabelsBuilder::LabelsBuilder(const Labels& base) { Reset(base); }

void LabelsBuilder::Reset(const Labels& base) {
  labels_.assign(base.begin(), base.end());
}

LabelsBuilder& LabelsBuilder::Set(absl::string_view name,
                                  absl::string_view value) {
  if (value.empty()) return Del(name);
  auto it = std::lower_bound(
      labels_.begin(), labels_.end(), name,
      [](const Label& l, absl::string_view n) { return l.name < n; });
  if (it != labels_.end() && it->name == name) {
    it->value.assign(value.data(), value.size());
  } else {
    labels_.insert(it, Label{std::string(name), std::string(value)});
  }
  return *this;
}

LabelsBuilder& LabelsBuilder::Del(absl::string_view name) {
  auto it = std::lower_bound(
      labels_.begin(), labels_.end(), name,
      [](const Label& l, absl::string_view n) { return l.name < n; });
  if (it != labels_.end() && it->name == name) labels_.erase(it);
  return *this;
}

absl::string_view LabelsBuilder::Get(absl::string_view name) const {
  for (const Label& l : labels_) {
    if (l.name == name) return l.value;
  }
  return {};
}

LabelsBuilder& LabelsBuilder::Keep(const std::vector<std::string>& names) {
  labels_.erase(std::remove_if(labels_.begin(), labels_.end(),
                               [&](const Label& l) {
                                 return std::find(names.begin(), names.end(),
                                                  l.name) == names.end();
                               }),
                labels_.end());
  return *this;
}

Labels LabelsBuilder::Build() const {
  return Labels::FromSortedUnchecked(labels_);
}

}  // namespace vigil::tsdb
