// The Event Log pieces (src/agent/windows/event_log.hpp) under Wine: the
// source's registration in the registry, the sink's reports per level, and
// the message table of deskaudit-agent.exe that Event Viewer formats each
// entry with. Reading the entries back from the Application log is checked on
// real Windows only (Wine 8 keeps no event log: ReportEventW goes to its
// debug channel).
#include <windows.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <spdlog/logger.h>

#include "agent/windows/event_log.hpp"
#include "agent/windows/win_util.hpp"

namespace deskaudit::agent::windows {
namespace {

constexpr wchar_t kTestSource[] = L"deskaudit-agent-test";

std::wstring key_of(const wchar_t* source) { return std::wstring(kEventLogKey) + L"\\" + source; }

std::filesystem::path agent_exe() {
  std::wstring path(MAX_PATH, L'\0');
  path.resize(GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size())));
  return std::filesystem::path(path).parent_path() / L"deskaudit-agent.exe";
}

TEST(EventLogTest, TheSourceIsRegisteredWithItsMessageFileAndRemoved) {
  const std::filesystem::path file = L"C:\\Program Files\\deskaudit\\deskaudit-agent.exe";
  ASSERT_TRUE(register_event_source(file, kTestSource));
  ASSERT_TRUE(register_event_source(file, kTestSource)) << "a second registration is no error";
  wchar_t value[MAX_PATH] = {};
  DWORD size = sizeof value;
  ASSERT_EQ(RegGetValueW(HKEY_LOCAL_MACHINE, key_of(kTestSource).c_str(), L"EventMessageFile",
                         RRF_RT_REG_EXPAND_SZ | RRF_NOEXPAND, nullptr, value, &size),
            ERROR_SUCCESS);
  EXPECT_EQ(std::wstring(value), file.wstring());
  DWORD types = 0;
  size = sizeof types;
  ASSERT_EQ(RegGetValueW(HKEY_LOCAL_MACHINE, key_of(kTestSource).c_str(), L"TypesSupported", RRF_RT_REG_DWORD, nullptr,
                         &types, &size),
            ERROR_SUCCESS);
  EXPECT_EQ(types, DWORD{EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE});

  ASSERT_TRUE(unregister_event_source(kTestSource));
  HKEY k = nullptr;
  EXPECT_EQ(RegOpenKeyExW(HKEY_LOCAL_MACHINE, key_of(kTestSource).c_str(), 0, KEY_READ, &k), ERROR_FILE_NOT_FOUND);
  EXPECT_TRUE(unregister_event_source(kTestSource)) << "removing a missing registration is no error";
}

TEST(EventLogTest, TheSinkReportsEachLineFromItsLevelOn) {
  ASSERT_TRUE(register_event_source(agent_exe(), kTestSource));
  auto sink = EventLogSink::open(spdlog::level::info, kTestSource);
  ASSERT_TRUE(sink) << sink.error().message;
  spdlog::logger log("event-log-test", *sink);
  log.set_level(spdlog::level::trace);
  const std::string marker = "deskaudit event log test " + std::to_string(GetTickCount64());
  log.debug("{} debug: not sent", marker);
  log.info("{} info recording started user=\xc3\xa9lise", marker);
  log.warn("{} warn", marker);
  log.error("{} error", marker);
  log.info(std::string(40'000, 'x'));  // cut to what the log takes
  EXPECT_EQ((*sink)->reported(), 4u);
  EXPECT_EQ((*sink)->failed(), 0u);

  if (running_under_wine()) {
    std::printf("under Wine: the entries are not read back (Wine keeps no event log)\n");
  } else {
    // Newest first: the three lines with the marker, at their types.
    HANDLE h = OpenEventLogW(nullptr, L"Application");
    ASSERT_NE(h, nullptr);
    std::vector<BYTE> buf(1 << 20);
    DWORD read = 0, needed = 0;
    std::vector<std::pair<WORD, std::wstring>> mine;
    while (mine.size() < 3 && ReadEventLogW(h, EVENTLOG_SEQUENTIAL_READ | EVENTLOG_BACKWARDS_READ, 0, buf.data(),
                                            static_cast<DWORD>(buf.size()), &read, &needed)) {
      for (DWORD off = 0; off < read;) {
        const auto* rec = reinterpret_cast<const EVENTLOGRECORD*>(buf.data() + off);
        const auto* source = reinterpret_cast<const wchar_t*>(rec + 1);
        if (std::wstring(source) == kTestSource && rec->NumStrings == 1) {
          std::wstring text(reinterpret_cast<const wchar_t*>(buf.data() + off + rec->StringOffset));
          if (text.find(widen(marker)) == 0) mine.emplace_back(rec->EventType, text);
        }
        off += rec->Length;
      }
    }
    CloseEventLog(h);
    ASSERT_EQ(mine.size(), 3u);
    EXPECT_EQ(mine[0].first, EVENTLOG_ERROR_TYPE);
    EXPECT_EQ(mine[1].first, EVENTLOG_WARNING_TYPE);
    EXPECT_EQ(mine[2].first, EVENTLOG_INFORMATION_TYPE);
    EXPECT_EQ(mine[2].second, widen(marker + " info recording started user=\xc3\xa9lise"));
  }
  sink->reset();
  ASSERT_TRUE(unregister_event_source(kTestSource));
}

// What Event Viewer does with an entry: the message file's message 1 with the
// line as its insert. The agent's own exe is that file.
TEST(EventLogTest, TheAgentExeCarriesTheMessageThatShowsTheLineAsItIs) {
  const auto exe = agent_exe();
  ASSERT_TRUE(std::filesystem::exists(exe)) << exe.string();
  HMODULE m = LoadLibraryExW(exe.c_str(), nullptr, LOAD_LIBRARY_AS_DATAFILE | LOAD_LIBRARY_AS_IMAGE_RESOURCE);
  ASSERT_NE(m, nullptr) << win_error("LoadLibraryExW");
  const wchar_t* line = L"recording started local_id=r1 user=\u00e9lise";
  DWORD_PTR args[1] = {reinterpret_cast<DWORD_PTR>(line)};
  wchar_t out[512] = {};
  const DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_ARGUMENT_ARRAY, m, kEventMessageId,
                                 MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US), out, static_cast<DWORD>(std::size(out)),
                                 reinterpret_cast<va_list*>(args));
  FreeLibrary(m);
  ASSERT_GT(n, 0u) << win_error("FormatMessageW");
  std::wstring text(out, n);
  while (!text.empty() && (text.back() == L'\n' || text.back() == L'\r')) text.pop_back();
  EXPECT_EQ(text, line);
}

}  // namespace
}  // namespace deskaudit::agent::windows
