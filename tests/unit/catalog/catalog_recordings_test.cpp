// Conformance: recordings (filters, paging), segments, finishing, expiry.
#include <atomic>
#include <cstdio>
#include <set>
#include <thread>

#include "catalog_fixture.hpp"
#include "catalog_helpers.hpp"

namespace deskaudit::catalog::test {
namespace {

std::vector<std::string> ids_of(const std::vector<Recording>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(r.id);
  return out;
}

std::vector<std::string> list_ids(Catalog& c, const RecordingFilter& f) {
  auto page = c.list_recordings(f, Page{500, ""});
  EXPECT_TRUE(page) << page.error().message;
  if (!page) return {};
  auto count = c.count_recordings(f);
  EXPECT_TRUE(count);
  EXPECT_EQ(*count, static_cast<std::int64_t>(page->items.size()));
  return ids_of(page->items);
}

using Ids = std::vector<std::string>;

TEST_P(CatalogTest, RecordingFiltersAndOverlap) {
  CAT_OK(cat().create_pool(make_pool("pool-a", "Alpha")));
  CAT_OK(cat().create_pool(make_pool("pool-b", "Beta")));
  CAT_OK(cat().create_computer(make_computer("cc-1", "one", "pool-a")));
  CAT_OK(cat().create_computer(make_computer("cc-2", "two", "pool-b")));
  CAT_OK(cat().create_computer(make_computer("cc-3", "three")));
  // rec-1 [T0, T0+10m] alice cc-1; rec-2 [T0+20m, T0+30m] bob cc-2;
  // rec-3 open since T0+40m alice cc-3; rec-4 [T0+5m, T0+25m] bob cc-1.
  Recording r1 = make_recording("rec-1", "cc-1", "alice", kT0, kT0 + 10 * kMinute);
  r1.policy_id = "pol-1";
  CAT_OK(cat().create_recording(r1));
  CAT_OK(cat().create_recording(make_recording("rec-2", "cc-2", "bob", kT0 + 20 * kMinute, kT0 + 30 * kMinute)));
  CAT_OK(cat().create_recording(make_recording("rec-3", "cc-3", "alice", kT0 + 40 * kMinute)));
  Recording r4 = make_recording("rec-4", "cc-1", "bob", kT0 + 5 * kMinute, kT0 + 25 * kMinute);
  r4.status = RecordingStatus::interrupted;
  CAT_OK(cat().create_recording(r4));
  EXPECT_EQ(cat().create_recording(r4).error().code, Errc::conflict);

  auto got = cat().get_recording("rec-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->computer_name, "one");  // joined
  EXPECT_EQ(got->pool_id, "pool-a");
  EXPECT_EQ(got->end_time, kT0 + 10 * kMinute);
  EXPECT_EQ(cat().get_recording("rec-x").error().code, Errc::not_found);

  EXPECT_EQ(list_ids(cat(), {}), (Ids{"rec-3", "rec-2", "rec-4", "rec-1"}));
  EXPECT_EQ(list_ids(cat(), RF().computer_id("cc-1")), (Ids{"rec-4", "rec-1"}));
  EXPECT_EQ(list_ids(cat(), RF().pool_id("pool-b")), (Ids{"rec-2"}));
  EXPECT_EQ(list_ids(cat(), RF().policy_id("pol-1")), (Ids{"rec-1"}));
  EXPECT_EQ(list_ids(cat(), RF().username("alice")), (Ids{"rec-3", "rec-1"}));
  EXPECT_EQ(list_ids(cat(), RF().username("ali")), Ids{});  // exact match only
  EXPECT_EQ(list_ids(cat(), RF().status(RecordingStatus::interrupted)), (Ids{"rec-4"}));
  EXPECT_EQ(list_ids(cat(), RF().status(RecordingStatus::recording)), (Ids{"rec-3"}));

  // Overlap, inclusive at both edges.
  EXPECT_EQ(list_ids(cat(), RF().start_time(kT0 + 10 * kMinute).end_time(kT0 + 20 * kMinute)),
            (Ids{"rec-2", "rec-4", "rec-1"}));
  EXPECT_EQ(list_ids(cat(), RF().start_time(kT0 + 10 * kMinute + 1).end_time(kT0 + 20 * kMinute - 1)), (Ids{"rec-4"}));
  EXPECT_EQ(list_ids(cat(), RF().start_time(kT0 + 26 * kMinute)), (Ids{"rec-3", "rec-2"}));
  EXPECT_EQ(list_ids(cat(), RF().end_time(kT0 - 1)), Ids{});
  EXPECT_EQ(list_ids(cat(), RF().end_time(kT0)), (Ids{"rec-1"}));
  // An open recording overlaps any range reaching its start, however late.
  EXPECT_EQ(list_ids(cat(), RF().start_time(kT0 + 1000 * kDay)), (Ids{"rec-3"}));
  EXPECT_EQ(list_ids(cat(), RF().start_time(kT0 + 40 * kMinute).end_time(kT0 + 40 * kMinute)), (Ids{"rec-3"}));
  EXPECT_EQ(list_ids(cat(), RF().end_time(kT0 + 40 * kMinute - 1).status(RecordingStatus::recording)), Ids{});

  // Scope: listed computers or computers in listed pools.
  EXPECT_EQ(list_ids(cat(), RF().scope(Scope{{"cc-3"}, {"pool-b"}})), (Ids{"rec-3", "rec-2"}));
  EXPECT_EQ(list_ids(cat(), RF().scope(Scope{{}, {"pool-a"}})), (Ids{"rec-4", "rec-1"}));
  EXPECT_EQ(list_ids(cat(), RF().scope(Scope{})), Ids{});
  EXPECT_EQ(list_ids(cat(), RF().username("bob").scope(Scope{{}, {"pool-a"}})), (Ids{"rec-4"}));

  // A recording keeps the pool it was made in: moving its computer changes
  // neither the pool filter nor a scope's view of earlier recordings.
  CAT_OK(cat().set_computer_pool("cc-3", std::string("pool-b")));
  EXPECT_EQ(list_ids(cat(), RF().pool_id("pool-b")), (Ids{"rec-2"}));
  EXPECT_FALSE(cat().get_recording("rec-3")->pool_id);
  CAT_OK(cat().set_computer_pool("cc-1", std::string("pool-b")));
  EXPECT_EQ(list_ids(cat(), RF().scope(Scope{{}, {"pool-b"}})), (Ids{"rec-2"}));
  EXPECT_EQ(list_ids(cat(), RF().scope(Scope{{}, {"pool-a"}})), (Ids{"rec-4", "rec-1"}));
  EXPECT_EQ(cat().get_recording("rec-1")->pool_id, "pool-a");
  CAT_OK(cat().set_computer_pool("cc-2", std::nullopt));
  EXPECT_EQ(list_ids(cat(), RF().pool_id("pool-b")), (Ids{"rec-2"}));
  // Recordings made after the move belong to the new pool.
  CAT_OK(cat().create_recording(make_recording("rec-5", "cc-3", "carol", kT0 + 50 * kMinute)));
  EXPECT_EQ(cat().get_recording("rec-5")->pool_id, "pool-b");
  EXPECT_EQ(list_ids(cat(), RF().pool_id("pool-b")), (Ids{"rec-5", "rec-2"}));
  EXPECT_EQ(list_ids(cat(), RF().scope(Scope{{}, {"pool-b"}})), (Ids{"rec-5", "rec-2"}));

  // A deleted computer's recordings stay and keep its last name.
  CAT_OK(cat().update_computer(make_computer("cc-1", "one-renamed")));
  CAT_OK(cat().delete_computer("cc-1"));
  auto orphan = cat().get_recording("rec-1");
  ASSERT_TRUE(orphan);
  EXPECT_EQ(orphan->computer_name, "one-renamed");
  EXPECT_EQ(orphan->pool_id, "pool-a");
  EXPECT_EQ(list_ids(cat(), RF().computer_id("cc-1")), (Ids{"rec-4", "rec-1"}));
}

// Upgrading a catalog of schema 1: existing recordings take their
// computer's pool at upgrade time (the best record there is).
TEST_P(CatalogTest, MigrationTwoGivesExistingRecordingsTheirComputersPool) {
  CATALOG_SKIP_UNLESS_SQL();
  CAT_OK(cat().create_pool(make_pool("pool-a", "Alpha")));
  CAT_OK(cat().create_computer(make_computer("cc-1", "one", "pool-a")));
  CAT_OK(cat().create_computer(make_computer("cc-2", "two")));
  CAT_OK(cat().create_recording(make_recording("rec-1", "cc-1", "alice", kT0, kT0 + kMinute)));
  CAT_OK(cat().create_recording(make_recording("rec-2", "cc-2", "bob", kT0, kT0 + kMinute)));
  // Back to schema 1, as an older release left it.
  raw_sql("DROP INDEX recordings_pool");
  raw_sql("ALTER TABLE recordings DROP COLUMN pool_id");
  raw_sql("DELETE FROM schema_migrations WHERE version = 2");
  CAT_OK(cat().migrate());
  EXPECT_EQ(cat().get_recording("rec-1")->pool_id, "pool-a");
  EXPECT_FALSE(cat().get_recording("rec-2")->pool_id);
  EXPECT_EQ(list_ids(cat(), RF().pool_id("pool-a")), (Ids{"rec-1"}));
}

TEST_P(CatalogTest, PagingVisitsEveryRowOnceNewestFirstUnderInserts) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  constexpr int kRows = 1234;
  // Three recordings share each start time, so the id breaks ties.
  std::vector<std::pair<EpochMs, std::string>> expected;
  for (int i = 0; i < kRows; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "rec-%05d", (i * 7919) % 100000);
    const EpochMs start = kT0 + (i / 3) * kMinute;
    CAT_OK(cat().create_recording(make_recording(id, "cc-1", "u", start, start + 1000)));
    expected.emplace_back(start, id);
  }
  std::sort(expected.begin(), expected.end(), std::greater<>());

