#pragma once
// Checks that stored bytes hold none of a plaintext: 32-byte runs of it taken
// at its start, its first fragment box ("moof"), its middle and its end. A
// 4-byte box name is no such check: it turns up in 150 KB of ciphertext by
// chance about once in 30,000 objects (it did in CI); a 32-byte run never.
#include <algorithm>
#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace deskaudit::testing {

inline constexpr std::size_t kPlaintextRun = 32;

// The offsets of `clear` the runs are taken at (fewer for a short plaintext;
// none under kPlaintextRun bytes).
inline std::vector<std::size_t> plaintext_run_offsets(std::string_view clear) {
  std::vector<std::size_t> out;
  if (clear.size() < kPlaintextRun) return out;
  const auto moof = clear.find("moof");
  for (std::size_t at : {std::size_t{0}, moof == std::string_view::npos || moof < 4 ? std::size_t{0} : moof - 4,
                         clear.size() / 2, clear.size() - kPlaintextRun}) {
    at = std::min(at, clear.size() - kPlaintextRun);
    if (std::find(out.begin(), out.end(), at) == out.end()) out.push_back(at);
  }
  return out;
}

// The offset in `clear` of the first of those runs found in `stored`.
inline std::optional<std::size_t> plaintext_run_in(std::string_view stored, std::string_view clear) {
  for (const auto at : plaintext_run_offsets(clear)) {
    if (stored.find(clear.substr(at, kPlaintextRun)) != std::string_view::npos) return at;
  }
  return std::nullopt;
}

}  // namespace deskaudit::testing
