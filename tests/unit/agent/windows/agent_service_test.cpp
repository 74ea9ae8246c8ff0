#include "agent/windows/agent_service.hpp"

#include <windows.h>
#include <shellapi.h>

#include <gtest/gtest.h>

#include "agent/windows/win_util.hpp"
#include "common/fs.hpp"

namespace deskaudit::agent::windows {
namespace {

// What the helper's command line gives back (CommandLineToArgvW) is what was quoted.
TEST(AgentServiceTest, QuotedArgumentsSurviveTheCommandLine) {
  const std::vector<std::wstring> args = {L"run", L"--server", L"https://a.example/x y", L"", L"a\"b",
                                          L"C:\\Program Files\\", L"tail\\\\", L"\\\\server\\share\\\"q\""};
  std::wstring line = L"deskaudit-agent.exe";
  for (const auto& a : args) line += L" " + quote_argument(a);
  int argc = 0;
  LocalPtr<wchar_t*> argv(CommandLineToArgvW(line.c_str(), &argc));
  ASSERT_TRUE(argv);
  ASSERT_EQ(argc, static_cast<int>(args.size()) + 1);
  for (std::size_t i = 0; i < args.size(); ++i) EXPECT_EQ(argv.get()[i + 1], args[i]) << i;
  EXPECT_EQ(quote_argument(L"plain"), L"plain");
}

TEST(AgentServiceTest, TheEnrollTokenIsReadFromTheStateDirectory) {
  const auto dir = std::filesystem::temp_directory_path() / ("deskaudit-token-" + std::to_string(GetCurrentProcessId()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto none = read_enroll_token(dir);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(*none, "");
  ASSERT_TRUE(write_file_atomic(enroll_token_file(dir), "tok-123\r\n"));
  auto token = read_enroll_token(dir);
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(*token, "tok-123");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace deskaudit::agent::windows
