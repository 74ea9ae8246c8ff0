// One behaviour suite for every ObjectStore backend: the local directory
// store always, the in-memory fake the service tests use
// (tests/common/memory_object_store.hpp) always, and the S3 store against
// s3rver (DESKAUDIT_TEST_S3_ENDPOINT, scripts/s3-test-server) and Ceph's RADOS
// Gateway (DESKAUDIT_TEST_RGW_*, scripts/rgw-test-server), which verifies
// every request's signature; and the encrypting store over a local one
// (storage/encrypted_store.hpp), whose own suite covers it over S3.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <ostream>
#include <thread>

#include "common/crypto.hpp"
#include "memory_object_store.hpp"
#include "storage/encrypted_store.hpp"
#include "storage/object_store.hpp"
#include "store_test_support.hpp"

namespace deskaudit::storage {
namespace {

namespace fs = std::filesystem;
using namespace testing;

enum class Backend { local, s3rver, rgw, memory, encrypted };

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  switch (info.param) {
    case Backend::local:
      return "Local";
    case Backend::s3rver:
      return "S3";
    case Backend::rgw:
      return "Rgw";
    case Backend::memory:
      return "Memory";
    case Backend::encrypted:
      return "Encrypted";
  }
  return "?";
}

void PrintTo(Backend b, std::ostream* os) { *os << backend_name(::testing::TestParamInfo<Backend>(b, 0)); }

bool is_s3(Backend b) { return b == Backend::s3rver || b == Backend::rgw; }

std::string_view describe_scheme(Backend b) {
  switch (b) {
    case Backend::local:
    case Backend::encrypted:
      return "file:///";
    case Backend::s3rver:
    case Backend::rgw:
      return "s3://";
    case Backend::memory:
      return "memory://";
  }
  return "?";
}

class ObjectStoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    scratch_ = fs::temp_directory_path() / ("deskaudit-store-" + random_id(""));
    fs::create_directories(scratch_);
    if (GetParam() == Backend::memory) {
      store_ = std::make_unique<deskaudit::testing::MemoryObjectStore>();
    } else if (GetParam() == Backend::local) {
      auto s = make_object_store("file://" + (scratch_ / "objects").string());
      ASSERT_TRUE(s) << s.error().message;
      store_ = std::move(*s);
    } else if (GetParam() == Backend::encrypted) {
      auto s = make_object_store("file://" + (scratch_ / "objects").string());
      ASSERT_TRUE(s) << s.error().message;
      auto keys = LocalMasterKeys::parse(LocalMasterKeys::generate_line(), "test key");
      ASSERT_TRUE(keys) << keys.error().message;
      auto e = EncryptedObjectStore::open(std::move(*s), std::move(*keys), {.temp_dir = scratch_ / "tmp"});
      ASSERT_TRUE(e) << e.error().message;
      store_ = std::move(*e);
    } else {
      DESKAUDIT_REQUIRE_S3_TARGET(target, GetParam() == Backend::rgw ? S3Server::rgw : S3Server::s3rver);
      secret_ = target->secret_key;
      // A fresh prefix per test keeps tests independent in the shared bucket.
      auto s = make_object_store("s3://" + target->bucket + "/conformance-" + random_id(""), s3_options(*target));
      ASSERT_TRUE(s) << s.error().message;
      store_ = std::move(*s);
    }
  }

  void TearDown() override {
    if (store_ && is_s3(GetParam())) {
      if (auto all = store_->list(""); all) {
        for (const auto& o : *all) (void)store_->remove(o.key);
      }
    }
    std::error_code ec;
    fs::remove_all(scratch_, ec);
  }

  void put(std::string_view key, std::string_view data) {
    auto st = store_->put_bytes(key, as_bytes(data));
    ASSERT_TRUE(st) << st.error().message;
  }

  fs::path scratch_;
  std::string secret_;  // the S3 secret key, "" for the local and memory stores
  std::unique_ptr<ObjectStore> store_;
};

TEST_P(ObjectStoreConformance, PutBytesThenRead) {
  put("rec-1/meta.json", "{\"hello\":1}");
  auto got = read_all(*store_, "rec-1/meta.json");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, "{\"hello\":1}");
}

