// deskaudit-migrate: catalog copy row for row and object copy with size
// checks and restart. SQLite -> SQLite and local -> local always;
// SQLite -> PostgreSQL and local -> S3 when the test services are set.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "catalog/catalog.hpp"
#include "catalog/copy.hpp"
#include "common/time.hpp"
#include "keys/key_service.hpp"
#include "migrate/migrate.hpp"
#include "scratch_schema.hpp"
#include "service/audit_log.hpp"
#include "service/audit_signer.hpp"
#include "storage/encrypted_store.hpp"
#include "storage/layout.hpp"
#include "storage/object_store.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;

namespace {

constexpr EpochMs kT0 = 1'790'000'000'000;
const std::string kSha(64, 'a');

// Where the server stores a segment (the migration copies every object as it is).
std::string key_of(const std::string& computer_id, const std::string& recording_id, std::int64_t seq = 0) {
  return storage::segment_key(computer_id, recording_id, seq, kSha).value();
}

class TempPath {
 public:
  TempPath() : path_(std::filesystem::temp_directory_path() / unique_name("deskaudit-migrate-test")) {
    std::filesystem::create_directories(path_);
  }
  ~TempPath() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

#define OK(expr)                                                            \
  do {                                                                      \
    auto ok_result_ = (expr);                                               \
    ASSERT_TRUE(ok_result_) << #expr << ": " << ok_result_.error().message; \
  } while (0)

std::unique_ptr<catalog::Catalog> open_migrated(const std::string& url) {
  auto c = catalog::make_catalog(url, 2);
  if (!c) throw std::runtime_error(c.error().message);
  if (auto st = (*c)->migrate(); !st) throw std::runtime_error(st.error().message);
  return std::move(*c);
}

// A source catalog with rows in most tables, NULLs included.
void fill(catalog::Catalog& c, int recordings) {
  OK(c.create_pool(catalog::Pool{"pool-1", "Finance", "desc", kT0}));
  catalog::Computer pc;
  pc.id = "cmp-1";
  pc.name = "desk-1";
  pc.hostname = "desk-1.example";
  pc.os = "Debian 12";
  pc.pool_id = "pool-1";
  pc.created_at = kT0;
  OK(c.create_computer(pc));
  catalog::Computer other = pc;
  other.id = "cmp-2";
  other.name = "desk-2";
  other.pool_id.reset();  // NULL
  OK(c.create_computer(other));
  catalog::Policy p;
  p.id = "pol-1";
  p.name = "all";
  p.recording.mode = catalog::RecordingMode::session;
  p.recording.fps = 10;
  p.recording.retention_days = 30;
  p.created_at = kT0;
  p.updated_at = kT0;
  OK(c.create_policy(p));
  OK(c.assign_policy(catalog::Assignment{"pol-1", catalog::TargetType::pool, "pool-1"}));
  for (int i = 0; i < recordings; ++i) {
    catalog::Recording r;
    r.id = "rec-" + std::to_string(i);
    r.computer_id = "cmp-1";
    r.username = "alice";
    r.start_time = kT0 + i;
    r.status = catalog::RecordingStatus::recording;
    r.retention_days = 30;
    r.created_at = kT0 + i;
    OK(c.create_recording(r));
    for (int s = 0; s < 3; ++s) {
      catalog::Segment seg;
      seg.recording_id = r.id;
      seg.seq = s;
      seg.object_key = key_of("cmp-1", r.id, s);
      seg.size_bytes = 1000 + s;
      seg.sha256 = kSha;
      seg.start_offset_ms = s * 2000;
      seg.duration_ms = 2000;
      seg.created_at = kT0 + s;
      auto added = c.add_segment(seg);
      ASSERT_TRUE(added) << added.error().message;
    }
  }
  for (int i = 0; i < 5; ++i) {
    catalog::AuditEntry e;
    e.time = kT0 + i;
    e.actor = "system";
    e.action = "test.entry";
    e.target = std::to_string(i);
    auto appended = c.append_audit(e);
    ASSERT_TRUE(appended) << appended.error().message;
  }
  auto lease = c.acquire_lease("retention-sweeper", "old-replica", kT0, 60'000);
  ASSERT_TRUE(lease && *lease);
}

void expect_same(catalog::Catalog& from, catalog::Catalog& to, int recordings) {
  EXPECT_EQ(to.get_pool("pool-1").value().name, "Finance");
  EXPECT_EQ(to.get_computer("cmp-1").value().pool_id, std::optional<std::string>("pool-1"));
  EXPECT_FALSE(to.get_computer("cmp-2").value().pool_id.has_value());
  EXPECT_EQ(to.effective_policy("cmp-1").value().policy.value().id, "pol-1");
  EXPECT_EQ(to.effective_policy("cmp-1").value().source, from.effective_policy("cmp-1").value().source);
  EXPECT_EQ(to.count_recordings({}).value(), recordings);
  for (int i = 0; i < recordings; ++i) {
    const auto id = "rec-" + std::to_string(i);
    const auto a = from.list_segments(id).value();
    const auto b = to.list_segments(id).value();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t s = 0; s < a.size(); ++s) {
      EXPECT_EQ(a[s].object_key, b[s].object_key);
      EXPECT_EQ(a[s].size_bytes, b[s].size_bytes);
    }
    EXPECT_EQ(to.get_recording(id).value().size_bytes, from.get_recording(id).value().size_bytes);
  }
  const auto audit_a = from.audit_after(0, 100).value();
  const auto audit_b = to.audit_after(0, 100).value();
  ASSERT_EQ(audit_a.size(), audit_b.size());
  for (std::size_t i = 0; i < audit_a.size(); ++i) {
    EXPECT_EQ(audit_a[i].hash, audit_b[i].hash);
    EXPECT_EQ(catalog::audit_entry_hash(audit_b[i]), audit_b[i].hash);  // the chain still verifies
  }
  // The chain continues on the target.
  catalog::AuditEntry next;
  next.time = kT0 + 100;
  next.actor = "system";
  next.action = "test.after-copy";
  next.target = "x";
  auto appended = to.append_audit(next);
  ASSERT_TRUE(appended) << appended.error().message;
  EXPECT_EQ(appended->prev_hash, audit_a.back().hash);
  // Leases belong to the source's replicas and are not copied.
  auto lease = to.acquire_lease("retention-sweeper", "new-replica", kT0, 60'000);
  ASSERT_TRUE(lease);
  EXPECT_TRUE(*lease);
}

void check_copy(const std::string& from_url, const std::string& to_url) {
  constexpr int kRecordings = 250;  // segments span several INSERT batches
  auto from = open_migrated(from_url);
  fill(*from, kRecordings);
  int tables_seen = 0;
  catalog::CopyOptions options;
  options.batch_rows = 100;
  options.on_table = [&](const catalog::TableCopied&) { ++tables_seen; };
  auto report = catalog::copy_catalog(from_url, to_url, options);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(tables_seen, static_cast<int>(catalog::copied_tables().size()));
  std::int64_t segments = -1;
  for (const auto& t : report->tables) {
    if (t.table == "segments") segments = t.rows;
  }
  EXPECT_EQ(segments, kRecordings * 3);
  auto to = open_migrated(to_url);
  expect_same(*from, *to, kRecordings);

  // A second copy into the now non-empty target is refused, naming the table.
  auto again = catalog::copy_catalog(from_url, to_url);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::conflict);
  EXPECT_NE(again.error().message.find("not empty"), std::string::npos) << again.error().message;
  EXPECT_NE(again.error().message.find("pools"), std::string::npos) << again.error().message;
}

TEST(CopyCatalog, SqliteToSqliteCopiesEveryRowAndRefusesANonEmptyTarget) {
  TempPath dir;
  check_copy("sqlite://" + (dir.path() / "a.db").string(), "sqlite://" + (dir.path() / "b.db").string());
}

TEST(CopyCatalog, SqliteToPostgresql) {
  DESKAUDIT_REQUIRE_SERVICE("DESKAUDIT_TEST_POSTGRES_URL", "scripts/pg-test-server start");
  TempPath dir;
  ScratchSchema schema(*service_env("DESKAUDIT_TEST_POSTGRES_URL"), "migrate_test");
  check_copy("sqlite://" + (dir.path() / "a.db").string(), schema.url());
}

TEST(CopyCatalog, RejectsBadArguments) {
  TempPath dir;
  const auto url = "sqlite://" + (dir.path() / "a.db").string();
  open_migrated(url);
  auto same = catalog::copy_catalog(url, url);
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().code, Errc::invalid_argument);
  auto scheme = catalog::copy_catalog(url, "mysql://host/db");
  ASSERT_FALSE(scheme);
  EXPECT_EQ(scheme.error().code, Errc::invalid_argument);
  auto missing = catalog::copy_catalog("sqlite://" + (dir.path() / "typo.db").string(), url);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos) << missing.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "typo.db"));
  catalog::CopyOptions bad;
  bad.batch_rows = 0;
  EXPECT_FALSE(catalog::copy_catalog(url, "sqlite://" + (dir.path() / "b.db").string(), bad));
}

