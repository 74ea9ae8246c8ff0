// Encryption at rest (storage/encrypted_store.hpp) over the local store and
// S3 (s3rver, DESKAUDIT_TEST_S3_ENDPOINT): what reaches the store, ranges,
// tampering, objects from before encryption, master-key rotation and the
// restartable encrypt-in-place migration.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "common/crypto.hpp"
#include "interrupted_store.hpp"
#include "plaintext_runs.hpp"
#include "sample_media.hpp"
#include "storage/encrypted_store.hpp"
#include "store_test_support.hpp"

namespace deskaudit::storage {
namespace {

namespace fs = std::filesystem;
using namespace testing;

enum class Backend { local, s3rver };

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::local ? "Local" : "S3";
}

std::shared_ptr<const MasterKeyProvider> keys_of(const std::string& text) {
  auto k = LocalMasterKeys::parse(text, "test keys");
  EXPECT_TRUE(k) << k.error().message;
  return std::shared_ptr<const MasterKeyProvider>(std::move(*k));
}

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

using deskaudit::testing::InterruptedStore;
using deskaudit::testing::plaintext_run_in;

class EncryptedStore : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    scratch_ = fs::temp_directory_path() / ("deskaudit-enc-" + random_id(""));
    fs::create_directories(scratch_);
    key_a_ = LocalMasterKeys::generate_line();
    key_b_ = LocalMasterKeys::generate_line();
    if (GetParam() == Backend::local) {
      url_ = "file://" + (scratch_ / "objects").string();
    } else {
      DESKAUDIT_REQUIRE_S3_TARGET(target, S3Server::s3rver);
      s3_ = s3_options(*target);
      url_ = "s3://" + target->bucket + "/encrypted-" + random_id("");
    }
    raw_ = open_raw();
    store_ = open_encrypted(key_a_);
  }

  void TearDown() override {
    if (raw_ && GetParam() == Backend::s3rver) {
      if (auto all = raw_->list(""); all) {
        for (const auto& o : *all) (void)raw_->remove(o.key);
      }
    }
    std::error_code ec;
    fs::remove_all(scratch_, ec);
  }

  std::unique_ptr<ObjectStore> open_raw() {
    auto s = make_object_store(url_, s3_);
    EXPECT_TRUE(s) << s.error().message;
    return std::move(*s);
  }

  std::unique_ptr<EncryptedObjectStore> open_encrypted(const std::string& keys, EncryptionOptions o = {}) {
    if (o.temp_dir.empty()) o.temp_dir = scratch_ / "tmp";
    auto s = EncryptedObjectStore::open(open_raw(), keys_of(keys), o);
    EXPECT_TRUE(s) << s.error().message;
    return std::move(*s);
  }

  void put(ObjectStore& store, std::string_view key, std::string_view data) {
    auto st = store.put_bytes(key, as_bytes(data));
    ASSERT_TRUE(st) << st.error().message;
  }

  // Every stored object as it is in the bucket.
  std::map<std::string, std::string> dump() {
    std::map<std::string, std::string> out;
    const auto all = raw_->list_stored("").value();
    for (const auto& o : all) out[o.key] = read_all(*raw_, o.key).value();
    return out;
  }

  fs::path scratch_;
  std::string url_;
  S3Options s3_;
  std::string key_a_, key_b_;
  std::unique_ptr<ObjectStore> raw_;
  std::unique_ptr<EncryptedObjectStore> store_;
};

constexpr std::string_view kMarker = "CHECKPOINT deskaudit-encryption-marker 7f3a91";

