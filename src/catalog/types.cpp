#include "catalog/types.hpp"

namespace deskaudit::catalog {

std::string_view to_string(RecordingStatus s) {
  switch (s) {
    case RecordingStatus::recording:
      return "recording";
    case RecordingStatus::complete:
      return "complete";
    case RecordingStatus::interrupted:
      return "interrupted";
  }
  return "recording";
}

std::string_view to_string(PolicySource s) {
  switch (s) {
    case PolicySource::none:
      return "none";
    case PolicySource::computer:
      return "computer";
    case PolicySource::pool:
      return "pool";
  }
  return "none";
}

std::string_view to_string(TargetType t) {
  switch (t) {
    case TargetType::computer:
      return "computer";
    case TargetType::pool:
      return "pool";
  }
  return "computer";
}

std::optional<RecordingStatus> recording_status_from(std::string_view text) {
  if (text == "recording") return RecordingStatus::recording;
  if (text == "complete") return RecordingStatus::complete;
  if (text == "interrupted") return RecordingStatus::interrupted;
  return std::nullopt;
}

}  // namespace deskaudit::catalog
