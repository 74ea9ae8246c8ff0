#pragma once
// Internal to common (crypto.cpp and its tests): the SHA-256 compression
// function (FIPS 180-4, 6.2.2) on the x86-64 SHA extensions (SHA-NI).
#include <cstddef>
#include <cstdint>

namespace deskaudit::detail {

// Whether this CPU has the SHA extensions (and the SSSE3/SSE4.1 they are
// used with). Always false off x86-64.
bool sha256_ni_supported() noexcept;

// Runs the compression function over `blocks` consecutive 64-byte blocks at
// `data`, updating `state` (H0..H7 as FIPS 180-4 numbers them). Call only
// when sha256_ni_supported().
void sha256_ni_blocks(std::uint32_t state[8], const std::uint8_t* data, std::size_t blocks) noexcept;

}  // namespace deskaudit::detail