TEST_P(EncryptedStore, StoredObjectsHaveNoMp4BoxesAndNoPlaintext) {
  const auto segments = deskaudit::testing::make_segments(2, 4);
  ASSERT_TRUE(contains(segments[0], "ftyp") && contains(segments[0], "moof") && contains(segments[0], "mdat"));
  const std::string events = "{\"events\":[{\"type\":\"window\",\"title\":\"" + std::string(kMarker) + "\"}]}";
  const std::string dir = "recordings/cc-test/rec-test/";
  put(*store_, dir + "000000-aaaa.mp4", segments[0]);
  write_file(scratch_ / "seg1.mp4", segments[1]);
  ASSERT_TRUE(store_->put_file(dir + "000001-bbbb.mp4", scratch_ / "seg1.mp4"));
  write_file(scratch_ / "handed.json", events);
  ASSERT_TRUE(
      store_->put_handed_over_file(dir + "000001-bbbb.events.json", scratch_ / "handed.json", sha256_hex(events)));
  put(*store_, "manifests/other.json", kMarker);

  const auto stored = dump();
  ASSERT_GE(stored.size(), 5u);  // four objects and at least one wrapped data key
  for (const auto& [key, bytes] : stored) {
    for (const auto& clear : {segments[0], segments[1], events}) {
      const auto at = plaintext_run_in(bytes, clear);
      EXPECT_FALSE(at) << key << " holds plaintext from byte " << at.value_or(0);
    }
    EXPECT_FALSE(contains(bytes, kMarker)) << key;
    EXPECT_FALSE(contains(bytes, "window")) << key;
  }
  EXPECT_EQ(read_all(*store_, dir + "000000-aaaa.mp4").value(), segments[0]);
  EXPECT_EQ(read_all(*store_, dir + "000001-bbbb.mp4").value(), segments[1]);
  EXPECT_EQ(read_all(*store_, dir + "000001-bbbb.events.json").value(), events);
  EXPECT_EQ(read_all(*store_, "manifests/other.json").value(), kMarker);
  // A store opened afresh (another replica, a restart) reads them too.
  auto again = open_encrypted(key_a_);
  EXPECT_EQ(read_all(*again, dir + "000001-bbbb.mp4").value(), segments[1]);
}

TEST_P(EncryptedStore, RangesAtChunkAndFragmentBoundariesReturnExactlyThePlaintext) {
  for (auto cipher : {ChunkCipher::aes256gcm, ChunkCipher::xchacha20poly1305}) {
    if (cipher == ChunkCipher::aes256gcm && default_chunk_cipher() != ChunkCipher::aes256gcm) continue;
    SCOPED_TRACE(cipher == ChunkCipher::aes256gcm ? "AES-256-GCM" : "XChaCha20-Poly1305");
    EncryptionOptions o;
    o.cipher = cipher;
    o.chunk_bytes = 4096;  // many chunk boundaries in a small object
    auto store = open_encrypted(key_a_, o);
    const auto segments = deskaudit::testing::make_segments(1, 6);
    const std::string plain = segments[0] + pseudo_random_bytes(3 * 4096 + 123, 7);
    const std::string key = "recordings/cc-r/rec-r/000000-range.mp4";
    put(*store, key, plain);
    EXPECT_EQ(store->head(key).value()->size_bytes, plain.size());

    std::vector<std::uint64_t> boundaries;
    for (std::uint64_t b = 0; b <= plain.size(); b += o.chunk_bytes) boundaries.push_back(b);
    boundaries.push_back(plain.size());
    for (auto at = plain.find("moof"); at != std::string::npos; at = plain.find("moof", at + 1)) {
      boundaries.push_back(at - 4);  // a fragment starts with its box size
    }
    ASSERT_GE(boundaries.size(), 10u);
    std::vector<ByteRange> ranges;
    for (auto b : boundaries) {
      for (std::int64_t d : {-17, -1, 0, 1}) {
        const auto from = static_cast<std::int64_t>(b) + d;
        if (from < 0 || from > static_cast<std::int64_t>(plain.size())) continue;
        for (std::uint64_t len : {1ull, 2ull, 16ull, 17ull, 4095ull, 4096ull, 4097ull, 9000ull}) {
          ranges.push_back({static_cast<std::uint64_t>(from), len});
        }
        ranges.push_back({static_cast<std::uint64_t>(from), std::nullopt});
      }
    }
    std::mt19937_64 rng(42);
    const int random_ranges = GetParam() == Backend::local ? 400 : 60;
    for (int i = 0; i < random_ranges; ++i) {
      const auto from = rng() % (plain.size() + 1);
      ranges.push_back({from, rng() % (plain.size() - from + 2)});
    }
    if (GetParam() == Backend::s3rver) ranges.resize(std::min<std::size_t>(ranges.size(), 150));
    for (const auto& r : ranges) {
      auto got = read_all(*store, key, r);
      ASSERT_TRUE(got) << r.offset << ": " << got.error().message;
      const auto want = plain.substr(r.offset, r.length ? *r.length : std::string::npos);
      ASSERT_EQ(*got, want) << "offset " << r.offset << " length " << (r.length ? std::to_string(*r.length) : "-");
    }
    auto past = read_all(*store, key, {plain.size() + 1, 1});
    ASSERT_FALSE(past);
    EXPECT_EQ(past.error().code, Errc::invalid_argument);
  }
}

