// What only the local directory store promises: file modes, layout, temp
// files, directory pruning; and make_object_store()'s URL handling.
#include "storage/local_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "common/crypto.hpp"
#include "store_test_support.hpp"

namespace deskaudit::storage {
namespace {

namespace fs = std::filesystem;
using namespace testing;

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0xFFFF;
  return st.st_mode & 07777;
}

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = fs::temp_directory_path() / ("deskaudit-local-" + random_id(""));
    fs::create_directories(scratch_);
    root_ = scratch_ / "objects";
    auto s = LocalObjectStore::open(root_);
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  void TearDown() override { fs::remove_all(scratch_); }

  fs::path scratch_;
  fs::path root_;
  std::unique_ptr<LocalObjectStore> store_;
};

TEST_F(LocalStoreTest, LayoutMirrorsKeysWithPrivateModes) {
  ASSERT_TRUE(store_->put_bytes("rec-1/seg/000001.m4s", as_bytes("abc")));
  const fs::path file = root_ / "rec-1" / "seg" / "000001.m4s";
  ASSERT_TRUE(fs::is_regular_file(file));
  EXPECT_EQ(mode_of(root_), 0700u);
  EXPECT_EQ(mode_of(root_ / "rec-1"), 0700u);
  EXPECT_EQ(mode_of(root_ / "rec-1" / "seg"), 0700u);
  EXPECT_EQ(mode_of(file), 0600u);

  const fs::path source = scratch_ / "src.bin";
  write_file(source, "file data");
  fs::permissions(source,
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  ASSERT_TRUE(store_->put_file("rec-1/from-file", source));
  EXPECT_EQ(mode_of(root_ / "rec-1" / "from-file"), 0600u) << "the copy must not inherit the source's mode";
}

ino_t inode_of(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST_F(LocalStoreTest, HandedOverFileIsRenamedIntoPlaceNotCopied) {
  const fs::path source = scratch_ / "upload.part";
  write_file(source, "segment bytes");
  fs::permissions(source,
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  const ino_t inode = inode_of(source);
  ASSERT_TRUE(store_->put_handed_over_file("rec-1/seg", source, sha256_hex("segment bytes")));
  EXPECT_FALSE(fs::exists(source)) << "moved, not copied";
  const fs::path object = root_ / "rec-1" / "seg";
  EXPECT_EQ(inode_of(object), inode);
  EXPECT_EQ(mode_of(object), 0600u) << "stored objects are private whatever the source's mode";
  auto got = read_all(*store_, "rec-1/seg");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, "segment bytes");
  // An object already there is replaced, as by put_file.
  write_file(source, "other bytes");
  ASSERT_TRUE(store_->put_handed_over_file("rec-1/seg", source, sha256_hex("other bytes")));
  EXPECT_EQ(*read_all(*store_, "rec-1/seg"), "other bytes");
}

TEST_F(LocalStoreTest, HandedOverFileFromAnotherFileSystemIsCopied) {
  struct stat shm {}, here {};
  if (::stat("/dev/shm", &shm) != 0 || ::stat(scratch_.c_str(), &here) != 0 || shm.st_dev == here.st_dev) {
    GTEST_SKIP() << "needs /dev/shm on another file system than " << scratch_;
  }
  const fs::path source = fs::path("/dev/shm") / ("deskaudit-handover-" + random_id(""));
  write_file(source, "from elsewhere");
  auto st = store_->put_handed_over_file("k", source, sha256_hex("from elsewhere"));
  std::error_code ec;
  fs::remove(source, ec);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(*read_all(*store_, "k"), "from elsewhere");
  EXPECT_EQ(mode_of(root_ / "k"), 0600u);
}

TEST_F(LocalStoreTest, HandedOverFileCannotReplaceAKeyPrefix) {
  ASSERT_TRUE(store_->put_bytes("a/b", as_bytes("x")));
  const fs::path source = scratch_ / "upload.part";
  write_file(source, "y");
  auto st = store_->put_handed_over_file("a", source, sha256_hex("y"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::conflict);
  EXPECT_EQ(*read_all(*store_, "a/b"), "x");
}

TEST_F(LocalStoreTest, AnExistingDirectoryIsMadePrivate) {
  const fs::path loose = scratch_ / "loose";
  fs::create_directories(loose);
  fs::permissions(loose, fs::perms::all);
  ASSERT_TRUE(LocalObjectStore::open(loose));
  EXPECT_EQ(mode_of(loose), 0700u);
}

TEST_F(LocalStoreTest, NoTemporaryFilesAreLeftOrListed) {
  ASSERT_TRUE(store_->put_bytes("a/b", as_bytes("1")));
  ASSERT_TRUE(store_->put_bytes("a/b", as_bytes("2")));
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(root_)) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1u);
  // A crash mid-put leaves a temporary file: it is not an object.
  write_file(root_ / "a" / "~tmp-leftover", "partial");
  write_file(root_ / "a" / "not a key", "stray");
  auto listed = store_->list("");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().key, "a/b");
}

TEST_F(LocalStoreTest, SymlinksAreNotListed) {
  ASSERT_TRUE(store_->put_bytes("real", as_bytes("1")));
  fs::create_symlink("/etc/hostname", root_ / "link");
  auto listed = store_->list("");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().key, "real");
}

