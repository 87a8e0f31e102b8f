#include "tsdb/appender.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace vigil::tsdb {
namespace {
constexpr absl::string_view kOutOfOrder = "out of order sample";
constexpr absl::string_view kDuplicate = "duplicate sample for timestamp";
constexpr absl::string_view kOutOfBounds = "out of bounds";
constexpr absl::string_view kInvalidLabels = "invalid labels";
}  // namespace

absl::Status MakeAppendError(AppendError kind, absl::string_view detail) {
  absl::string_view prefix;
  switch (kind) {
    case AppendError::kNone:
      return absl::OkStatus();
    case AppendError::kOutOfOrder:
      prefix = kOutOfOrder;
      break;
    case AppendError::kDuplicate:
      prefix = kDuplicate;
      break;
    case AppendError::kOutOfBounds:
      prefix = kOutOfBounds;
      break;
    case AppendError::kInvalidLabels:
      return absl::InvalidArgumentError(
          absl::StrCat(kInvalidLabels, detail.empty() ? "" : ": ", detail));
    case AppendError::kOther:
      return absl::InternalError(detail);
  }
  return absl::OutOfRangeError(
      absl::StrCat(prefix, detail.empty() ? "" : ": ", detail));
}

AppendError ClassifyAppendError(const absl::Status& status) {
  if (status.ok()) return AppendError::kNone;
  absl::string_view m = status.message();
  if (status.code() == absl::StatusCode::kOutOfRange) {
    if (absl::StartsWith(m, kOutOfOrder)) return AppendError::kOutOfOrder;
    if (absl::StartsWith(m, kDuplicate)) return AppendError::kDuplicate;
    if (absl::StartsWith(m, kOutOfBounds)) return AppendError::kOutOfBounds;
  }
  if (status.code() == absl::StatusCode::kInvalidArgument &&
      absl::StartsWith(m, kInvalidLabels)) {
    return AppendError::kInvalidLabels;
  }
  return AppendError::kOther;
}

}  // namespace vigil::tsdb