TEST_P(ObjectStoreConformance, PutFileLeavesTheSourceAndReadsBack) {
  const std::string data = pseudo_random_bytes((1u << 20) + 17, 1);
  const fs::path source = scratch_ / "segment.mp4";
  write_file(source, data);
  auto st = store_->put_file("rec-1/seg-000001.mp4", source);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_TRUE(fs::exists(source));
  EXPECT_EQ(fs::file_size(source), data.size());
  auto got = read_all(*store_, "rec-1/seg-000001.mp4");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sha256_hex(*got), sha256_hex(data));
}

TEST_P(ObjectStoreConformance, PutHandedOverFileReadsBack) {
  const std::string data = pseudo_random_bytes((1u << 20) + 5, 2);
  const fs::path source = scratch_ / "upload.part";
  write_file(source, data);
  auto st = store_->put_handed_over_file("rec-1/seg-000002.mp4", source, sha256_hex(data));
  ASSERT_TRUE(st) << st.error().message;
  auto got = read_all(*store_, "rec-1/seg-000002.mp4");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sha256_hex(*got), sha256_hex(data));
  auto missing = store_->put_handed_over_file("k", scratch_ / "absent", sha256_hex(data));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

TEST_P(ObjectStoreConformance, PutFileOfAMissingSourceFails) {
  auto st = store_->put_file("k", scratch_ / "absent");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::not_found);
  EXPECT_NE(st.error().message.find("absent"), std::string::npos);
}

TEST_P(ObjectStoreConformance, Ranges) {
  const std::string data = "0123456789abcdefghij";  // 20 bytes
  put("r", data);
  struct Case {
    ByteRange range;
    std::string want;
  };
  for (const auto& c : {Case{{0, std::nullopt}, data}, Case{{0, 10}, "0123456789"}, Case{{5, 3}, "567"},
                        Case{{15, std::nullopt}, "fghij"}, Case{{15, 100}, "fghij"}, Case{{19, 1}, "j"},
                        Case{{10, std::numeric_limits<std::uint64_t>::max()}, "abcdefghij"},
                        Case{{20, std::nullopt}, ""}, Case{{20, 5}, ""}, Case{{3, 0}, ""}}) {
    auto got = read_all(*store_, "r", c.range);
    ASSERT_TRUE(got) << "offset " << c.range.offset << ": " << got.error().message;
    EXPECT_EQ(*got, c.want) << "offset " << c.range.offset << " length " << c.range.length.value_or(0);
  }
  for (const auto& past : {ByteRange{21, std::nullopt}, ByteRange{21, 1}, ByteRange{1000, 0}}) {
    auto got = read_all(*store_, "r", past);
    ASSERT_FALSE(got) << "offset " << past.offset;
    EXPECT_EQ(got.error().code, Errc::invalid_argument) << got.error().message;
  }
}

TEST_P(ObjectStoreConformance, EmptyObject) {
  put("empty", "");
  auto info = store_->head("empty");
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_TRUE(info->has_value());
  EXPECT_EQ((*info)->size_bytes, 0u);
  for (const auto& range : {ByteRange{0, std::nullopt}, ByteRange{0, 10}}) {
    auto got = read_all(*store_, "empty", range);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, "");
  }
  auto past = read_all(*store_, "empty", ByteRange{1, std::nullopt});
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code, Errc::invalid_argument);
}

TEST_P(ObjectStoreConformance, ReadMissingIsNotFound) {
  for (const auto& range : {ByteRange{0, std::nullopt}, ByteRange{5, 5}, ByteRange{0, 0}}) {
    auto got = read_all(*store_, "nope/absent.bin", range);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, Errc::not_found) << got.error().message;
    EXPECT_NE(got.error().message.find("absent.bin"), std::string::npos) << got.error().message;
  }
}

TEST_P(ObjectStoreConformance, Head) {
  put("a/b", "12345");
  auto present = store_->head("a/b");
  ASSERT_TRUE(present) << present.error().message;
  ASSERT_TRUE(present->has_value());
  EXPECT_EQ((*present)->key, "a/b");
  EXPECT_EQ((*present)->size_bytes, 5u);
  auto absent = store_->head("a/c");
  ASSERT_TRUE(absent) << absent.error().message;
  EXPECT_FALSE(absent->has_value());
  auto dir = store_->head("a");  // only a "directory" of other keys
  ASSERT_TRUE(dir) << dir.error().message;
  EXPECT_FALSE(dir->has_value());
}