  std::vector<std::pair<EpochMs, std::string>> seen;
  Page page{50, ""};
  int pages = 0;
  for (;;) {
    auto got = cat().list_recordings({}, page);
    ASSERT_TRUE(got) << got.error().message;
    ASSERT_LE(got->items.size(), 50u);
    for (const auto& r : got->items) seen.emplace_back(r.start_time, r.id);
    ++pages;
    // Rows inserted between pages: newer ones (already passed) and older ones
    // (still ahead) must not disturb the original rows' walk.
    if (pages == 3) {
      CAT_OK(cat().create_recording(make_recording("rec-new-newest", "cc-1", "u", kT0 + 100000 * kMinute)));
      CAT_OK(cat().create_recording(make_recording("rec-new-oldest", "cc-1", "u", kT0 - kMinute)));
    }
    if (got->next_token.empty()) break;
    page.next_token = got->next_token;
    ASSERT_LT(pages, 100);
  }
  // Every original row once, in order; the older new row appears at the end.
  ASSERT_EQ(seen.size(), expected.size() + 1);
  EXPECT_EQ(seen.back().second, "rec-new-oldest");
  seen.pop_back();
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(pages, (kRows + 1 + 49) / 50);
  EXPECT_EQ(*cat().count_recordings({}), kRows + 2);
}

TEST_P(CatalogTest, PageTokensAreValidatedAndLimitsClamped) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  for (int i = 0; i < 3; ++i) {
    CAT_OK(cat().create_recording(make_recording("rec-" + std::to_string(i), "cc-1", "u", kT0 + i)));
  }
  for (const std::string bad :
       {"garbage", "r.", "r.MTIz", "r.!!!.AA", "r.YWJj.cmVj", "x.MTIz.cmVj", "r.MTIz.cmVj.eA"}) {
    auto res = cat().list_recordings({}, Page{10, bad});
    ASSERT_FALSE(res) << bad;
    EXPECT_EQ(res.error().code, Errc::invalid_argument) << bad;
  }
  // A token of one list is not accepted by another.
  CAT_OK(cat().create_pool(make_pool("pool-a", "A")));
  CAT_OK(cat().create_pool(make_pool("pool-b", "B")));
  auto pools = cat().list_pools("", std::nullopt, Page{1, ""});
  ASSERT_FALSE(pools->next_token.empty());
  EXPECT_EQ(cat().list_recordings({}, Page{10, pools->next_token}).error().code, Errc::invalid_argument);
  EXPECT_EQ(cat().list_computers({}, Page{10, pools->next_token}).error().code, Errc::invalid_argument);
  EXPECT_EQ(cat().list_audit({}, Page{10, "a.x"}).error().code, Errc::invalid_argument);