TEST_F(LocalStoreTest, RemovePrunesEmptyParentsOnly) {
  ASSERT_TRUE(store_->put_bytes("p/q/r/one", as_bytes("1")));
  ASSERT_TRUE(store_->put_bytes("p/two", as_bytes("2")));
  ASSERT_TRUE(store_->remove("p/q/r/one"));
  EXPECT_FALSE(fs::exists(root_ / "p" / "q"));
  EXPECT_TRUE(fs::exists(root_ / "p" / "two"));
  ASSERT_TRUE(store_->remove("p/two"));
  EXPECT_FALSE(fs::exists(root_ / "p"));
  EXPECT_TRUE(fs::is_directory(root_)) << "the root is never pruned";
}

TEST_F(LocalStoreTest, AKeyCannotBeBothObjectAndDirectory) {
  ASSERT_TRUE(store_->put_bytes("a", as_bytes("1")));
  auto below = store_->put_bytes("a/b", as_bytes("2"));
  ASSERT_FALSE(below);
  EXPECT_EQ(below.error().code, Errc::conflict);
  ASSERT_TRUE(store_->put_bytes("x/y", as_bytes("1")));
  auto above = store_->put_bytes("x", as_bytes("2"));
  ASSERT_FALSE(above);
  EXPECT_EQ(above.error().code, Errc::conflict);
  EXPECT_EQ(read_all(*store_, "x/y").value(), "1");
  // No temporary file survives the failed puts.
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(root_)) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 2u);
}

TEST_F(LocalStoreTest, OverwriteIsAtomicForConcurrentReaders) {
  // Ours to guarantee here; for S3 a single PUT is atomic by the service
  // (s3rver is not: it rewrites files in place, so it cannot be tested there).
  // Two versions of different sizes and contents; a reader must always see
  // exactly one of them, whole.
  const std::string va(300000, 'a');
  const std::string vb(200000, 'b');
  const fs::path fa = scratch_ / "a.bin";
  const fs::path fb = scratch_ / "b.bin";
  write_file(fa, va);
  write_file(fb, vb);
  ASSERT_TRUE(store_->put_file("hot/object", fa));
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done) {
      auto got = read_all(*store_, "hot/object");
      if (!got || (*got != va && *got != vb)) ++bad;
      ++reads;
    }
  });
  for (int i = 0; i < 40; ++i) {
    auto st = store_->put_file("hot/object", i % 2 == 0 ? fb : fa);
    ASSERT_TRUE(st) << st.error().message;
  }
  done = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(bad.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_EQ(read_all(*store_, "hot/object").value(), va);
}

TEST_F(LocalStoreTest, KeyComponentsTooLongForTheFileSystem) {
  // Valid as a key (<= 1024 bytes) but longer than NAME_MAX (255).
  const std::string key = "dir/" + std::string(300, 'n');
  auto st = store_->put_bytes(key, as_bytes("x"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::invalid_argument) << st.error().message;
  auto info = store_->head(key);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_FALSE(info->has_value());
  auto got = read_all(*store_, key);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::not_found);
  EXPECT_TRUE(store_->remove(key));
  EXPECT_TRUE(store_->list("").value().empty());
}

TEST_F(LocalStoreTest, PutFileRejectsADirectorySource) {
  auto st = store_->put_file("k", scratch_);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::invalid_argument);
}

TEST_F(LocalStoreTest, ConcurrentPutAndRemoveInTheSameDirectories) {
  // remove() prunes directories that a concurrent put() may be about to use.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string key = "d/e/f/" + std::to_string(t);
        if (auto st = store_->put_bytes(key, as_bytes("v")); !st) {
          ++failures;
          ADD_FAILURE() << st.error().message;
        }
        if (auto st = store_->remove(key); !st) {
          ++failures;
          ADD_FAILURE() << st.error().message;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(store_->list("").value().empty());
}

TEST_F(LocalStoreTest, DescribeIsTheFileUrl) { EXPECT_EQ(store_->describe(), "file://" + root_.string()); }

TEST(MakeObjectStore, LocalUrls) {
  const fs::path base = fs::temp_directory_path() / ("deskaudit-factory-" + random_id(""));
  for (const std::string& url :
       {"file://" + (base / "one").string(), (base / "two").string(), "file://localhost" + (base / "three").string(),
        "file://" + (base / "four").string() + "/"}) {
    auto s = make_object_store(url);
    ASSERT_TRUE(s) << url << ": " << s.error().message;
    EXPECT_TRUE((*s)->describe().starts_with("file://" + base.string())) << (*s)->describe();
    EXPECT_FALSE((*s)->describe().ends_with("/")) << (*s)->describe();
  }
  auto spaced = make_object_store("file://" + base.string() + "/desk%20audit");
  ASSERT_TRUE(spaced) << spaced.error().message;
  EXPECT_TRUE(fs::is_directory(base / "desk audit"));
  EXPECT_EQ(mode_of(base / "desk audit"), 0700u);
  fs::remove_all(base);
}

TEST(MakeObjectStore, RejectsOtherUrls) {
  for (std::string_view url : {"", "relative/dir", "file://relative", "file://otherhost/x", "http://example.com/x",
                               "ftp://x", "file:///tmp/a%2", "file:///tmp/a%00b", "file:///tmp/x?y", "s3://",
                               "s3://Bad_Bucket", "s3://ab", "s3://bucket/../x", "s3://bucket/a//b"}) {
    S3Options o;
    o.access_key_id = "id";
    o.secret_access_key = "secret";
    auto s = make_object_store(url, o);
    ASSERT_FALSE(s) << "accepted '" << url << "'";
    EXPECT_EQ(s.error().code, Errc::invalid_argument) << url;
  }
}

}  // namespace
}  // namespace deskaudit::storage
