#pragma once
// The path of agent_windows_probe.exe, which the build puts beside the test exe.
#include <windows.h>

#include <filesystem>
#include <string>

namespace deskaudit::agent::windows {

inline std::wstring probe_exe() {
  std::wstring path(MAX_PATH, L'\0');
  path.resize(GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size())));
  return (std::filesystem::path(path).parent_path() / L"agent_windows_probe.exe").wstring();
}

}  // namespace deskaudit::agent::windows
