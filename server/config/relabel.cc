#include "server/config/relabel.h"

#include <locale.h>
#include <wctype.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "promql/parser/go_string.h"
#include "re2/re2.h"
#include "server/config/internal/md5.h"

namespace vigil::config {
namespace {

struct ActionName {
  RelabelAction action;
  absl::string_view name;
};

constexpr ActionName kActionNames[] = {
    {RelabelAction::kReplace, "replace"},
    {RelabelAction::kKeep, "keep"},
    {RelabelAction::kDrop, "drop"},
    {RelabelAction::kKeepEqual, "keepequal"},
    {RelabelAction::kDropEqual, "dropequal"},
    {RelabelAction::kHashMod, "hashmod"},
    {RelabelAction::kLabelMap, "labelmap"},
    {RelabelAction::kLabelDrop, "labeldrop"},
    {RelabelAction::kLabelKeep, "labelkeep"},
    {RelabelAction::kLowercase, "lowercase"},
    {RelabelAction::kUppercase, "uppercase"},
};

re2::StringPiece Piece(absl::string_view s) {
  return re2::StringPiece(s.data(), s.size());
}

// A target label may contain $-references that expand into a name, e.g.
// "${1}_total". This is Prometheus's `relabelTarget` pattern.
const re2::RE2& RelabelTargetPattern() {
  static const re2::RE2* const kPattern =
      new re2::RE2(R"(^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$)");
  return *kPattern;
}

bool IsNameChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

// Appends `tmpl` to `out`, expanding $1, ${1}, $name and ${name} from the
// submatches of `re` as Go's regexp.Expand does: names are the longest run
// of [A-Za-z0-9_]; "$$" is "$"; a malformed reference stays literal; a
// reference to a missing or unmatched group expands to "".
void Expand(const re2::RE2& re, absl::string_view tmpl,
            const re2::StringPiece* groups, int num_groups, std::string* out) {
  while (!tmpl.empty()) {
    size_t dollar = tmpl.find('$');
    if (dollar == absl::string_view::npos) break;
    out->append(tmpl.data(), dollar);
    tmpl.remove_prefix(dollar + 1);
    if (!tmpl.empty() && tmpl[0] == '$') {
      out->push_back('$');
      tmpl.remove_prefix(1);
      continue;
    }
    // Extract the reference name.
    bool brace = !tmpl.empty() && tmpl[0] == '{';
    size_t start = brace ? 1 : 0;
    size_t i = start;
    while (i < tmpl.size() && IsNameChar(tmpl[i])) ++i;
    if (i == start || (brace && (i >= tmpl.size() || tmpl[i] != '}'))) {
      out->push_back('$');  // malformed: the '$' is literal
      continue;
    }
    absl::string_view name = tmpl.substr(start, i - start);
    tmpl.remove_prefix(brace ? i + 1 : i);

    int num = 0;
    for (char c : name) {
      if (c < '0' || c > '9' || num >= 100000000) {
        num = -1;
        break;
      }
      num = num * 10 + (c - '0');
    }
    if (name.size() > 1 && name[0] == '0') num = -1;
    if (num < 0) {
      const auto& named = re.NamedCapturingGroups();
      auto it = named.find(std::string(name));
      if (it == named.end()) continue;
      num = it->second;
    }
    if (num < num_groups && groups[num].data() != nullptr) {
      out->append(groups[num].data(), groups[num].size());
    }
  }
  out->append(tmpl.data(), tmpl.size());
}

// Matches `re` against all of `text`, filling `groups` (group 0 = whole).
bool MatchGroups(const re2::RE2& re, absl::string_view text,
                 std::vector<re2::StringPiece>* groups) {
  groups->assign(re.NumberOfCapturingGroups() + 1, re2::StringPiece());
  return re.Match(Piece(text), 0, text.size(), re2::RE2::UNANCHORED,
                  groups->data(), static_cast<int>(groups->size()));
}

bool FullMatch(const re2::RE2& re, absl::string_view text) {
  return re.Match(Piece(text), 0, text.size(), re2::RE2::UNANCHORED, nullptr,
                  0);
}

// Go's strings.ToLower/ToUpper: Unicode simple case mapping per code point.
// ASCII takes a fast path; other text goes through glibc's C.UTF-8 tables,
// which carry the same simple mappings. Invalid UTF-8 bytes become U+FFFD,
// as in Go.
locale_t Utf8Locale() {
  static const locale_t kLocale = newlocale(LC_CTYPE_MASK, "C.UTF-8", 0);
  return kLocale;
}

// Decodes one code point at s[*i], advancing *i; 0xFFFD for invalid input.
uint32_t DecodeUtf8(absl::string_view s, size_t* i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = b(*i);
  int len = c < 0x80           ? 1
            : (c >> 5) == 0x6  ? 2
            : (c >> 4) == 0xE  ? 3
            : (c >> 3) == 0x1E ? 4
                               : 0;
  if (len == 0 || *i + len > s.size()) {
    ++*i;
    return 0xFFFD;
  }
  uint32_t cp = len == 1   ? c
                : len == 2 ? c & 0x1F
                : len == 3 ? c & 0x0F
                           : c & 0x07;
  for (int k = 1; k < len; ++k) {
    if ((b(*i + k) & 0xC0) != 0x80) {
      ++*i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b(*i + k) & 0x3F);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++*i;
    return 0xFFFD;
  }
  *i += len;
  return cp;
}

std::string CaseMap(absl::string_view s, bool upper) {
  bool ascii = std::all_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x80;
  });
  locale_t loc = Utf8Locale();
  if (ascii || loc == static_cast<locale_t>(0)) {
    return upper ? absl::AsciiStrToUpper(s) : absl::AsciiStrToLower(s);
  }
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = DecodeUtf8(s, &i);
    wint_t mapped = upper ? towupper_l(static_cast<wint_t>(cp), loc)
                          : towlower_l(static_cast<wint_t>(cp), loc);
    promql::AppendUtf8(static_cast<uint32_t>(mapped), &out);
  }
  return out;
}