  auto one = cat().list_recordings({}, Page{0, ""});
  ASSERT_TRUE(one);
  EXPECT_EQ(one->items.size(), 1u);
  auto negative = cat().list_recordings({}, Page{-5, ""});
  EXPECT_EQ(negative->items.size(), 1u);
  auto big = cat().list_recordings({}, Page{100000, ""});
  EXPECT_EQ(big->items.size(), 3u);
  EXPECT_TRUE(big->next_token.empty());
}

TEST_P(CatalogTest, LimitIsClampedTo500) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  for (int i = 0; i < 510; ++i) {
    CAT_OK(cat().create_recording(make_recording("rec-" + std::to_string(i), "cc-1", "u", kT0 + i)));
  }
  auto page = cat().list_recordings({}, Page{10000, ""});
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items.size(), 500u);
  EXPECT_FALSE(page->next_token.empty());
}

TEST_P(CatalogTest, SegmentsAreIdempotentAndUpdateTotals) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  CAT_OK(cat().create_recording(make_recording("rec-1", "cc-1", "alice", kT0)));
  const auto seg = [](std::int64_t seq, std::string_view content) {
    return Segment{"rec-1",
                   seq,
                   "rec-1/" + std::to_string(seq) + ".mp4",
                   1000 + seq,
                   sha_of(content),
                   seq * 60000,
                   60000,
                   R"({"fragments":[]})",
                   kT0 + seq,
                   std::nullopt};
  };
  auto first = cat().add_segment(seg(0, "a"));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, SegmentOutcome::inserted);
  EXPECT_EQ(*cat().add_segment(seg(0, "a")), SegmentOutcome::already_present);
  auto clash = cat().add_segment(seg(0, "b"));
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, Errc::conflict);
  EXPECT_EQ(*cat().add_segment(seg(2, "c")), SegmentOutcome::inserted);
  EXPECT_EQ(*cat().add_segment(seg(1, "d")), SegmentOutcome::inserted);

  auto r = cat().get_recording("rec-1");
  EXPECT_EQ(r->segment_count, 3);
  EXPECT_EQ(r->size_bytes, 1000 + 1001 + 1002);
  EXPECT_EQ(r->duration_ms, 180000);

  auto list = cat().list_segments("rec-1");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].seq, 0);
  EXPECT_EQ((*list)[2].seq, 2);
  EXPECT_EQ((*list)[1].sha256, sha_of("d"));
  auto one = cat().get_segment("rec-1", 2);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->object_key, "rec-1/2.mp4");
  EXPECT_EQ(one->index_json, R"({"fragments":[]})");
  EXPECT_EQ(one->start_offset_ms, 120000);
  EXPECT_EQ(cat().get_segment("rec-1", 9).error().code, Errc::not_found);

  Segment orphan = seg(0, "a");
  orphan.recording_id = "rec-x";
  EXPECT_EQ(cat().add_segment(orphan).error().code, Errc::not_found);
  Segment bad_hash = seg(5, "a");
  bad_hash.sha256 = "ABC";
  EXPECT_EQ(cat().add_segment(bad_hash).error().code, Errc::invalid_argument);
  EXPECT_EQ(cat().add_segment(seg(-1, "a")).error().code, Errc::invalid_argument);
}

