#include "common/sha256_ni.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace deskaudit::detail {

#if defined(__x86_64__)
namespace {

// FIPS 180-4, 4.2.2: the first 32 bits of the fractional parts of the cube
// roots of the first 64 primes.
alignas(16) constexpr std::uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define DESKAUDIT_SHA_TARGET __attribute__((target("sha,sse4.1,ssse3")))

// Four message words W[t..t+3], big-endian in the block, into lanes 0..3.
DESKAUDIT_SHA_TARGET inline __m128i load_words(const std::uint8_t* p) {
  const __m128i swap_bytes = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
  return _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), swap_bytes);
}

// W[t..t+3] from the four quads before it (FIPS 180-4, 6.2.2 step 1):
// W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16]. sha256msg1 adds the
// s0 terms to w_16, alignr picks W[t-7..t-4] out of w_8:w_4, and sha256msg2
// adds the s1 terms (the last two from the words it has just made).
DESKAUDIT_SHA_TARGET inline __m128i next_words(__m128i w_16, __m128i w_12, __m128i w_8, __m128i w_4) {
  const __m128i partial = _mm_add_epi32(_mm_sha256msg1_epu32(w_16, w_12), _mm_alignr_epi8(w_4, w_8, 4));
  return _mm_sha256msg2_epu32(partial, w_4);
}

// Four rounds with message words `w` (W[t..t+3]) and constants K[t..t+3].
// sha256rnds2 does two rounds on {A,B,E,F} and {C,D,G,H}, taking W+K for
// them from the low two lanes of its third operand, and returns the new
// {A,B,E,F}; the new {C,D,G,H} is the old {A,B,E,F}. So the two registers
// swap roles each call, and after two calls they are in place again.
DESKAUDIT_SHA_TARGET inline void four_rounds(__m128i& abef, __m128i& cdgh, __m128i w, int t) {
  const __m128i wk = _mm_add_epi32(w, _mm_load_si128(reinterpret_cast<const __m128i*>(&kRound[t])));
  cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
  abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));  // lanes 2,3 down
}

}  // namespace

bool sha256_ni_supported() noexcept {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3");
  }();
  return supported;
}

DESKAUDIT_SHA_TARGET void sha256_ni_blocks(std::uint32_t state[8], const std::uint8_t* data,
                                           std::size_t blocks) noexcept {
  // The instructions hold the working variables as {A,B,E,F} and {C,D,G,H},
  // the first named in the highest lane. state[] is H0..H7 = A..H.
  const __m128i h0_3 = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[0])), 0x1B);
  const __m128i h4_7 = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[4])), 0x1B);
  __m128i abef = _mm_unpackhi_epi64(h4_7, h0_3);  // lanes F, E, B, A
  __m128i cdgh = _mm_unpacklo_epi64(h4_7, h0_3);  // lanes H, G, D, C

  for (; blocks > 0; --blocks, data += 64) {
    const __m128i abef_in = abef;
    const __m128i cdgh_in = cdgh;
    __m128i w0 = load_words(data);
    __m128i w1 = load_words(data + 16);
    __m128i w2 = load_words(data + 32);
    __m128i w3 = load_words(data + 48);
    four_rounds(abef, cdgh, w0, 0);
    four_rounds(abef, cdgh, w1, 4);
    four_rounds(abef, cdgh, w2, 8);
    four_rounds(abef, cdgh, w3, 12);
    // Rounds 16..63: each quad of words replaces the one 16 words older.
    for (int t = 16; t < 64; t += 16) {
      w0 = next_words(w0, w1, w2, w3);
      four_rounds(abef, cdgh, w0, t);
      w1 = next_words(w1, w2, w3, w0);
      four_rounds(abef, cdgh, w1, t + 4);
      w2 = next_words(w2, w3, w0, w1);
      four_rounds(abef, cdgh, w2, t + 8);
      w3 = next_words(w3, w0, w1, w2);
      four_rounds(abef, cdgh, w3, t + 12);
    }
    abef = _mm_add_epi32(abef, abef_in);
    cdgh = _mm_add_epi32(cdgh, cdgh_in);
  }

  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[0]), _mm_shuffle_epi32(_mm_unpackhi_epi64(cdgh, abef), 0x1B));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[4]), _mm_shuffle_epi32(_mm_unpacklo_epi64(cdgh, abef), 0x1B));
}

#undef DESKAUDIT_SHA_TARGET

#else

bool sha256_ni_supported() noexcept { return false; }
void sha256_ni_blocks(std::uint32_t*, const std::uint8_t*, std::size_t) noexcept {}

#endif

}  // namespace deskaudit::detail
