#include "agent/windows/protected_dir.hpp"

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#include <shlobj.h>

#include "agent/windows/win_util.hpp"
#include "common/com_ptr.hpp"

namespace deskaudit::agent::windows {

Result<std::filesystem::path> program_data_dir() {
  wchar_t* path = nullptr;
  const HRESULT hr = SHGetKnownFolderPath(FOLDERID_ProgramData, 0, nullptr, &path);
  CoTaskPtr<wchar_t> owned(path);
  if (FAILED(hr) || path == nullptr)
    return fail(Errc::internal, win_error("SHGetKnownFolderPath(ProgramData)", static_cast<DWORD>(hr)));
  return std::filesystem::path(path) / L"deskaudit";
}

Status ensure_protected_dir(const std::filesystem::path& dir) {
  PSECURITY_DESCRIPTOR raw = nullptr;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(kProtectedDirSddl, SDDL_REVISION_1, &raw, nullptr))
    return fail(Errc::internal, win_error("ConvertStringSecurityDescriptorToSecurityDescriptorW"));
  LocalPtr<void> sd(raw);
  std::error_code ec;
  if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), ec);
  if (ec) return fail(Errc::io, "create directory " + dir.parent_path().string() + ": " + ec.message());
  // Created with the DACL, so that it is never open in between.
  SECURITY_ATTRIBUTES sa{sizeof(sa), sd.get(), FALSE};
  if (!CreateDirectoryW(dir.c_str(), &sa) && GetLastError() != ERROR_ALREADY_EXISTS)
    return fail(Errc::io, win_error("CreateDirectoryW " + dir.string()));
  BOOL present = FALSE;
  BOOL defaulted = FALSE;
  PACL dacl = nullptr;
  if (!GetSecurityDescriptorDacl(sd.get(), &present, &dacl, &defaulted) || !present)
    return fail(Errc::internal, win_error("GetSecurityDescriptorDacl"));
  // An existing directory gets the DACL too; PROTECTED: nothing from the parent.
  std::wstring name = dir.wstring();
  const DWORD e = SetNamedSecurityInfoW(name.data(), SE_FILE_OBJECT,
                                        DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, nullptr,
                                        nullptr, dacl, nullptr);
  if (e != ERROR_SUCCESS)
    return fail(e == ERROR_ACCESS_DENIED ? Errc::permission_denied : Errc::io,
                win_error("SetNamedSecurityInfoW " + dir.string(), e));
  return {};
}

Result<std::wstring> dacl_sddl(const std::filesystem::path& path) {
  PSECURITY_DESCRIPTOR raw = nullptr;
  PACL dacl = nullptr;
  const DWORD e = GetNamedSecurityInfoW(path.c_str(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, nullptr, nullptr,
                                        &dacl, nullptr, &raw);
  if (e != ERROR_SUCCESS)
    return fail(e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ? Errc::not_found : Errc::io,
                win_error("GetNamedSecurityInfoW " + path.string(), e));
  LocalPtr<void> sd(raw);
  wchar_t* text = nullptr;
  if (!ConvertSecurityDescriptorToStringSecurityDescriptorW(sd.get(), SDDL_REVISION_1, DACL_SECURITY_INFORMATION,
                                                            &text, nullptr))
    return fail(Errc::internal, win_error("ConvertSecurityDescriptorToStringSecurityDescriptorW"));
  LocalPtr<wchar_t> owned(text);
  return std::wstring(text);
}

}  // namespace deskaudit::agent::windows
