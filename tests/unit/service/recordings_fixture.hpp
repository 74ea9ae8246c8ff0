#pragma once
// What the recording and media service tests share: the services over the
// in-memory fakes, two pools with a computer each, recordings with real
// segment files (made by ffmpeg) stored where the server stores them, and
// callers with the built-in roles, scoped or not.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/permissions.hpp"
#include "common/crypto.hpp"
#include "media/fmp4.hpp"
#include "memory_catalog.hpp"
#include "memory_object_store.hpp"
#include "sample_media.hpp"
#include "service/audit_log.hpp"
#include "service/media_service.hpp"
#include "service/recording_service.hpp"
#include "storage/layout.hpp"

namespace deskaudit::service::test {

inline constexpr EpochMs kT0 = 1'790'000'000'000;
inline constexpr EpochMs kDayMs = 86'400'000;

// The fake store with a hook that runs once right after the next list(): a
// segment upload or a legal hold landing while a deletion is under way.
class HookedStore final : public storage::ObjectStore {
 public:
  explicit HookedStore(storage::ObjectStore& inner) : inner_(inner) {}
  std::function<void()> after_next_list;
  bool authenticated_reads = false;  // as an encrypting store's sealed objects

  Status put_file(std::string_view key, const std::filesystem::path& source) override {
    return inner_.put_file(key, source);
  }
  Status put_bytes(std::string_view key, std::span<const std::byte> data) override {
    return inner_.put_bytes(key, data);
  }
  Result<std::uint64_t> read(std::string_view key, storage::ByteRange range, const storage::ByteSink& sink) override {
    return inner_.read(key, range, sink);
  }
  Result<bool> reads_authenticated(std::string_view) override { return authenticated_reads; }
  Result<std::optional<storage::ObjectInfo>> head(std::string_view key) override { return inner_.head(key); }
  Status remove(std::string_view key) override { return inner_.remove(key); }
  Result<std::vector<storage::ObjectInfo>> list(std::string_view prefix) override {
    auto out = inner_.list(prefix);
    if (auto hook = std::exchange(after_next_list, nullptr)) hook();
    return out;
  }
  std::string describe() const override { return inner_.describe(); }

 private:
  storage::ObjectStore& inner_;
};

inline const std::vector<std::string>& sample_segments() {
  static const auto segs = deskaudit::testing::make_segments(3, 6);
  return segs;
}

inline Caller admin_caller(const std::string& name, const std::string& role,
                           const std::optional<std::string>& pool = std::nullopt) {
  catalog::RoleGrant g{"usr-" + name, role, std::nullopt, pool};
  if (pool) g.scope_type = catalog::TargetType::pool;
  return Caller{name, "usr-" + name, "", auth::Grants({g}, auth::builtin_roles())};
}

inline Status put_text(storage::ObjectStore& store, const std::string& key, const std::string& bytes) {
  return store.put_bytes(key, std::as_bytes(std::span(bytes.data(), bytes.size())));
}

class RecordingsTest : public ::testing::Test {
 protected:
  RecordingsTest() {
    EXPECT_TRUE(catalog.create_pool({"pool-a", "Pool A", "", kT0}));
    EXPECT_TRUE(catalog.create_pool({"pool-b", "Pool B", "", kT0}));
    catalog::Computer a;
    a.id = "cc-a";
    a.name = "desk-a";
    a.pool_id = "pool-a";
    EXPECT_TRUE(catalog.create_computer(a));
    catalog::Computer b = a;
    b.id = "cc-b";
    b.name = "desk-b";
    b.pool_id = "pool-b";
    EXPECT_TRUE(catalog.create_computer(b));
  }

  // A recording on `computer` with `segments` real segment files stored.
  // finished_at: finish it then (expiry = then + retention_days).
  catalog::Recording add_recording(const std::string& id, const std::string& computer, int segments,
                                   std::optional<EpochMs> finished_at = std::nullopt, int retention_days = 30) {
    catalog::Recording r;
    r.id = id;
    r.computer_id = computer;
    r.username = "alice";
    r.start_time = kT0;
    r.retention_days = retention_days;
    r.created_at = kT0;
    EXPECT_TRUE(catalog.create_recording(r));
    for (int i = 0; i < segments; ++i) {
      const auto& bytes = sample_segments().at(static_cast<std::size_t>(i));
      auto index = media::index_segment(std::as_bytes(std::span(bytes.data(), bytes.size())));
      EXPECT_TRUE(index) << index.error().message;
      catalog::Segment seg;
      seg.recording_id = id;
      seg.seq = i;
      seg.sha256 = sha256_hex(bytes);
      seg.object_key = storage::segment_key(computer, id, i, seg.sha256).value();
      seg.size_bytes = static_cast<std::int64_t>(bytes.size());
      seg.start_offset_ms = index->start_ms();
      seg.duration_ms = index->duration_ms();
      seg.index_json = media::to_json(*index).dump();
      seg.created_at = kT0;
      EXPECT_TRUE(put_text(memory_store, seg.object_key, bytes));
      EXPECT_TRUE(catalog.add_segment(seg));
    }
    if (finished_at) {
      auto f = catalog.finish_recording(id, *finished_at, catalog::RecordingStatus::complete);
      EXPECT_TRUE(f) << f.error().message;
    }
    return catalog.get_recording(id).value();
  }

  std::vector<storage::ObjectInfo> objects_of(const std::string& computer, const std::string& id) {
    return memory_store.list(storage::recording_prefix(computer, id).value()).value();
  }

  std::vector<catalog::AuditEntry> audit_entries(const std::string& action) {
    std::vector<catalog::AuditEntry> out;
    auto all = catalog.audit_after(0, 1000).value();
    for (auto& e : all) {
      if (e.action == action) out.push_back(std::move(e));
    }
    return out;
  }

  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(kT0);
  deskaudit::testing::MemoryCatalog catalog;
  deskaudit::testing::MemoryObjectStore memory_store;
  HookedStore store{memory_store};
  AuditLog audit{catalog, clock};
  RecordingService recordings{catalog, store, audit, clock};
  MediaService media{catalog, store, audit, clock, recordings};

  const Caller admin = admin_caller("root", "administrator");
  const Caller auditor_a = admin_caller("ann", "auditor", "pool-a");
  const Caller admin_a = admin_caller("abe", "administrator", "pool-a");
};

}  // namespace deskaudit::service::test