// What an encoder writes, into room of `room` bytes at a time (an upload's
// O_DIRECT block is 1 MiB; smaller room puts its edges everywhere).
class StringOutput final : public ByteOutput {
 public:
  explicit StringOutput(std::size_t room) : room_(room), buf_(room, '\0') {}
  Result<std::span<std::byte>> space() override { return std::as_writable_bytes(std::span(buf_)); }
  Status commit(std::size_t n) override {
    EXPECT_LE(n, room_);
    written.append(buf_.data(), n);
    return {};
  }
  std::string written;

 private:
  std::size_t room_;
  std::string buf_;
};

// An upload is sealed as its body arrives, in pieces of any size, into the
// file that is then handed over as it is: the same plaintext, Range reads
// and tamper detection as any other object. Chunks start and end inside
// pieces and inside the output's room; room may end exactly after the
// header, a chunk's ciphertext or its tag; both ciphers.
TEST_P(EncryptedStore, AnEncoderSealsAnObjectAsItArrivesInPiecesOfAnySize) {
  for (auto cipher : {ChunkCipher::aes256gcm, ChunkCipher::xchacha20poly1305}) {
    if (cipher == ChunkCipher::aes256gcm && default_chunk_cipher() != cipher) continue;  // no AES-NI here
    EncryptionOptions o;
    o.cipher = cipher;
    o.chunk_bytes = 4096;
    auto store = open_encrypted(key_a_, o);
    const std::string plain = pseudo_random_bytes(5 * 4096 + 100, 11);
    const std::size_t sealed_chunk = 4096 + kEncryptedTagBytes;
    std::size_t round = 0;
    for (std::size_t room : {std::size_t{1}, kEncryptedHeaderBytes, kEncryptedHeaderBytes + 4096, sealed_chunk,
                             kEncryptedHeaderBytes + 2 * sealed_chunk, std::size_t{1} << 20}) {
      for (std::size_t piece : {std::size_t{1000}, std::size_t{4096}, std::size_t{10000}, plain.size()}) {
        const std::string key = "recordings/cc-e/rec-e/" + std::to_string(100000 + round++) + "-enc.mp4";
        auto enc = store->encoder(key, plain.size());
        ASSERT_TRUE(enc && *enc) << (enc ? "no encoder" : enc.error().message);
        const auto file = scratch_ / "sealed.part";
        StringOutput out(room);
        for (std::size_t at = 0; at < plain.size(); at += piece) {
          ASSERT_TRUE((*enc)->update(as_bytes(std::string_view(plain).substr(at, piece)), out));
        }
        ASSERT_TRUE((*enc)->finish(out));
        const auto& written = out.written;
        EXPECT_EQ(written.size(), encrypted_size(plain.size(), o.chunk_bytes));
        EXPECT_FALSE(contains(written, plain.substr(0, 64)));
        write_file(file, written);
        auto st = store->put_encoded_file(key, file, **enc);
        ASSERT_TRUE(st) << st.error().message;
        EXPECT_EQ(read_all(*store, key).value(), plain) << "pieces of " << piece << ", room " << room;
        EXPECT_EQ(read_all(*store, key, {4095, 4098}).value(), plain.substr(4095, 4098));
        EXPECT_EQ(store->head(key).value()->size_bytes, plain.size());
      }
    }
    // An empty object: its one empty chunk.
    const std::string empty_key = "recordings/cc-e/rec-e/000010-empty.mp4";
    auto enc = store->encoder(empty_key, 0);
    ASSERT_TRUE(enc && *enc);
    StringOutput out(7);
    ASSERT_TRUE((*enc)->finish(out));
    write_file(scratch_ / "empty.part", out.written);
    ASSERT_TRUE(store->put_encoded_file(empty_key, scratch_ / "empty.part", **enc));
    EXPECT_EQ(read_all(*store, empty_key).value(), "");
  }
  // The wrong length, another key or an unfinished encoder is refused.
  auto store = open_encrypted(key_a_);
  auto enc = store->encoder("recordings/cc-e/rec-e/000009-x.mp4", 10);
  ASSERT_TRUE(enc);
  StringOutput sink(1 << 20);
  EXPECT_FALSE((*enc)->update(as_bytes(std::string_view("eleven byte")), sink));
  ASSERT_TRUE((*enc)->update(as_bytes(std::string_view("nine byte")), sink));
  EXPECT_EQ((*enc)->finish(sink).error().code, Errc::invalid_argument);
  write_file(scratch_ / "x.part", "x");
  EXPECT_EQ(store->put_encoded_file("recordings/cc-e/rec-e/000009-x.mp4", scratch_ / "x.part", **enc).error().code,
            Errc::invalid_argument);
  EXPECT_EQ(store->put_encoded_file("recordings/cc-e/rec-e/000008-y.mp4", scratch_ / "x.part", **enc).error().code,
            Errc::invalid_argument);
}