std::string bytes_of(storage::ObjectStore& store, const std::string& key) {
  std::string out;
  auto r = store.read(key, {}, [&](std::span<const std::byte> b) {
    out.append(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  });
  if (!r) throw std::runtime_error(r.error().message);
  return out;
}

void put(storage::ObjectStore& store, const std::string& key, const std::string& data) {
  auto st = store.put_bytes(key, std::as_bytes(std::span(data.data(), data.size())));
  if (!st) throw std::runtime_error(st.error().message);
}

void check_objects(storage::ObjectStore& from, storage::ObjectStore& to) {
  std::map<std::string, std::string> objects;
  for (int i = 0; i < 7; ++i) {
    objects[key_of("cmp-1", "rec-" + std::to_string(i))] =
        std::string(static_cast<std::size_t>(1000 * i + 1), static_cast<char>('a' + i));
  }
  objects[key_of("cmp-2", "rec-big")] = std::string(3u << 20, 'z');  // several read chunks
  for (const auto& [k, v] : objects) put(from, k, v);
  // A leftover of an earlier, interrupted run: same key and size (skipped),
  // and one with a wrong size (copied again).
  put(to, key_of("cmp-1", "rec-1"), objects[key_of("cmp-1", "rec-1")]);
  put(to, key_of("cmp-1", "rec-2"), "truncated");

  std::vector<std::string> lines;
  auto report = migrate::copy_objects(from, to, [&](std::string_view l) { lines.emplace_back(l); });
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->copied, static_cast<std::int64_t>(objects.size()) - 1);
  EXPECT_EQ(report->skipped, 1);
  EXPECT_FALSE(lines.empty());
  for (const auto& [k, v] : objects) EXPECT_EQ(bytes_of(to, k), v) << k;

  auto rerun = migrate::copy_objects(from, to);
  ASSERT_TRUE(rerun) << rerun.error().message;
  EXPECT_EQ(rerun->copied, 0);
  EXPECT_EQ(rerun->skipped, static_cast<std::int64_t>(objects.size()));
}