TEST_P(ObjectStoreConformance, RemoveIsIdempotent) {
  put("x/y/z", "data");
  ASSERT_TRUE(store_->remove("x/y/z"));
  auto info = store_->head("x/y/z");
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->has_value());
  auto again = store_->remove("x/y/z");
  EXPECT_TRUE(again) << again.error().message;
  auto never = store_->remove("never/existed");
  EXPECT_TRUE(never) << never.error().message;
  auto listed = store_->list("");
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
}

std::vector<std::string> keys_of(const std::vector<ObjectInfo>& objects) {
  std::vector<std::string> out;
  for (const auto& o : objects) out.push_back(o.key);
  return out;
}

TEST_P(ObjectStoreConformance, ListByPrefixIsSorted) {
  for (const char* key : {"b", "a/c", "ab/x", "a/b/2", "a/b/1", "a/b/10", "a.b", "a-b/c", "Z"}) put(key, key);
  using V = std::vector<std::string>;
  auto all = store_->list("");
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(keys_of(*all), (V{"Z", "a-b/c", "a.b", "a/b/1", "a/b/10", "a/b/2", "a/c", "ab/x", "b"}));
  for (const auto& o : *all) EXPECT_EQ(o.size_bytes, o.key.size()) << o.key;

  EXPECT_EQ(keys_of(store_->list("a/").value()), (V{"a/b/1", "a/b/10", "a/b/2", "a/c"}));
  EXPECT_EQ(keys_of(store_->list("a").value()), (V{"a-b/c", "a.b", "a/b/1", "a/b/10", "a/b/2", "a/c", "ab/x"}));
  EXPECT_EQ(keys_of(store_->list("a/b/1").value()), (V{"a/b/1", "a/b/10"}));
  EXPECT_EQ(keys_of(store_->list("a/b/").value()), (V{"a/b/1", "a/b/10", "a/b/2"}));
  EXPECT_EQ(keys_of(store_->list("b").value()), (V{"b"}));
  EXPECT_TRUE(store_->list("zz").value().empty());
  EXPECT_TRUE(store_->list("q/r/").value().empty());
}

TEST_P(ObjectStoreConformance, InvalidKeysAndPrefixesAreRefused) {
  for (std::string_view key : {"../x", "a/../../b", "/etc/passwd", "a//b", "a\\b", "", "%2e%2e/x"}) {
    auto st = store_->put_bytes(key, as_bytes("x"));
    ASSERT_FALSE(st) << key;
    EXPECT_EQ(st.error().code, Errc::invalid_argument);
    EXPECT_FALSE(store_->head(key)) << key;
    EXPECT_FALSE(store_->remove(key)) << key;
    EXPECT_FALSE(read_all(*store_, key)) << key;
  }
  auto listed = store_->list("../");
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, Errc::invalid_argument);
}

TEST_P(ObjectStoreConformance, OverwriteReplacesTheWholeObject) {
  const std::string va(300000, 'a');
  const std::string vb(200000, 'b');
  put("over/object", va);
  put("over/object", vb);
  EXPECT_EQ(read_all(*store_, "over/object").value(), vb);
  EXPECT_EQ(store_->head("over/object").value()->size_bytes, vb.size());
  put("over/object", va);
  EXPECT_EQ(read_all(*store_, "over/object").value(), va);
  EXPECT_EQ(keys_of(store_->list("over/").value()), std::vector<std::string>{"over/object"});
}

TEST_P(ObjectStoreConformance, ConcurrentPuts) {
  constexpr int kThreads = 6;
  constexpr int kPerThread = 8;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string key = "conc/t" + std::to_string(t) + "/k" + std::to_string(i);
        if (!store_->put_bytes(key, as_bytes(key))) ++failures;
        // Every thread also writes one shared key.
        if (!store_->put_bytes("conc/shared", as_bytes(std::string(1000 + t, static_cast<char>('A' + t))))) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto listed = store_->list("conc/");
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_EQ(listed->size(), static_cast<std::size_t>(kThreads * kPerThread + 1));
  for (const auto& o : *listed) {
    auto got = read_all(*store_, o.key);
    ASSERT_TRUE(got) << o.key;
    if (o.key == "conc/shared") {
      // s3rver writes an object in place, so racing PUTs of one key can leave
      // a torn mix of two bodies (seen 2 runs in 8); real S3 and RGW replace
      // whole objects, and the RGW instance of this test checks that.
      if (GetParam() == Backend::s3rver) continue;
      ASSERT_GE(got->size(), 1000u);
      const int t = static_cast<int>(got->size()) - 1000;
      EXPECT_EQ(*got, std::string(1000 + t, static_cast<char>('A' + t)));
    } else {
      EXPECT_EQ(*got, o.key);
    }
  }
}