// What the inner store is handed: a sealed file with the SHA-256 of its
// bytes, or no hash where the store does not use one; never a made-up one.
class ShaCheckingStore final : public ObjectStore {
 public:
  ShaCheckingStore(std::unique_ptr<ObjectStore> inner, bool uses_sha) : inner_(std::move(inner)), uses_sha_(uses_sha) {}
  Status put_file(std::string_view key, const fs::path& source) override { return inner_->put_file(key, source); }
  Status put_handed_over_file(std::string_view key, const fs::path& source, std::string_view sha) override {
    handed.push_back({std::string(sha), sha256_hex(read_file(source))});
    return inner_->put_handed_over_file(key, source, sha);
  }
  bool uses_handed_over_sha256() const override { return uses_sha_; }
  Status put_bytes(std::string_view key, std::span<const std::byte> data) override { return inner_->put_bytes(key, data); }
  Result<std::uint64_t> read(std::string_view key, ByteRange range, const ByteSink& sink) override {
    return inner_->read(key, range, sink);
  }
  Result<std::optional<ObjectInfo>> head(std::string_view key) override { return inner_->head(key); }
  Status remove(std::string_view key) override { return inner_->remove(key); }
  Result<std::vector<ObjectInfo>> list(std::string_view prefix) override { return inner_->list(prefix); }
  std::string describe() const override { return inner_->describe(); }
  static std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::vector<std::pair<std::string, std::string>> handed;  // (given, actual) SHA-256

 private:
  std::unique_ptr<ObjectStore> inner_;
  bool uses_sha_;
};

TEST_P(EncryptedStore, TheInnerStoreIsHandedTheSealedFilesRealHashOrNone) {
  for (bool uses_sha : {false, true}) {
    auto checking = std::make_unique<ShaCheckingStore>(open_raw(), uses_sha);
    auto* seen = checking.get();
    EncryptionOptions o;
    o.temp_dir = scratch_ / "tmp";
    auto store = EncryptedObjectStore::open(std::move(checking), keys_of(key_a_), o);
    ASSERT_TRUE(store) << store.error().message;
    write_file(scratch_ / "plain.mp4", "segment bytes");
    ASSERT_TRUE((*store)->put_file("recordings/cc-h/rec-h/000000-h.mp4", scratch_ / "plain.mp4"));
    ASSERT_EQ(seen->handed.size(), 1u);
    const auto& [given, actual] = seen->handed[0];
    EXPECT_EQ(given, uses_sha ? actual : std::string()) << "uses_sha " << uses_sha;
  }
}

