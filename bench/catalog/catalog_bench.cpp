// catalog_bench: fills N recordings (default 1,000,000) into a fresh catalog
// and measures list_recordings filtered by username + time range (limit 50),
// the console's "recordings of this user last month" query.
//
//   catalog_bench [--rows N] [--queries N] [--dir DIR] [--only sqlite|postgresql]
//
// SQLite always (a file under --dir, default a new temp directory, removed
// afterwards); PostgreSQL too when DESKAUDIT_TEST_POSTGRES_URL is set (a
// fresh schema, dropped afterwards). The fill writes the recordings table
// directly in multi-row INSERTs of 500 rows, 20 statements per transaction,
// because the Catalog API has no batch insert; it therefore follows the
// column list of migration 0001. The measured queries go through the API.
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "catalog/catalog.hpp"

namespace {

using deskaudit::EpochMs;
using namespace deskaudit::catalog;
using Clock = std::chrono::steady_clock;

constexpr EpochMs kT0 = 1'767'225'600'000;  // 2026-01-01
constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kDay = 86'400'000;
constexpr int kComputers = 1000;
constexpr int kUsers = 5000;
constexpr int kRowsPerStatement = 500;
constexpr int kStatementsPerTx = 20;

struct Options {
  long rows = 1'000'000;
  int queries = 2000;
  std::filesystem::path dir;
  std::string only;  // empty: every available backend
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Recording i: computer i % 1000, user (i * 7) % 5000, start spread over a
// year, 5 to 120 minutes long; the newest 0.1 % are still open.
void fill(soci::session& s, long rows, bool sqlite) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> start_dist(0, 365 * kDay);
  std::uniform_int_distribution<std::int64_t> length_dist(5 * kMinute, 120 * kMinute);
  long done = 0;
  while (done < rows) {
    s << (sqlite ? "BEGIN IMMEDIATE" : "BEGIN");
    for (int st = 0; st < kStatementsPerTx && done < rows; ++st) {
      std::string q =
          "INSERT INTO recordings (id, computer_id, computer_name, policy_id, policy_name, username, start_time, "
          "end_time, status, size_bytes, segment_count, duration_ms, retention_days, expires_at, legal_hold, "
          "created_at) VALUES ";
      for (int r = 0; r < kRowsPerStatement && done < rows; ++r, ++done) {
        const EpochMs start = kT0 + start_dist(rng);
        const std::int64_t length = length_dist(rng);
        const bool open = done % 1000 == 0;
        char row[512];
        std::snprintf(row, sizeof row,
                      "%s('rec-%09ld', 'cc-%04ld', 'host-%04ld', 'pol-1', 'Default', 'user%04ld', %ld, %s, '%s', "
                      "%ld, %ld, %ld, 30, %s, 0, %ld)",
                      r == 0 ? "" : ", ", done, done % kComputers, done % kComputers, (done * 7) % kUsers,
                      static_cast<long>(start), open ? "NULL" : std::to_string(start + length).c_str(),
                      open ? "recording" : "complete", static_cast<long>(length / 1000 * 25000),
                      static_cast<long>(length / (10 * kMinute) + 1), static_cast<long>(length),
                      open ? "NULL" : std::to_string(start + length + 30 * kDay).c_str(), static_cast<long>(start));
        q += row;
      }
      s << q;
    }
    s << "COMMIT";
  }
  if (!sqlite) s << "ANALYZE recordings";
}

void run(const char* label, const std::string& url, soci::session& raw, bool sqlite, const Options& opt) {
  auto made = make_catalog(url, 4);
  if (!made) {
    std::fprintf(stderr, "%s: %s\n", label, made.error().message.c_str());
    std::exit(1);
  }
  Catalog& cat = **made;
  if (auto m = cat.migrate(); !m) {
    std::fprintf(stderr, "%s: migrate: %s\n", label, m.error().message.c_str());
    std::exit(1);
  }
  const auto fill_start = Clock::now();
  fill(raw, opt.rows, sqlite);
  const double fill_s = seconds_since(fill_start);
  std::printf("%-10s fill %ld recordings: %.1f s (%.0f rows/s)\n", label, opt.rows, fill_s,
              static_cast<double>(opt.rows) / fill_s);

  std::mt19937_64 rng(7);
  std::uniform_int_distribution<long> user_dist(0, kUsers - 1);
  std::uniform_int_distribution<std::int64_t> from_dist(0, 335 * kDay);
  std::vector<double> latencies_ms;
  latencies_ms.reserve(static_cast<std::size_t>(opt.queries));
  std::size_t rows_seen = 0;
  for (int i = 0; i < opt.queries; ++i) {
    RecordingFilter f;
    char user[16];
    std::snprintf(user, sizeof user, "user%04ld", user_dist(rng));
    f.username = user;
    f.start_time = kT0 + from_dist(rng);
    f.end_time = *f.start_time + 30 * kDay;
    const auto t = Clock::now();
    auto page = cat.list_recordings(f, Page{50, ""});
    latencies_ms.push_back(seconds_since(t) * 1000.0);
    if (!page) {
      std::fprintf(stderr, "%s: list_recordings: %s\n", label, page.error().message.c_str());
      std::exit(1);
    }
    rows_seen += page->items.size();
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const auto pct = [&](double p) {
    return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<std::size_t>(p * latencies_ms.size()))];
  };
  std::printf(
      "%-10s list_recordings(username + 30-day range, limit 50) x%d: p50 %.3f ms, p99 %.3f ms, "
      "max %.3f ms (avg %.1f rows/page)\n",
      label, opt.queries, pct(0.50), pct(0.99), latencies_ms.back(), static_cast<double>(rows_seen) / opt.queries);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rows" && i + 1 < argc) {
      opt.rows = std::strtol(argv[++i], nullptr, 10);
    } else if (a == "--queries" && i + 1 < argc) {
      opt.queries = static_cast<int>(std::strtol(argv[++i], nullptr, 10));
    } else if (a == "--dir" && i + 1 < argc) {
      opt.dir = argv[++i];
    } else if (a == "--only" && i + 1 < argc) {
      opt.only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: catalog_bench [--rows N] [--queries N] [--dir DIR] [--only sqlite|postgresql]\n");
      return 2;
    }
  }
  if (!opt.only.empty() && opt.only != "sqlite" && opt.only != "postgresql") {
    std::fprintf(stderr, "catalog_bench: --only takes sqlite or postgresql\n");
    return 2;
  }
  if (opt.rows < 1 || opt.rows > 100'000'000 || opt.queries < 1 || opt.queries > 1'000'000) {
    std::fprintf(stderr, "catalog_bench: --rows must be 1..100000000 and --queries 1..1000000\n");
    return 2;
  }
  try {
    if (opt.only != "postgresql") {
      const bool own_dir = opt.dir.empty();
      const auto dir =
          own_dir ? std::filesystem::temp_directory_path() / ("deskaudit-catalog-bench-" + std::to_string(::getpid()))
                  : opt.dir;
      const auto db = dir / "catalog.db";
      std::filesystem::create_directories(dir);
      std::filesystem::remove(db);
      {
        const std::string url = "sqlite://" + db.string();
        auto probe = make_catalog(url, 1);  // creates the file with its pragmas
        if (!probe) {
          std::fprintf(stderr, "sqlite: %s\n", probe.error().message.c_str());
          return 1;
        }
        soci::session raw(soci::sqlite3, "db=\"" + db.string() + "\" timeout=10");
        raw << "PRAGMA journal_mode=WAL";
        raw << "PRAGMA synchronous=NORMAL";
        // Random-order inserts into five indexes thrash SQLite's default 2 MiB
        // page cache; a bulk loader would use a large one.
        raw << "PRAGMA cache_size=-262144";
        run("sqlite", url, raw, true, opt);
      }
      if (own_dir) std::filesystem::remove_all(dir);
    }

    const char* pg = std::getenv("DESKAUDIT_TEST_POSTGRES_URL");
    if (opt.only != "sqlite" && (pg == nullptr || *pg == '\0')) {
      std::printf("postgresql skipped: DESKAUDIT_TEST_POSTGRES_URL not set\n");
    } else if (opt.only != "sqlite") {
      const std::string base(pg);
      const std::string schema = "catalog_bench_" + std::to_string(::getpid());
      const std::string url =
          base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema;
      soci::session raw(soci::postgresql, url);
      raw << "SET client_min_messages = warning";  // no NOTICE per dropped table
      raw << "CREATE SCHEMA " + schema;
      run("postgresql", url, raw, false, opt);
      raw << "DROP SCHEMA " + schema + " CASCADE";
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "catalog_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