TEST(CopyObjects, LocalToLocalCopiesVerifiesAndRestarts) {
  TempPath dir;
  auto from = storage::make_object_store("file://" + (dir.path() / "from").string());
  auto to = storage::make_object_store("file://" + (dir.path() / "to").string());
  ASSERT_TRUE(from && to);
  check_objects(**from, **to);
}

storage::S3Options test_s3() {
  storage::S3Options s3;
  s3.endpoint = service_env("DESKAUDIT_TEST_S3_ENDPOINT").value_or("");
  s3.access_key_id = "S3RVER";
  s3.secret_access_key = "S3RVER";
  return s3;
}

TEST(CopyObjects, LocalToS3) {
  DESKAUDIT_REQUIRE_SERVICE("DESKAUDIT_TEST_S3_ENDPOINT", "scripts/s3-test-server start");
  TempPath dir;
  auto from = storage::make_object_store("file://" + (dir.path() / "from").string());
  auto to = storage::make_object_store("s3://deskaudit-test/" + unique_name("migrate"), test_s3());
  ASSERT_TRUE(from) << from.error().message;
  ASSERT_TRUE(to) << to.error().message;
  check_objects(**from, **to);
}

TEST(MigrateCli, FromDataDirRunsBothStepsAndNamesWhatToFix) {
  TempPath dir;
  const auto data = dir.path() / "data";
  {
    auto c = open_migrated("sqlite://" + (data / "catalog.db").string());
    fill(*c, 3);
  }
  auto store = storage::make_object_store("file://" + (data / "objects").string());
  ASSERT_TRUE(store);
  put(**store, key_of("cmp-1", "rec-0"), "segment bytes");
  const auto to_catalog = "sqlite://" + (dir.path() / "new.db").string();
  const auto to_store = "file://" + (dir.path() / "new-objects").string();

  auto parsed = migrate::parse_args(
      {"deskaudit-migrate", "--from-data-dir", data.string(), "--to-catalog", to_catalog, "--to-store", to_store});
  ASSERT_TRUE(parsed) << parsed.error().message;
  auto report = migrate::run_migration(parsed->options);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->objects.copied, 1);
  EXPECT_GT(report->catalog_rows, 9);
  auto target = storage::make_object_store(to_store);
  EXPECT_EQ(bytes_of(**target, key_of("cmp-1", "rec-0")), "segment bytes");

  // Running again: the catalog step refuses and says how to finish.
  auto again = migrate::run_migration(parsed->options);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("--objects-only"), std::string::npos) << again.error().message;
  auto objects_only = parsed->options;
  objects_only.skip_catalog = true;
  auto finished = migrate::run_migration(objects_only);
  ASSERT_TRUE(finished) << finished.error().message;
  EXPECT_EQ(finished->objects.skipped, 1);

  // Usage errors name the flag.
  EXPECT_EQ(migrate::run_cli({"deskaudit-migrate", "--to-catalog", to_catalog}), 2);
  auto no_dir = migrate::parse_args({"deskaudit-migrate", "--from-data-dir", (dir.path() / "nope").string(),
                                     "--to-catalog", to_catalog, "--to-store", to_store});
  ASSERT_FALSE(no_dir);
  EXPECT_NE(no_dir.error().message.find("not a directory"), std::string::npos);
  auto both = migrate::parse_args({"deskaudit-migrate", "--from-data-dir", data.string(), "--from-store", to_store,
                                   "--to-catalog", to_catalog, "--to-store", to_store});
  ASSERT_FALSE(both);
  auto same_store = migrate::run_migration([&] {
    auto o = parsed->options;
    o.to_store = o.from_store;
    return o;
  }());
  ASSERT_FALSE(same_store);
  EXPECT_NE(same_store.error().message.find("same"), std::string::npos);
}

}  // namespace