TEST_P(EncryptedStore, AChangedByteTruncationOrMovedChunkFailsLoudly) {
  EncryptionOptions o;
  o.chunk_bytes = 4096;
  auto store = open_encrypted(key_a_, o);
  const std::string plain = pseudo_random_bytes(5 * 4096 + 100, 3);
  const std::string key = "recordings/cc-t/rec-t/000000-t.mp4";
  const std::string other = "recordings/cc-t/rec-t/000001-t.mp4";
  put(*store, key, plain);
  put(*store, other, pseudo_random_bytes(5 * 4096 + 100, 4));
  const auto sealed = read_all(*raw_, key).value();
  const auto sealed_other = read_all(*raw_, other).value();
  const auto expect_corrupt = [&](const std::string& stored, const char* what) {
    put(*raw_, key, stored);
    auto got = read_all(*store, key);
    ASSERT_FALSE(got) << what;
    EXPECT_EQ(got.error().code, Errc::corrupt) << what << ": " << got.error().message;
  };
  for (std::size_t at : {std::size_t{20}, std::size_t{kEncryptedHeaderBytes + 5},
                         std::size_t{kEncryptedHeaderBytes + 4096 + 3}, sealed.size() - 1}) {
    auto flipped = sealed;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x01);
    expect_corrupt(flipped, ("byte " + std::to_string(at)).c_str());
  }
  expect_corrupt(sealed.substr(0, sealed.size() - 4096 - 16), "last chunk dropped");
  expect_corrupt(sealed.substr(0, sealed.size() - 10), "truncated");
  {
    auto swapped = sealed;  // chunks 1 and 2 exchanged
    const std::size_t c = 4096 + 16, h = kEncryptedHeaderBytes;
    swapped.replace(h + c, c, sealed.substr(h + 2 * c, c));
    swapped.replace(h + 2 * c, c, sealed.substr(h + c, c));
    expect_corrupt(swapped, "reordered chunks");
  }
  {
    auto mixed = sealed;  // chunk 1 from another object of the same recording
    const std::size_t c = 4096 + 16, h = kEncryptedHeaderBytes;
    mixed.replace(h + c, c, sealed_other.substr(h + c, c));
    expect_corrupt(mixed, "chunk from another object");
  }
  expect_corrupt(sealed_other, "another object's bytes under this key");
  put(*raw_, key, sealed);
  EXPECT_EQ(read_all(*store, key).value(), plain);
}

TEST_P(EncryptedStore, ObjectsWrittenBeforeEncryptionReadAsTheyAre) {
  const std::string key = "recordings/cc-old/rec-old/000000-old.mp4";
  const std::string plain = pseudo_random_bytes(200000, 9);
  put(*raw_, key, plain);
  put(*raw_, "tiny", "ab");
  EXPECT_EQ(read_all(*store_, key).value(), plain);
  EXPECT_EQ(read_all(*store_, key, {1000, 5000}).value(), plain.substr(1000, 5000));
  EXPECT_EQ(store_->head(key).value()->size_bytes, plain.size());
  EXPECT_EQ(read_all(*store_, "tiny").value(), "ab");
}