TEST_P(CatalogTest, ConcurrentSameSegmentInsertsCountOnce) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  CAT_OK(cat().create_recording(make_recording("rec-1", "cc-1", "alice", kT0)));
  std::atomic<int> inserted{0}, present{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int seq = 0; seq < 10; ++seq) {
        auto r = cat().add_segment(Segment{"rec-1", seq, "k", 10, sha_of(std::to_string(seq)), 0, 5, "{}", kT0, std::nullopt});
        if (!r) {
          ++failed;
        } else if (*r == SegmentOutcome::inserted) {
          ++inserted;
        } else {
          ++present;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(inserted.load(), 10);
  EXPECT_EQ(present.load(), 50);
  auto r = cat().get_recording("rec-1");
  EXPECT_EQ(r->segment_count, 10);
  EXPECT_EQ(r->size_bytes, 100);
}

TEST_P(CatalogTest, FinishRecordingSetsExpiryOnce) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  Recording r = make_recording("rec-1", "cc-1", "alice", kT0);
  r.retention_days = 7;
  CAT_OK(cat().create_recording(r));
  EXPECT_EQ(cat().finish_recording("rec-1", kT0 - 1, RecordingStatus::complete).error().code, Errc::invalid_argument);
  EXPECT_EQ(cat().finish_recording("rec-1", kT0 + 1, RecordingStatus::recording).error().code, Errc::invalid_argument);
  auto done = cat().finish_recording("rec-1", kT0 + kMinute, RecordingStatus::complete);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->end_time, kT0 + kMinute);
  EXPECT_EQ(done->status, RecordingStatus::complete);
  EXPECT_EQ(done->expires_at, kT0 + kMinute + 7 * kDay);
  auto retry = cat().finish_recording("rec-1", kT0 + kMinute, RecordingStatus::complete);
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->expires_at, done->expires_at);
  auto clash = cat().finish_recording("rec-1", kT0 + 2 * kMinute, RecordingStatus::interrupted);
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, Errc::conflict);
  EXPECT_EQ(cat().finish_recording("rec-x", kT0, RecordingStatus::complete).error().code, Errc::not_found);
}