uint64_t HashModSum(absl::string_view value) {
  std::array<uint8_t, 16> h = internal::Md5(value);
  // Prometheus folds the digest into a uint64 with shifts that overflow for
  // the first 8 bytes, so only the last 8 bytes count, big endian.
  uint64_t s = 0;
  for (int i = 8; i < 16; ++i) s = (s << 8) | h[i];
  return s;
}

bool ApplyOne(const RelabelConfig& cfg, tsdb::LabelsBuilder* lb,
              std::string* scratch, std::vector<re2::StringPiece>* groups) {
  std::string& val = *scratch;
  val.clear();
  for (size_t i = 0; i < cfg.source_labels.size(); ++i) {
    if (i > 0) val.append(cfg.separator);
    absl::string_view v = lb->Get(cfg.source_labels[i]);
    val.append(v.data(), v.size());
  }
  const re2::RE2& re = *cfg.regex;

  switch (cfg.action) {
    case RelabelAction::kDrop:
      if (FullMatch(re, val)) return false;
      break;
    case RelabelAction::kKeep:
      if (!FullMatch(re, val)) return false;
      break;
    case RelabelAction::kDropEqual:
      if (lb->Get(cfg.target_label) == val) return false;
      break;
    case RelabelAction::kKeepEqual:
      if (lb->Get(cfg.target_label) != val) return false;
      break;
    case RelabelAction::kReplace: {
      if (!MatchGroups(re, val, groups)) break;
      int n = static_cast<int>(groups->size());
      // Most configs use a literal target label: skip expanding it.
      absl::string_view target = cfg.target_label;
      std::string expanded_target;
      if (target.find('$') != absl::string_view::npos) {
        Expand(re, cfg.target_label, groups->data(), n, &expanded_target);
        target = expanded_target;
      }
      if (!tsdb::IsValidLabelName(target)) {
        lb->Del(cfg.target_label);
        break;
      }
      std::string res;
      Expand(re, cfg.replacement, groups->data(), n, &res);
      if (res.empty()) {
        lb->Del(cfg.target_label);
        break;
      }
      lb->Set(target, res);
      break;
    }
    case RelabelAction::kLowercase:
      lb->Set(cfg.target_label, CaseMap(val, /*upper=*/false));
      break;
    case RelabelAction::kUppercase:
      lb->Set(cfg.target_label, CaseMap(val, /*upper=*/true));
      break;
    case RelabelAction::kHashMod: {
      uint64_t mod = HashModSum(val) % cfg.modulus;
      lb->Set(cfg.target_label, absl::StrCat(mod));
      break;
    }
    case RelabelAction::kLabelMap: {
      tsdb::Labels snapshot = lb->Build();
      for (const tsdb::Label& l : snapshot) {
        if (!MatchGroups(re, l.name, groups)) continue;
        std::string name;
        Expand(re, cfg.replacement, groups->data(),
               static_cast<int>(groups->size()), &name);
        lb->Set(name, l.value);
      }
      break;
    }
    case RelabelAction::kLabelDrop:
    case RelabelAction::kLabelKeep: {
      bool drop_matching = cfg.action == RelabelAction::kLabelDrop;
      tsdb::Labels snapshot = lb->Build();
      for (const tsdb::Label& l : snapshot) {
        if (FullMatch(re, l.name) == drop_matching) lb->Del(l.name);
      }
      break;
    }
  }
  return true;
}

}  // namespace

absl::string_view RelabelActionName(RelabelAction action) {
  for (const ActionName& a : kActionNames) {
    if (a.action == action) return a.name;
  }
  return "unknown";
}

