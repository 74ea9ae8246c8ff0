// Each SHA-256 engine against the FIPS 180-2 example vectors, and SHA-NI
// against libsodium on random messages of every length 0..1100 fed in random
// pieces. On a CPU without the SHA extensions the SHA-NI tests are skipped
// (and say so); the default engine is then libsodium.
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/crypto.hpp"

using namespace deskaudit;

namespace {

std::string engine_name(Sha256Engine e) { return e == Sha256Engine::sha_ni ? "sha_ni" : "libsodium"; }

// Whether the kernel lists the CPU flag "sha_ni".
bool cpuinfo_has_sha_ni() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("flags")) continue;
    std::istringstream words(line);
    for (std::string w; words >> w;) {
      if (w == "sha_ni") return true;
    }
    return false;
  }
  return false;
}

std::string libsodium_hex(const std::vector<std::uint8_t>& data) {
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> out{};
  crypto_hash_sha256(out.data(), data.data(), data.size());
  return to_hex(out);
}

class Sha256EngineTest : public ::testing::TestWithParam<Sha256Engine> {
 protected:
  void SetUp() override {
    if (!sha256_engine_available(GetParam())) {
      GTEST_SKIP() << "this CPU has no SHA extensions (no sha_ni in /proc/cpuinfo): the " << engine_name(GetParam())
                   << " engine cannot run here; libsodium's is used instead";
    }
  }
  std::string hex(std::string_view message) {
    Sha256 h(GetParam());
    EXPECT_EQ(h.engine(), GetParam());
    h.update(message);
    return h.hex();
  }
};

TEST_P(Sha256EngineTest, FipsExampleVectors) {
  EXPECT_EQ(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 448 bits: the padding needs a second block.
  EXPECT_EQ(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1'000'000, 'a');
  EXPECT_EQ(hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  Sha256 pieces(GetParam());
  for (std::size_t at = 0, step = 1; at < million.size(); at += step, step = step * 3 % 65537 + 1) {
    pieces.update(std::string_view(million).substr(at, step));
  }
  EXPECT_EQ(pieces.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Every length 0..1100 covers every padding case (length mod 64, one or two
// final blocks) and up to 17 whole blocks; the pieces cover a partial block
// filled up, whole blocks straight from the input, and empty updates.
TEST_P(Sha256EngineTest, SameDigestAsLibsodiumForEveryLengthAndSplit) {
  std::mt19937_64 rng(20261130);
  for (std::size_t length = 0; length <= 1100; ++length) {
    std::vector<std::uint8_t> data(length);
    for (auto& b : data) b = static_cast<std::uint8_t>(rng());
    const std::string expected = libsodium_hex(data);

    Sha256 whole(GetParam());
    whole.update(std::as_bytes(std::span(data)));
    ASSERT_EQ(whole.hex(), expected) << "length " << length;

    for (int trial = 0; trial < 4; ++trial) {
      Sha256 split(GetParam());
      std::string cuts;
      for (std::size_t at = 0; at < length;) {
        const std::size_t n = std::min<std::size_t>(length - at, rng() % (trial < 2 ? 70 : 300));
        split.update(std::as_bytes(std::span(data).subspan(at, n)));
        cuts += std::to_string(n) + " ";
        at += n;
      }
      ASSERT_EQ(split.hex(), expected) << "length " << length << ", pieces " << cuts;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, Sha256EngineTest, ::testing::Values(Sha256Engine::libsodium, Sha256Engine::sha_ni),
                         [](const auto& info) { return engine_name(info.param); });

// The default engine is SHA-NI exactly when the CPU has the extensions.
TEST(Sha256Engine, DefaultIsShaNiWhenTheCpuHasIt) {
  const bool has = cpuinfo_has_sha_ni();
  EXPECT_EQ(sha256_engine_available(Sha256Engine::sha_ni), has);
  EXPECT_EQ(sha256_default_engine(), has ? Sha256Engine::sha_ni : Sha256Engine::libsodium);
  EXPECT_EQ(Sha256().engine(), sha256_default_engine());
  EXPECT_TRUE(sha256_engine_available(Sha256Engine::libsodium));
  if (!has) {
    EXPECT_THROW(Sha256{Sha256Engine::sha_ni}, std::invalid_argument);
  }
}

}  // namespace
