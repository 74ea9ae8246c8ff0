#pragma once
// The Windows agent's entries in the Windows Event Log: the Application log,
// source "deskaudit-agent", one event per log line of the service and of its
// session helper at `info` and above (error, warning, information). The
// message text is the log line; the source's message file is
// deskaudit-agent.exe, whose message table (messages.mc) has the one message
// "%1", so Event Viewer shows the line as it is. The rotated log files in the
// state directory keep everything (docs/windows.md).
#include <windows.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>

#include <spdlog/sinks/base_sink.h>

#include "common/error.hpp"

namespace deskaudit::agent::windows {

inline constexpr wchar_t kEventSource[] = L"deskaudit-agent";
// The message of messages.mc ("%1"): the event id of every entry.
inline constexpr DWORD kEventMessageId = 1;
// HKLM\<this>\deskaudit-agent registers the source.
inline constexpr wchar_t kEventLogKey[] = L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application";

// Registers the source (administrator): EventMessageFile = `message_file`
// (the exe holding the message table), TypesSupported = error, warning,
// information. Idempotent. Errors: permission_denied without the right to
// write HKLM, io otherwise.
// `source` is kEventSource but in tests.
Status register_event_source(const std::filesystem::path& message_file, const wchar_t* source = kEventSource);
// Removes the registration; a missing one is no error.
Status unregister_event_source(const wchar_t* source = kEventSource);

// A spdlog sink reporting each line (the message only: Event Viewer has the
// time and level) through ReportEventW: error and critical as errors, warn as
// warnings, info as information; lines below `min_level` are not sent. A
// message longer than the event log takes (31,839 characters) is cut.
class EventLogSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Errors: io when RegisterEventSourceW fails.
  static Result<std::shared_ptr<EventLogSink>> open(spdlog::level::level_enum min_level,
                                                    const wchar_t* source = kEventSource);
  ~EventLogSink() override;
  // Events reported, and ReportEventW calls that failed.
  std::size_t reported() const { return reported_; }
  std::size_t failed() const { return failed_; }

 private:
  explicit EventLogSink(HANDLE source) : source_(source) {}
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

  HANDLE source_;
  std::atomic<std::size_t> reported_{0}, failed_{0};
};

}  // namespace deskaudit::agent::windows
