#include "agent/windows/protected_dir.hpp"

#include <windows.h>
#include <sddl.h>

#include <gtest/gtest.h>

#include "agent/windows/win_util.hpp"

namespace deskaudit::agent::windows {
namespace {

std::filesystem::path fresh_dir(const char* name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("deskaudit-protected-" + std::to_string(GetCurrentProcessId()) + "-" + name);
  std::filesystem::remove_all(dir);
  return dir;
}

// The descriptor applied: protected, full control for SYSTEM and
// Administrators, inherited by files and folders, nothing else.
TEST(ProtectedDirTest, TheDescriptorGrantsOnlySystemAndAdministrators) {
  PSECURITY_DESCRIPTOR raw = nullptr;
  ASSERT_TRUE(ConvertStringSecurityDescriptorToSecurityDescriptorW(kProtectedDirSddl, SDDL_REVISION_1, &raw, nullptr));
  LocalPtr<void> sd(raw);
  SECURITY_DESCRIPTOR_CONTROL control = 0;
  DWORD revision = 0;
  ASSERT_TRUE(GetSecurityDescriptorControl(sd.get(), &control, &revision));
  EXPECT_TRUE(control & SE_DACL_PROTECTED);
  BOOL present = FALSE, defaulted = FALSE;
  PACL dacl = nullptr;
  ASSERT_TRUE(GetSecurityDescriptorDacl(sd.get(), &present, &dacl, &defaulted));
  ASSERT_TRUE(present && dacl != nullptr);
  ASSERT_EQ(dacl->AceCount, 2);
  const WELL_KNOWN_SID_TYPE expected[] = {WinLocalSystemSid, WinBuiltinAdministratorsSid};
  for (DWORD i = 0; i < 2; ++i) {
    void* ace_raw = nullptr;
    ASSERT_TRUE(GetAce(dacl, i, &ace_raw));
    const auto* ace = static_cast<const ACCESS_ALLOWED_ACE*>(ace_raw);
    EXPECT_EQ(ace->Header.AceType, ACCESS_ALLOWED_ACE_TYPE);
    EXPECT_EQ(ace->Header.AceFlags & (OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE),
              OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE);
    EXPECT_EQ(ace->Mask, static_cast<DWORD>(FILE_ALL_ACCESS));
    EXPECT_TRUE(IsWellKnownSid(const_cast<DWORD*>(&ace->SidStart), expected[i])) << i;
  }
}

TEST(ProtectedDirTest, ProgramDataDirIsUnderProgramData) {
  auto dir = program_data_dir();
  ASSERT_TRUE(dir) << dir.error().message;
  EXPECT_EQ(dir->filename(), "deskaudit");
  EXPECT_TRUE(std::filesystem::is_directory(dir->parent_path())) << dir->string();
}

// The DACL read back from the file system. Wine 8 keeps no DACL on files (it
// accepts it and derives the answer from the Unix mode; only wine-staging
// stores descriptors): there the read-back is skipped, which the test says.
TEST(ProtectedDirTest, TheDirectoryAndItsFilesCarryTheProtectedDacl) {
  const auto dir = fresh_dir("new") / "spool";
  auto st = ensure_protected_dir(dir);
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_TRUE(std::filesystem::is_directory(dir));
  // Applying it again (an existing directory) succeeds too.
  st = ensure_protected_dir(dir);
  ASSERT_TRUE(st) << st.error().message;
  const auto file = dir / "credentials.json";
  { HandlePtr h(CreateFileW(file.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_NEW, 0, nullptr)); }
  auto dir_dacl = dacl_sddl(dir);
  auto file_dacl = dacl_sddl(file);
  ASSERT_TRUE(dir_dacl) << dir_dacl.error().message;
  ASSERT_TRUE(file_dacl) << file_dacl.error().message;
  std::cout << "directory DACL " << narrow(*dir_dacl) << "\nfile DACL " << narrow(*file_dacl) << "\n";
  std::filesystem::remove_all(dir.parent_path());
  if (running_under_wine() && *dir_dacl != kProtectedDirSddl)
    GTEST_SKIP() << "Wine keeps no file DACLs (read back " << narrow(*dir_dacl) << "): checked on real Windows only";
  EXPECT_EQ(*dir_dacl, kProtectedDirSddl);
  // Inherited by the file: the same two entries, marked inherited (ID).
  EXPECT_EQ(*file_dacl, L"D:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)");
}

TEST(ProtectedDirTest, AMissingPathIsNotFound) {
  auto r = dacl_sddl(fresh_dir("missing") / "nothing");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
}

}  // namespace
}  // namespace deskaudit::agent::windows