absl::StatusOr<RelabelAction> ParseRelabelAction(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  for (const ActionName& a : kActionNames) {
    if (a.name == lower) return a.action;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown relabel action \"", name, "\""));
}

absl::Status RelabelConfig::Compile() {
  re2::RE2::Options opts;
  opts.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(
      absl::StrCat("^(?:", regex_source, ")$"), opts);
  if (!re->ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid regex \"", regex_source, "\": ", re->error()));
  }
  regex = std::move(re);
  return absl::OkStatus();
}

absl::Status RelabelConfig::Validate() const {
  const absl::string_view act = RelabelActionName(action);
  auto error = [](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(parts...));
  };
  for (const std::string& name : source_labels) {
    if (!tsdb::IsValidLabelName(name)) {
      return error("\"", name, "\" is not a valid label name in source_labels");
    }
  }
  if (action == RelabelAction::kHashMod && modulus == 0) {
    return error("relabel configuration for hashmod requires non-zero modulus");
  }
  const bool needs_target = action == RelabelAction::kReplace ||
                            action == RelabelAction::kHashMod ||
                            action == RelabelAction::kLowercase ||
                            action == RelabelAction::kUppercase ||
                            action == RelabelAction::kKeepEqual ||
                            action == RelabelAction::kDropEqual;
  if (needs_target && target_label.empty()) {
    return error("relabel configuration for ", act,
                 " action requires 'target_label' value");
  }
  const bool plain_target = action == RelabelAction::kLowercase ||
                            action == RelabelAction::kUppercase ||
                            action == RelabelAction::kKeepEqual ||
                            action == RelabelAction::kDropEqual;
  if ((action == RelabelAction::kReplace || plain_target) &&
      !re2::RE2::FullMatch(Piece(target_label), RelabelTargetPattern())) {
    return error("\"", target_label, "\" is invalid 'target_label' for ", act,
                 " action");
  }
  if (plain_target && !tsdb::IsValidLabelName(target_label)) {
    return error("\"", target_label, "\" is invalid 'target_label' for ", act,
                 " action");
  }
  if (plain_target && replacement != kDefaultRelabelReplacement) {
    return error("'replacement' can not be set for ", act, " action");
  }
  if (action == RelabelAction::kLabelMap &&
      !re2::RE2::FullMatch(Piece(replacement), RelabelTargetPattern())) {
    return error("\"", replacement, "\" is invalid 'replacement' for ", act,
                 " action");
  }
  if (action == RelabelAction::kHashMod &&
      !tsdb::IsValidLabelName(target_label)) {
    return error("\"", target_label, "\" is invalid 'target_label' for ", act,
                 " action");
  }
  if ((action == RelabelAction::kKeepEqual ||
       action == RelabelAction::kDropEqual) &&
      (regex_source != kDefaultRelabelRegex || modulus != 0 ||
       separator != kDefaultRelabelSeparator ||
       replacement != kDefaultRelabelReplacement)) {
    return error(act,
                 " action requires only 'source_labels' and `target_label`, "
                 "and no other fields");
  }
  if ((action == RelabelAction::kLabelDrop ||
       action == RelabelAction::kLabelKeep) &&
      (!source_labels.empty() || !target_label.empty() || modulus != 0 ||
       separator != kDefaultRelabelSeparator ||
       replacement != kDefaultRelabelReplacement)) {
    return error(act, " action requires only 'regex', and no other fields");
  }
  return absl::OkStatus();
}

absl::StatusOr<RelabelConfig> RelabelConfig::Create(
    RelabelAction action, std::vector<std::string> source_labels,
    std::string separator, std::string regex, uint64_t modulus,
    std::string target_label, std::string replacement) {
  RelabelConfig c;
  c.action = action;
  c.source_labels = std::move(source_labels);
  c.separator = std::move(separator);
  c.regex_source = std::move(regex);
  c.modulus = modulus;
  c.target_label = std::move(target_label);
  c.replacement = std::move(replacement);
  if (absl::Status s = c.Compile(); !s.ok()) return s;
  if (absl::Status s = c.Validate(); !s.ok()) return s;
  return c;
}

bool Relabel(const std::vector<RelabelConfig>& configs,
             tsdb::LabelsBuilder* lb) {
  std::string scratch;
  std::vector<re2::StringPiece> groups;
  for (const RelabelConfig& cfg : configs) {
    if (!ApplyOne(cfg, lb, &scratch, &groups)) return false;
  }
  return true;
}

tsdb::Labels RelabelLabels(const std::vector<RelabelConfig>& configs,
                           const tsdb::Labels& labels, bool* keep) {
  tsdb::LabelsBuilder lb(labels);
  *keep = Relabel(configs, &lb);
  if (!*keep) return tsdb::Labels();
  return lb.Build();
}

}  // namespace vigil::config