TEST_P(ObjectStoreConformance, DeepKeysWithSlashes) {
  const std::string key = "tenant-1/2026/11/27/rec-abc/seg-000042.m4s";
  put(key, "deep");
  EXPECT_EQ(read_all(*store_, key).value(), "deep");
  EXPECT_EQ(keys_of(store_->list("tenant-1/2026/").value()), std::vector<std::string>{key});
  ASSERT_TRUE(store_->remove(key));
  EXPECT_TRUE(store_->list("tenant-1/").value().empty());
  // The key's former "directories" are usable again as plain objects.
  put("tenant-1", "now an object");
  EXPECT_EQ(read_all(*store_, "tenant-1").value(), "now an object");
}

TEST_P(ObjectStoreConformance, ReaderCanStop) {
  put("big", std::string(1u << 20, 'x'));
  std::size_t got = 0;
  auto n = store_->read("big", {}, [&](std::span<const std::byte> data) {
    got += data.size();
    return false;
  });
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code, Errc::unavailable);
  EXPECT_NE(n.error().message.find("stopped by reader"), std::string::npos) << n.error().message;
  EXPECT_LT(got, 1u << 20);
}

TEST_P(ObjectStoreConformance, Large40MiBObjectIsStreamed) {
  constexpr std::size_t kSize = 40u << 20;
  const fs::path source = scratch_ / "large.bin";
  std::string want_hash;
  {
    // Written in pieces so the test itself does not hold 40 MiB twice.
    std::ofstream out(source, std::ios::binary);
    Sha256 h;
    for (unsigned i = 0; i < 40; ++i) {
      const std::string piece = pseudo_random_bytes(1u << 20, 100 + i);
      out.write(piece.data(), static_cast<std::streamsize>(piece.size()));
      h.update(piece);
    }
    want_hash = h.hex();
  }
  auto st = store_->put_file("large/object.bin", source);
  ASSERT_TRUE(st) << st.error().message;
  auto info = store_->head("large/object.bin");
  ASSERT_TRUE(info && info->has_value());
  EXPECT_EQ((*info)->size_bytes, kSize);

  Sha256 h;
  std::size_t total = 0;
  std::size_t largest_chunk = 0;
  std::size_t chunks = 0;
  auto n = store_->read("large/object.bin", {}, [&](std::span<const std::byte> data) {
    h.update(data);
    total += data.size();
    largest_chunk = std::max(largest_chunk, data.size());
    ++chunks;
    return true;
  });
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, kSize);
  EXPECT_EQ(total, kSize);
  EXPECT_EQ(h.hex(), want_hash);
  EXPECT_GT(chunks, 40u);
  EXPECT_LE(largest_chunk, 1u << 20) << "the sink should receive pieces, not the whole object";

  // A range deep inside matches the source bytes.
  auto mid = read_all(*store_, "large/object.bin", ByteRange{(25u << 20) + 3, 100});
  ASSERT_TRUE(mid) << mid.error().message;
  EXPECT_EQ(*mid, pseudo_random_bytes(1u << 20, 125).substr(3, 100));
}

TEST_P(ObjectStoreConformance, DescribeNamesTheStoreWithoutSecrets) {
  const std::string d = store_->describe();
  EXPECT_TRUE(d.starts_with(describe_scheme(GetParam()))) << d;
  if (!secret_.empty()) {
    EXPECT_EQ(d.find(secret_), std::string::npos) << d;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ObjectStoreConformance,
                         ::testing::Values(Backend::local, Backend::s3rver, Backend::rgw, Backend::memory,
                                           Backend::encrypted),
                         backend_name);

}  // namespace
}  // namespace deskaudit::storage