namespace {

// --encrypt-in-place and --rotate-master-key on one store (docs/encryption.md).
TEST(MigrateCli, EncryptInPlaceThenRotateTheMasterKey) {
  TempPath dir;
  const auto store_url = "file://" + (dir.path() / "objects").string();
  auto raw = storage::make_object_store(store_url);
  ASSERT_TRUE(raw);
  for (int r = 0; r < 3; ++r) put(**raw, key_of("cmp-e", "rec-" + std::to_string(r)), "ftyp moof mdat " + std::to_string(r));
  const auto write_keys = [&](const std::string& name, const std::string& text) {
    const auto p = dir.path() / name;
    std::ofstream(p) << text;
    std::filesystem::permissions(p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return p.string();
  };
  const auto a = storage::LocalMasterKeys::generate_line();
  const auto b = storage::LocalMasterKeys::generate_line();
  const auto key_a = write_keys("a.key", a);

  auto parsed = migrate::parse_args(
      {"deskaudit-migrate", "--encrypt-in-place", "--store", store_url, "--encryption-key-file", key_a});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->mode, migrate::Mode::encrypt_in_place);
  auto done = migrate::run_encryption_maintenance(*parsed, "");
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_NE(done->find("3 objects encrypted"), std::string::npos) << *done;
  EXPECT_EQ(migrate::run_cli({"deskaudit-migrate", "--encrypt-in-place", "--store", store_url,
                              "--encryption-key-file", key_a}),
            0);  // a rerun finds nothing left to do
  for (int r = 0; r < 3; ++r) {
    // The whole plaintext (16 bytes), not a 4-byte box name that ciphertext
    // can hold by chance.
    EXPECT_EQ(bytes_of(**raw, key_of("cmp-e", "rec-" + std::to_string(r))).find("ftyp moof mdat " + std::to_string(r)),
              std::string::npos);
  }

  // The servers' catalog and audit signer: the rotation lands in their audit
  // chain, which still verifies once their next checkpoint covers it.
  const auto catalog_url = "sqlite://" + (dir.path() / "catalog.db").string();
  auto catalog = open_migrated(catalog_url);
  auto clock = std::make_shared<SystemClock>();
  auto signing = keys::KeyService::open({dir.path() / "signing.key", dir.path() / "trusted-keys", ""});
  ASSERT_TRUE(signing) << signing.error().message;
  auto signer =
      service::AuditSigner::create(*catalog, **signing, 1000, "replica-1", dir.path() / "audit-witness.json", clock);
  ASSERT_TRUE(signer) << signer.error().message;
  service::AuditLog server_log(*catalog, clock);
  server_log.record_as("system", "user.create", "admin");
  ASSERT_TRUE((*signer)->sign_head(audit::kCheckpointEvery));

  const auto key_ba = write_keys("ba.key", b + a);
  const auto a_id = storage::load_master_keys({}, a).value()->current_key_id();
  const auto b_id = storage::load_master_keys({}, b).value()->current_key_id();
  auto no_catalog = migrate::parse_args(
      {"deskaudit-migrate", "--rotate-master-key", "--store", store_url, "--encryption-key-file", key_ba});
  ASSERT_FALSE(no_catalog);
  EXPECT_NE(no_catalog.error().message.find("--catalog"), std::string::npos) << no_catalog.error().message;
  auto rotate = migrate::parse_args({"deskaudit-migrate", "--rotate-master-key", "--store", store_url,
                                     "--encryption-key-file", key_ba, "--catalog", catalog_url});
  ASSERT_TRUE(rotate) << rotate.error().message;
  auto rotated = migrate::run_encryption_maintenance(*rotate, "");
  ASSERT_TRUE(rotated) << rotated.error().message;
  EXPECT_NE(rotated->find("3 data keys rewrapped"), std::string::npos) << *rotated;
  auto entries = catalog->audit_after(0, 100);
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 2u);
  const auto& entry = entries->back();
  EXPECT_EQ(entry.actor, "deskaudit-migrate");
  EXPECT_EQ(entry.action, "encryption.master_key_rotate");
  EXPECT_EQ(entry.target, b_id);
  const auto details = nlohmann::json::parse(entry.details_json);
  EXPECT_EQ(details["old_key_ids"], nlohmann::json::array({a_id}));
  EXPECT_EQ(details["new_key_id"], b_id);
  EXPECT_EQ(details["rewrapped"], 3);
  auto before = (*signer)->verify();
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_TRUE(before->ok) << before->reason;
  EXPECT_EQ(before->unsigned_entries, 1);
  ASSERT_TRUE((*signer)->sign_head(audit::kCheckpointEvery));
  auto after = (*signer)->verify();
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_TRUE(after->ok) << after->reason;
  EXPECT_EQ(after->signed_through, entry.seq);
  EXPECT_EQ(after->unsigned_entries, 0);
  // Afterwards the new key alone reads everything, given through the environment.
  auto encrypted = storage::EncryptedObjectStore::open(storage::make_object_store(store_url).value(),
                                                       storage::load_master_keys({}, b).value(), {});
  ASSERT_TRUE(encrypted);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(bytes_of(**encrypted, key_of("cmp-e", "rec-" + std::to_string(r))), "ftyp moof mdat " + std::to_string(r));
  }

  // Usage errors name what to fix.
  auto no_store = migrate::parse_args({"deskaudit-migrate", "--encrypt-in-place"});
  ASSERT_FALSE(no_store);
  EXPECT_NE(no_store.error().message.find("--store"), std::string::npos);
  EXPECT_FALSE(migrate::parse_args({"deskaudit-migrate", "--encrypt-in-place", "--rotate-master-key", "--store", store_url}));
  EXPECT_FALSE(migrate::parse_args(
      {"deskaudit-migrate", "--encrypt-in-place", "--store", store_url, "--to-store", store_url}));
  auto keyless = *parsed;
  keyless.encryption_key_file.clear();
  auto no_key = migrate::run_encryption_maintenance(keyless, "");
  ASSERT_FALSE(no_key);
  EXPECT_NE(no_key.error().message.find("DESKAUDIT_ENCRYPTION_KEY"), std::string::npos) << no_key.error().message;
}

}  // namespace
