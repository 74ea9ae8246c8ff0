// The ustar writer and reader: headers as POSIX has them (tar(1) lists and
// extracts the archive), sizes and names checked, byte ranges of the virtual
// archive equal to the whole, and a malformed archive refused by name.
#include "evidence/tar.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "common/fs.hpp"
#include "server_process.hpp"

namespace deskaudit::evidence {
namespace {

std::string read_all(const TarArchive& a, std::uint64_t offset, std::uint64_t length) {
  std::string out;
  EXPECT_TRUE(a.read(offset, length, [&](std::span<const std::byte> b) {
    out.append(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  }));
  return out;
}

TarArchive sample() {
  std::vector<TarMember> m;
  m.push_back({"recording.mp4", 1000, 1'790'000'000, bytes_reader(std::string(1000, 'm'))});
  m.push_back({"segments/000000.m4s", 512, 1'790'000'000, bytes_reader(std::string(512, 's'))});
  m.push_back({"manifest.json", 3, 1'790'000'000, bytes_reader("{x}")});
  m.push_back({"empty", 0, 0, bytes_reader("")});
  auto a = TarArchive::plan(std::move(m));
  EXPECT_TRUE(a) << a.error().message;
  return std::move(*a);
}

TEST(Tar, HeaderFieldsAndChecksumAreUstar) {
  auto h = tar_header("segments/000003.m4s", 8589934591ull, 1'790'000'000);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_EQ(h->size(), 512u);
  EXPECT_EQ(h->substr(0, 19), "segments/000003.m4s");
  EXPECT_EQ(h->substr(124, 12), std::string("77777777777\0", 12));  // the largest size
  EXPECT_EQ(h->substr(257, 6), std::string("ustar\0", 6));
  EXPECT_EQ((*h)[156], '0');
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>((*h)[static_cast<std::size_t>(i)]);
  EXPECT_EQ(std::strtoul(h->substr(148, 7).c_str(), nullptr, 8), sum);
  EXPECT_EQ(tar_padding(0), 0u);
  EXPECT_EQ(tar_padding(1), 511u);
  EXPECT_EQ(tar_padding(512), 0u);
}

TEST(Tar, SizesAndNamesOutsideUstarAreRefused) {
  EXPECT_EQ(tar_header("big.mp4", 8589934592ull, 0).error().code, Errc::too_large);
  for (const auto& bad : {std::string(""), std::string(101, 'a'), std::string("/etc/passwd"), std::string("a/../b"),
                                std::string("a//b"), std::string("sp ace"), std::string("./x")}) {
    EXPECT_FALSE(tar_header(bad, 1, 0)) << bad;
  }
  std::vector<TarMember> twice{{"a", 0, 0, bytes_reader("")}, {"a", 0, 0, bytes_reader("")}};
  EXPECT_FALSE(TarArchive::plan(std::move(twice)));
}

TEST(Tar, AnyRangeEqualsTheSameBytesOfTheWhole) {
  const auto a = sample();
  // 4 headers, data padded to blocks (1024 + 512 + 512 + 0) and 2 end blocks.
  EXPECT_EQ(a.size_bytes(), 4 * 512u + 1024 + 512 + 512 + 1024);
  const auto whole = read_all(a, 0, a.size_bytes());
  ASSERT_EQ(whole.size(), a.size_bytes());
  for (std::uint64_t off : {0ull, 1ull, 511ull, 512ull, 1500ull, 2047ull, 3000ull}) {
    for (std::uint64_t len : {0ull, 1ull, 513ull, 1600ull}) {
      if (off + len > a.size_bytes()) continue;
      EXPECT_EQ(read_all(a, off, len), whole.substr(off, len)) << off << "+" << len;
    }
  }
  EXPECT_FALSE(a.read(a.size_bytes(), 1, [](auto) { return true; }));
}

TEST(Tar, TarAndUntarReadWhatTheWriterWrote) {
  testing::TempDir dir("tar");
  const auto a = sample();
  const auto file = dir.path() / "x.tar";
  ASSERT_TRUE(write_file_atomic(file, read_all(a, 0, a.size_bytes()), 0644));
  // The system's tar agrees.
  const auto listed = testing::run_command("tar -tvf '" + file.string() + "' 2>&1");
  ASSERT_EQ(listed.exit_code, 0) << listed.out;
  EXPECT_NE(listed.out.find("1000 "), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("segments/000000.m4s"), std::string::npos) << listed.out;
  auto names = untar(file, dir.path() / "out");
  ASSERT_TRUE(names) << names.error().message;
  EXPECT_EQ(*names, (std::vector<std::string>{"recording.mp4", "segments/000000.m4s", "manifest.json", "empty"}));
  EXPECT_EQ(*read_file(dir.path() / "out" / "recording.mp4"), std::string(1000, 'm'));
  EXPECT_EQ(*read_file(dir.path() / "out" / "manifest.json"), "{x}");
  EXPECT_EQ(std::filesystem::file_size(dir.path() / "out" / "empty"), 0u);
}

TEST(Tar, MalformedArchivesAreRefusedByName) {
  testing::TempDir dir("tarbad");
  const auto a = sample();
  auto bytes = read_all(a, 0, a.size_bytes());
  const auto file = dir.path() / "x.tar";
  auto broken = bytes;
  broken[10] = 'X';  // name changed, checksum not
  ASSERT_TRUE(write_file_atomic(file, broken, 0644));
  auto r = untar(file, dir.path() / "o1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("checksum"), std::string::npos);
  ASSERT_TRUE(write_file_atomic(file, bytes.substr(0, 1200), 0644));  // cut inside recording.mp4
  EXPECT_EQ(untar(file, dir.path() / "o2").error().code, Errc::corrupt);
  // A member escaping the directory, with a valid checksum.
  auto evil = tar_header("ok", 0, 0).value();
  evil.replace(0, 5, "../ev");
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(evil[static_cast<std::size_t>(i)]);
  char field[8];
  std::snprintf(field, sizeof field, "%06o", sum);
  evil.replace(148, 7, std::string(field, 7));
  ASSERT_TRUE(write_file_atomic(file, evil + std::string(1024, '\0'), 0644));
  auto escaped = untar(file, dir.path() / "o3");
  ASSERT_FALSE(escaped);
  EXPECT_NE(escaped.error().message.find(".."), std::string::npos) << escaped.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "ev"));
}

}  // namespace
}  // namespace deskaudit::evidence