TEST_P(EncryptedStore, HeadAndListGivePlaintextSizesAndListLeavesOutDataKeys) {
  put(*store_, "recordings/cc-l/rec-l/000000-a.mp4", std::string(70000, 'x'));
  put(*store_, "recordings/cc-l/rec-l/000001-a.mp4", "");
  put(*raw_, "recordings/cc-l/rec-l/000002-a.mp4", "legacy");
  auto listed = store_->list("recordings/cc-l/rec-l/").value();
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].size_bytes, 70000u);
  EXPECT_EQ(listed[1].size_bytes, 0u);
  EXPECT_EQ(listed[2].size_bytes, 6u);
  EXPECT_EQ(store_->head("recordings/cc-l/rec-l/000000-a.mp4").value()->size_bytes, 70000u);
  EXPECT_FALSE(store_->head("recordings/cc-l/rec-l/none").value());
  auto stored = store_->list_stored("recordings/cc-l/rec-l/").value();
  ASSERT_EQ(stored.size(), 4u);  // and the recording's data key, which deleting the recording removes with it
  const auto dek = std::find_if(stored.begin(), stored.end(), [](const auto& o) { return is_data_key_object(o.key); });
  ASSERT_NE(dek, stored.end());
  EXPECT_EQ(std::count_if(stored.begin(), stored.end(), [](const auto& o) { return is_data_key_object(o.key); }), 1);
  auto overwrite = store_->put_bytes(dek->key, as_bytes("x"));  // callers cannot clobber a data key
  ASSERT_FALSE(overwrite);
  EXPECT_EQ(overwrite.error().code, Errc::invalid_argument);
}

TEST_P(EncryptedStore, RotationRewrapsOnlyTheDataKeysAndEverythingStaysReadable) {
  std::map<std::string, std::string> plain;
  for (int r = 0; r < 3; ++r) {
    for (int s = 0; s < 2; ++s) {
      const auto key = "recordings/cc-x/rec-" + std::to_string(r) + "/00000" + std::to_string(s) + "-k.mp4";
      plain[key] = pseudo_random_bytes(100000 + static_cast<std::size_t>(r * 7 + s), static_cast<unsigned>(r * 10 + s));
      put(*store_, key, plain[key]);
    }
  }
  const auto before = dump();
  auto both = keys_of(key_b_ + key_a_);  // the new key first, the old one still known
  auto report = rotate_data_keys(*raw_, *both);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->rewrapped, 3);
  EXPECT_EQ(report->already_current, 0);
  const auto after = dump();
  ASSERT_EQ(after.size(), before.size());
  for (const auto& [key, bytes] : after) {
    if (is_data_key_object(key))
      EXPECT_NE(bytes, before.at(key)) << key;
    else
      EXPECT_EQ(bytes, before.at(key)) << key << " was rewritten";
  }
  EXPECT_EQ(rotate_data_keys(*raw_, *both).value().rewrapped, 0);  // restartable: nothing left to do

  auto new_only = open_encrypted(key_b_);
  for (const auto& [key, bytes] : plain) EXPECT_EQ(read_all(*new_only, key).value(), bytes) << key;
  auto old_only = open_encrypted(key_a_);
  auto refused = read_all(*old_only, plain.begin()->first);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::not_found) << refused.error().message;
  EXPECT_NE(refused.error().message.find("master key"), std::string::npos) << refused.error().message;
}

