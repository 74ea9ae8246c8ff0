// SHA-256 throughput per engine: libsodium's portable code against the x86-64
// SHA extensions, hashing a buffer the size the server feeds the hash with
// (1 MiB pieces of a large upload) and a small one. Prints MB/s
// (bytes_per_second); an engine this CPU cannot run is skipped with a message.
#include <cstdint>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/crypto.hpp"

namespace {

using deskaudit::Sha256;
using deskaudit::Sha256Engine;

void sha256(benchmark::State& state, Sha256Engine engine) {
  if (!deskaudit::sha256_engine_available(engine)) {
    state.SkipWithError("this CPU has no SHA extensions (sha_ni)");
    return;
  }
  std::vector<std::byte> data(static_cast<std::size_t>(state.range(0)));
  std::mt19937 rng(1);
  for (auto& b : data) b = static_cast<std::byte>(rng());
  for (auto _ : state) {
    Sha256 h(engine);
    h.update(data);
    benchmark::DoNotOptimize(h.digest());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

BENCHMARK_CAPTURE(sha256, libsodium, Sha256Engine::libsodium)->Arg(1 << 20)->Arg(4096);
BENCHMARK_CAPTURE(sha256, sha_ni, Sha256Engine::sha_ni)->Arg(1 << 20)->Arg(4096);

}  // namespace