TEST_P(CatalogTest, ConcurrentFinishesWithDifferentEndsHaveOneWinner) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  CAT_OK(cat().create_recording(make_recording("rec-1", "cc-1", "alice", kT0)));
  std::atomic<int> ok{0}, conflicts{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto r = cat().finish_recording("rec-1", kT0 + (t + 1) * kMinute, RecordingStatus::complete);
      if (r) {
        ++ok;
      } else if (r.error().code == Errc::conflict) {
        ++conflicts;
      } else {
        ++other;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(conflicts.load(), 7);
  EXPECT_EQ(other.load(), 0);
  auto r = cat().get_recording("rec-1");
  ASSERT_TRUE(r->end_time);
  EXPECT_EQ(r->expires_at, *r->end_time + 30 * kDay);
}

TEST_P(CatalogTest, ExpiredRecordingsRespectLegalHoldAndDeletion) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  for (int i = 0; i < 4; ++i) {
    Recording r = make_recording("rec-" + std::to_string(i), "cc-1", "u", kT0 + i * kMinute);
    r.retention_days = 1;
    CAT_OK(cat().create_recording(r));
    // rec-3 finishes first, so it expires first.
    CAT_OK(cat().finish_recording(r.id, kT0 + (i == 3 ? 4 : 10 + i) * kMinute, RecordingStatus::complete));
  }
  CAT_OK(cat().create_recording(make_recording("rec-open", "cc-1", "u", kT0)));
  CAT_OK(cat().add_segment(Segment{"rec-0", 0, "k0", 5, sha_of("x"), 0, 1, "{}", kT0, std::nullopt}));
  CAT_OK(cat().set_legal_hold("rec-1", true));
  EXPECT_EQ(cat().set_legal_hold("rec-x", true).error().code, Errc::not_found);
  EXPECT_TRUE(cat().get_recording("rec-1")->legal_hold);

  EXPECT_TRUE(cat().list_expired_recordings(kT0 + kDay, 10)->empty());
  auto expired = cat().list_expired_recordings(kT0 + kDay + 12 * kMinute, 10);
  ASSERT_TRUE(expired);
  EXPECT_EQ(ids_of(*expired), (Ids{"rec-3", "rec-0", "rec-2"}));
  EXPECT_EQ(ids_of(*cat().list_expired_recordings(kT0 + kDay + 12 * kMinute, 1)), (Ids{"rec-3"}));
  CAT_OK(cat().set_legal_hold("rec-1", false));
  EXPECT_EQ(cat().list_expired_recordings(kT0 + kDay + 12 * kMinute, 10)->size(), 4u);

  CAT_OK(cat().delete_recording("rec-0"));
  CAT_OK(cat().delete_recording("rec-0"));  // idempotent
  EXPECT_EQ(cat().get_recording("rec-0").error().code, Errc::not_found);
  EXPECT_TRUE(cat().list_segments("rec-0")->empty());
  EXPECT_EQ(cat().get_segment("rec-0", 0).error().code, Errc::not_found);
}

}  // namespace
}  // namespace deskaudit::catalog::test