TEST_P(EncryptedStore, EncryptInPlaceInterruptedHalfWayThenRerunEncryptsEverything) {
  std::map<std::string, std::string> plain;
  for (int r = 0; r < 3; ++r) {
    const std::string dir = "recordings/cc-m/rec-" + std::to_string(r) + "/";
    plain[dir + "000000-a.mp4"] = deskaudit::testing::make_segments(1, 2)[0];
    plain[dir + "000001-b.mp4"] = pseudo_random_bytes(150000, static_cast<unsigned>(r));
    plain[dir + "000001-b.events.json"] = "{\"events\":[\"" + std::string(kMarker) + "\"]}";
  }
  for (const auto& [key, bytes] : plain) put(*raw_, key, bytes);

  {
    // The first recording's data key and objects, then the second's data key get through; then the run stops.
    auto cut = EncryptedObjectStore::open(std::make_unique<InterruptedStore>(*raw_, 5), keys_of(key_a_),
                                          {.temp_dir = scratch_ / "tmp"});
    ASSERT_TRUE(cut);
    auto first = encrypt_in_place(**cut);
    ASSERT_FALSE(first);
  }
  int encrypted = 0;
  for (const auto& [key, bytes] : plain) {
    EXPECT_EQ(read_all(*store_, key).value(), bytes) << key << " must stay readable half way";
    encrypted += is_encrypted_object(as_bytes(read_all(*raw_, key).value())) ? 1 : 0;
  }
  EXPECT_GT(encrypted, 0);
  EXPECT_LT(encrypted, static_cast<int>(plain.size()));

  auto second = encrypt_in_place(*store_);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->already_encrypted, encrypted);
  EXPECT_EQ(second->encrypted, static_cast<std::int64_t>(plain.size()) - encrypted);
  for (const auto& [key, bytes] : dump()) {
    if (is_data_key_object(key)) continue;
    EXPECT_TRUE(is_encrypted_object(as_bytes(bytes))) << key;
    const auto at = plaintext_run_in(bytes, plain.at(key));
    EXPECT_FALSE(at) << key << " holds plaintext from byte " << at.value_or(0);
    EXPECT_FALSE(contains(bytes, kMarker)) << key;
  }
  auto fresh = open_encrypted(key_a_);
  for (const auto& [key, bytes] : plain) EXPECT_EQ(read_all(*fresh, key).value(), bytes) << key;
  EXPECT_EQ(encrypt_in_place(*fresh).value().encrypted, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, EncryptedStore, ::testing::Values(Backend::local, Backend::s3rver), backend_name);

TEST(MasterKeys, BadOrMissingKeysAreRefusedWithWhatToFix) {
  const auto dir = fs::temp_directory_path() / ("deskaudit-keys-" + random_id(""));
  fs::create_directories(dir);
  const auto file = dir / "master.key";
  auto missing = LocalMasterKeys::load_file(file);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);

  write_file(file, LocalMasterKeys::generate_line());
  ::chmod(file.c_str(), 0644);
  auto readable = LocalMasterKeys::load_file(file);
  ASSERT_FALSE(readable);
  EXPECT_NE(readable.error().message.find("chmod 600"), std::string::npos) << readable.error().message;
  ::chmod(file.c_str(), 0600);
  EXPECT_TRUE(LocalMasterKeys::load_file(file));

  for (std::string_view bad : {"", "# only a comment\n", "not base64!\n", "c2hvcnQ=\n"}) {
    auto k = LocalMasterKeys::parse(bad, "test");
    ASSERT_FALSE(k) << bad;
    EXPECT_EQ(k.error().code, Errc::invalid_argument);
  }
  const auto line = LocalMasterKeys::generate_line();
  EXPECT_FALSE(LocalMasterKeys::parse(line + line, "test"));  // the same key twice
  auto two = LocalMasterKeys::parse("# rotation\n" + LocalMasterKeys::generate_line() + line, "test");
  ASSERT_TRUE(two);
  EXPECT_EQ((*two)->key_ids().size(), 2u);
  EXPECT_EQ(LocalMasterKeys::parse(line, "x").value()->current_key_id(), (*two)->key_ids()[1]);

  EXPECT_FALSE(load_master_keys(file, line));  // both
  EXPECT_FALSE(load_master_keys({}, ""));      // neither
  EXPECT_TRUE(load_master_keys({}, line));
  fs::remove_all(dir);
}

TEST(EncryptedLayout, SizesAndScopes) {
  EXPECT_EQ(encrypted_size(0), kEncryptedHeaderBytes + kEncryptedTagBytes);
  EXPECT_EQ(encrypted_size(kDefaultChunkBytes), kEncryptedHeaderBytes + kDefaultChunkBytes + kEncryptedTagBytes);
  EXPECT_EQ(encrypted_size(kDefaultChunkBytes + 1),
            kEncryptedHeaderBytes + kDefaultChunkBytes + 1 + 2 * kEncryptedTagBytes);
  EXPECT_TRUE(is_data_key_object("recordings/a/b/_dek-00.key"));
  EXPECT_FALSE(is_data_key_object("recordings/a/b/000000-_dek-.mp4"));
}

}  // namespace
}  // namespace deskaudit::storage
