// encrypt_bench: what encryption at rest (storage/encrypted_store.hpp) costs
// the object store path alone, plaintext vs encrypted, on a local store:
//   - put: --objects files of --object-mib handed over as the server hands
//     over finished uploads; wall MB/s and process CPU seconds per GiB;
//   - seek: --seeks reads of one fragment-sized range (--range-kib) at random
//     offsets of those objects, as the player's seek makes the server do;
//     p50/p95/max ms.
// Prints figures; asserts nothing. See bench/encrypt/README.md.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/crypto.hpp"
#include "storage/encrypted_store.hpp"
#include "storage/object_store.hpp"

using namespace deskaudit;
namespace fs = std::filesystem;

namespace {

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

void run(const std::string& name, storage::ObjectStore& store, const fs::path& dir, int objects, int object_mib,
         int seeks, int range_kib) {
  const std::size_t size = static_cast<std::size_t>(object_mib) << 20;
  std::string body(size, '\0');
  std::mt19937_64 rng(1);
  for (std::size_t i = 0; i + 8 <= size; i += 8) {
    const auto v = rng();
    std::memcpy(body.data() + i, &v, 8);
  }
  double wall = 0, cpu = 0;
  for (int i = 0; i < objects; ++i) {
    const auto file = dir / ("upload-" + std::to_string(i));
    std::ofstream(file, std::ios::binary).write(body.data(), static_cast<std::streamsize>(body.size()));
    const auto sha = sha256_hex(body);  // the server has it from the upload
    const double w0 = now_s(), c0 = cpu_seconds();
    auto st = store.put_handed_over_file("recordings/cc-bench/rec-bench/" + std::to_string(i) + ".mp4", file, sha);
    wall += now_s() - w0;
    cpu += cpu_seconds() - c0;
    fs::remove(file);
    if (!st) throw std::runtime_error(st.error().message);
  }
  const double gib = static_cast<double>(size) * objects / 1073741824.0;
  std::vector<double> ms;
  for (int i = 0; i < seeks; ++i) {
    const auto key = "recordings/cc-bench/rec-bench/" + std::to_string(static_cast<int>(rng() % objects)) + ".mp4";
    const std::uint64_t len = static_cast<std::uint64_t>(range_kib) << 10;
    const std::uint64_t off = rng() % (size - len);
    const double w0 = now_s();
    auto n = store.read(key, {off, len}, [](std::span<const std::byte>) { return true; });
    ms.push_back((now_s() - w0) * 1000);
    if (!n || *n != len) throw std::runtime_error("seek read failed");
  }
  std::sort(ms.begin(), ms.end());
  const auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * ms.size()))]; };
  std::printf("%-24s %8.1f %10.2f %9.2f %9.2f %9.2f\n", name.c_str(), gib * 1073.741824 / wall, cpu / gib, pct(0.5),
              pct(0.95), ms.back());
}

}  // namespace

int main(int argc, char** argv) {
  int objects = 16, object_mib = 16, seeks = 200, range_kib = 512;
  CLI::App app{"encrypt_bench: the object store path with and without encryption at rest"};
  app.add_option("--objects", objects, "objects stored per run")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--object-mib", object_mib, "size of each object")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--seeks", seeks, "random range reads")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--range-kib", range_kib, "bytes per range read (a fragment)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  CLI11_PARSE(app, argc, argv);
  if (static_cast<std::int64_t>(range_kib) >= static_cast<std::int64_t>(object_mib) * 1024) {
    std::fprintf(stderr, "encrypt_bench: --range-kib must be smaller than --object-mib\n");
    return 2;
  }
  const auto dir = fs::temp_directory_path() / ("deskaudit-encrypt-bench-" + random_id(""));
  fs::create_directories(dir);
  std::printf(
      "%d objects of %d MiB, %d seeks of %d KiB; cipher %s\n", objects, object_mib, seeks, range_kib,
      storage::default_chunk_cipher() == storage::ChunkCipher::aes256gcm ? "AES-256-GCM" : "XChaCha20-Poly1305");
  std::printf("%-24s %8s %10s %9s %9s %9s\n", "setup", "MB/s", "CPU s/GiB", "seek p50", "p95 ms", "max ms");
  try {
    {
      auto store = storage::make_object_store("file://" + (dir / "plain").string());
      if (!store) throw std::runtime_error(store.error().message);
      run("local, plaintext", **store, dir, objects, object_mib, seeks, range_kib);
    }
    for (auto cipher : {storage::ChunkCipher::aes256gcm, storage::ChunkCipher::xchacha20poly1305}) {
      if (cipher == storage::ChunkCipher::aes256gcm && storage::default_chunk_cipher() != cipher) continue;
      auto inner =
          storage::make_object_store("file://" + (dir / ("enc" + std::to_string(static_cast<int>(cipher)))).string());
      if (!inner) throw std::runtime_error(inner.error().message);
      auto keys = storage::load_master_keys({}, storage::LocalMasterKeys::generate_line());
      storage::EncryptionOptions o;
      o.cipher = cipher;
      o.temp_dir = dir / "tmp";
      auto store = storage::EncryptedObjectStore::open(std::move(*inner), *keys, o);
      if (!store) throw std::runtime_error(store.error().message);
      run(cipher == storage::ChunkCipher::aes256gcm ? "local, AES-256-GCM" : "local, XChaCha20-Poly1305", **store, dir,
          objects, object_mib, seeks, range_kib);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "encrypt_bench: %s\n", e.what());
    fs::remove_all(dir);
    return 1;
  }
  fs::remove_all(dir);
  return 0;
}
