#pragma once
// The agent's data directory (spool and credentials) under ProgramData, open
// to SYSTEM and Administrators only: a protected DACL (nothing inherited from
// ProgramData, where Users may read) that the files and folders inside inherit.
#include <filesystem>
#include <string>

#include "common/error.hpp"

namespace deskaudit::agent::windows {

// Full control for SYSTEM and the Administrators group, inherited by files and
// folders inside, nothing inherited from the parent.
inline constexpr wchar_t kProtectedDirSddl[] = L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

// %ProgramData%\deskaudit (SHGetKnownFolderPath(FOLDERID_ProgramData)).
Result<std::filesystem::path> program_data_dir();

// Creates dir (and missing parents, which keep their own ACLs) and sets the
// protected DACL on it, also when it existed (an old or tampered ACL is
// replaced). Files created inside afterwards inherit it.
Status ensure_protected_dir(const std::filesystem::path& dir);

// The DACL of a file or directory as SDDL (GetNamedSecurityInfoW), e.g.
// "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)".
Result<std::wstring> dacl_sddl(const std::filesystem::path& path);

}  // namespace deskaudit::agent::windows
