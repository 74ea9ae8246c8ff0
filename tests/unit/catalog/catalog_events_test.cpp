// Conformance: activity events (documents, idempotency, the rows a
// recording lists and the search across recordings, the recordings' event
// filters with first_match_ms, deletion).
#include <set>

#include "catalog_fixture.hpp"
#include "catalog_helpers.hpp"

namespace deskaudit::catalog::test {
namespace {

events::Event ev(std::int64_t t_ms, std::string type) {
  events::Event e;
  e.t_ms = t_ms;
  e.type = std::move(type);
  return e;
}

events::Event window(std::int64_t t_ms, std::string title, std::string app, std::string process = "proc") {
  events::Event e = ev(t_ms, "window");
  e.title = std::move(title);
  e.app = std::move(app);
  e.process = std::move(process);
  e.pid = 42;
  return e;
}

EventDocument doc(std::string rec, std::int64_t seq, std::string_view content, std::size_t count) {
  return EventDocument{std::move(rec), seq, "k/" + std::to_string(seq) + ".events.json", sha_of(content), 100,
                       static_cast<std::int64_t>(count), kT0};
}

Segment segment(std::string rec, std::int64_t seq, std::optional<std::string> events_sha) {
  return Segment{std::move(rec), seq, "k/" + std::to_string(seq) + ".mp4", 10, sha_of("seg" + std::to_string(seq)), 0, 1000,
                 "{}",           kT0, std::move(events_sha)};
}

class Fixture {
 public:
  explicit Fixture(Catalog& c) : c_(c) {}
  // The document, then its segment, as the server stores them.
  void add(const std::string& rec, std::int64_t seq, const std::vector<events::Event>& events,
           std::string content = {}) {
    if (content.empty()) content = rec + std::to_string(seq);
    auto d = c_.add_event_document(doc(rec, seq, content, events.size()), events);
    ASSERT_TRUE(d) << d.error().message;
    auto s = c_.add_segment(segment(rec, seq, sha_of(content)));
    ASSERT_TRUE(s) << s.error().message;
  }

 private:
  Catalog& c_;
};

std::vector<std::int64_t> times(const std::vector<RecordingEvent>& events) {
  std::vector<std::int64_t> out;
  for (const auto& e : events) out.push_back(e.event.t_ms);
  return out;
}

TEST_P(CatalogTest, EventDocumentsAreIdempotentAndNeverReplaced) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  CAT_OK(cat().create_recording(make_recording("rec-1", "cc-1", "alice", kT0)));
  const std::vector<events::Event> list = {ev(0, "session.connect"), window(10, "Terminal", "xterm")};
  auto first = cat().add_event_document(doc("rec-1", 0, "a", 2), list);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, SegmentOutcome::inserted);
  EXPECT_EQ(*cat().add_event_document(doc("rec-1", 0, "a", 2), list), SegmentOutcome::already_present);
  EXPECT_EQ(cat().add_event_document(doc("rec-1", 0, "b", 2), list).error().code, Errc::conflict);
  auto got = cat().get_event_document("rec-1", 0);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->sha256, sha_of("a"));
  EXPECT_EQ(got->event_count, 2);
  EXPECT_EQ(got->object_key, "k/0.events.json");
  EXPECT_EQ(cat().get_event_document("rec-1", 1).error().code, Errc::not_found);
  EXPECT_EQ(cat().add_event_document(doc("rec-x", 0, "a", 2), list).error().code, Errc::not_found);
  EXPECT_EQ(cat().add_event_document(doc("rec-1", 1, "a", 3), list).error().code, Errc::invalid_argument);
  EventDocument bad = doc("rec-1", 1, "a", 2);
  bad.sha256 = "XYZ";
  EXPECT_EQ(cat().add_event_document(bad, list).error().code, Errc::invalid_argument);

  // Events show once their segment is stored naming the document.
  EXPECT_TRUE(cat().list_recording_events("rec-1", {}, Page{100, ""})->items.empty());
  CAT_OK(cat().add_segment(segment("rec-1", 0, sha_of("a"))));
  auto listed = cat().list_recording_events("rec-1", {}, Page{100, ""});
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->items.size(), 2u);
  EXPECT_EQ(listed->items[1].event, list[1]);
  EXPECT_EQ(listed->items[1].idx, 1);
  EXPECT_EQ(listed->items[1].seq, 0);
  EXPECT_EQ(cat().get_segment("rec-1", 0)->events_sha256, sha_of("a"));
  // The segment again: same document or bust.
  EXPECT_EQ(*cat().add_segment(segment("rec-1", 0, sha_of("a"))), SegmentOutcome::already_present);
  EXPECT_EQ(cat().add_segment(segment("rec-1", 0, std::nullopt)).error().code, Errc::conflict);
  EXPECT_EQ(cat().add_segment(segment("rec-1", 0, sha_of("b"))).error().code, Errc::conflict);
  // A document for a segment stored without one is refused.
  CAT_OK(cat().add_segment(segment("rec-1", 1, std::nullopt)));
  EXPECT_EQ(cat().add_event_document(doc("rec-1", 1, "c", 0), {}).error().code, Errc::conflict);
  EXPECT_EQ(cat().get_segment("rec-1", 1)->events_sha256, std::nullopt);
  Segment bad_events = segment("rec-1", 2, "nothex");
  EXPECT_EQ(cat().add_segment(bad_events).error().code, Errc::invalid_argument);
}

TEST_P(CatalogTest, RecordingEventsFilterAndPageByMediaTime) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  CAT_OK(cat().create_recording(make_recording("rec-1", "cc-1", "alice", kT0)));
  Fixture f(cat());
  // Two segments; equal times keep (seq, idx) order.
  f.add("rec-1", 0, {ev(0, "session.connect"), window(100, "A", "a"), ev(200, "idle"), ev(200, "lock")});
  f.add("rec-1", 1, {ev(200, "unlock"), ev(300, "active"), ev(400, "resolution")});
  auto all = cat().list_recording_events("rec-1", {}, Page{100, ""});
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(times(all->items), (std::vector<std::int64_t>{0, 100, 200, 200, 200, 300, 400}));
  EXPECT_EQ(all->items[4].event.type, "unlock");
  EXPECT_TRUE(all->next_token.empty());

  EventFilter types;
  types.types = {"idle", "active"};
  EXPECT_EQ(times(cat().list_recording_events("rec-1", types, Page{100, ""})->items), (std::vector<std::int64_t>{200, 300}));
  EventFilter range;
  range.from_ms = 100;
  range.to_ms = 200;
  EXPECT_EQ(cat().list_recording_events("rec-1", range, Page{100, ""})->items.size(), 4u);

  std::vector<std::string> seen;
  Page page{2, ""};
  for (int i = 0; i < 10; ++i) {
    auto p = cat().list_recording_events("rec-1", {}, page);
    ASSERT_TRUE(p) << p.error().message;
    for (const auto& e : p->items) seen.push_back(e.event.type);
    if (p->next_token.empty()) break;
    page.next_token = p->next_token;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"session.connect", "window", "idle", "lock", "unlock", "active", "resolution"}));
  EXPECT_EQ(cat().list_recording_events("rec-1", {}, Page{2, "garbage"}).error().code, Errc::invalid_argument);
  auto r = make_recording("rec-2", "cc-1", "bob", kT0);
  CAT_OK(cat().create_recording(r));
  EXPECT_TRUE(cat().list_recording_events("rec-2", {}, Page{100, ""})->items.empty());
}

TEST_P(CatalogTest, RecordingsFilterByEventsWithFirstMatch) {
  CAT_OK(cat().create_pool(make_pool("pool-a", "Alpha")));
  CAT_OK(cat().create_computer(make_computer("cc-1", "one", "pool-a")));
  CAT_OK(cat().create_computer(make_computer("cc-2", "two")));
  CAT_OK(cat().create_recording(make_recording("rec-1", "cc-1", "alice", kT0)));
  CAT_OK(cat().create_recording(make_recording("rec-2", "cc-2", "bob", kT0 + kMinute)));
  CAT_OK(cat().create_recording(make_recording("rec-3", "cc-2", "carol", kT0 + 2 * kMinute)));
  Fixture f(cat());
  f.add("rec-1", 0, {window(50, "Terminal", "XTerm", "xterm"), window(900, "payroll.xlsx - Calc", "libreoffice-calc", "soffice.bin")});
  f.add("rec-2", 0, {window(70, "Payroll 100%_done", "firefox", "firefox-esr")});
  // rec-3's document is stored, its segment not: not part of the recording.
  CAT_OK(cat().add_event_document(doc("rec-3", 0, "x", 1), {window(5, "payroll", "calc")}));

  RecordingFilter title;
  title.window_title = "PAYROLL";
  auto page = cat().list_recordings(title, Page{50, ""});
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].id, "rec-2");
  EXPECT_EQ(page->items[0].first_match_ms, 70);
  EXPECT_EQ(page->items[1].first_match_ms, 900);
  EXPECT_EQ(*cat().count_recordings(title), 2);
  RecordingFilter app;
  app.app = "xterm";  // the app (case-insensitive) or the process
  EXPECT_EQ(cat().list_recordings(app, Page{50, ""})->items.at(0).first_match_ms, 50);
  app.app = "soffice";
  EXPECT_EQ(cat().list_recordings(app, Page{50, ""})->items.at(0).first_match_ms, 900);
  RecordingFilter both;
  both.app = "calc";
  both.window_title = "payroll";
  ASSERT_EQ(cat().list_recordings(both, Page{50, ""})->items.size(), 1u);
  both.app = "xterm";
  EXPECT_TRUE(cat().list_recordings(both, Page{50, ""})->items.empty());
  // LIKE's wildcards are plain text.
  RecordingFilter literal;
  literal.window_title = "100%_";
  EXPECT_EQ(cat().list_recordings(literal, Page{50, ""})->items.size(), 1u);
  literal.window_title = "1_0";
  EXPECT_TRUE(cat().list_recordings(literal, Page{50, ""})->items.empty());
  // With a scope, and without any event filter no first_match_ms.
  title.scope = Scope{{}, {"pool-a"}};
  ASSERT_EQ(cat().list_recordings(title, Page{50, ""})->items.size(), 1u);
  EXPECT_EQ(cat().list_recordings(RecordingFilter{}, Page{50, ""})->items.at(0).first_match_ms, std::nullopt);
}

TEST_P(CatalogTest, EventSearchIsNewestFirstScopedAndPaged) {
  CAT_OK(cat().create_pool(make_pool("pool-a", "Alpha")));
  CAT_OK(cat().create_computer(make_computer("cc-1", "one", "pool-a")));
  CAT_OK(cat().create_computer(make_computer("cc-2", "two")));
  CAT_OK(cat().create_recording(make_recording("rec-1", "cc-1", "alice", kT0)));
  CAT_OK(cat().create_recording(make_recording("rec-2", "cc-2", "bob", kT0 + 1000)));
  Fixture f(cat());
  f.add("rec-1", 0, {ev(0, "session.connect"), window(500, "payroll", "calc"), ev(2000, "idle")});
  f.add("rec-2", 0, {window(0, "Payroll", "calc"), ev(1500, "lock")});
  auto all = cat().search_events(EventSearch{}, Page{100, ""});
  ASSERT_TRUE(all) << all.error().message;
  std::vector<std::pair<std::string, EpochMs>> order;
  for (const auto& h : all->items) order.emplace_back(h.event.event.type, h.recording_start + h.event.event.t_ms);
  EXPECT_EQ(order, (std::vector<std::pair<std::string, EpochMs>>{{"lock", kT0 + 2500},
                                                                 {"idle", kT0 + 2000},
                                                                 {"window", kT0 + 1000},
                                                                 {"window", kT0 + 500},
                                                                 {"session.connect", kT0}}));
  EXPECT_EQ(all->items[0].computer_id, "cc-2");
  EXPECT_EQ(all->items[0].computer_name, "two");
  EXPECT_EQ(all->items[0].username, "bob");
  EXPECT_EQ(all->items[0].pool_id, std::nullopt);
  EXPECT_EQ(all->items[4].pool_id, "pool-a");

  EventSearch s;
  s.window_title = "PAYROLL";
  EXPECT_EQ(cat().search_events(s, Page{100, ""})->items.size(), 2u);
  s.scope = Scope{{}, {"pool-a"}};
  auto scoped = cat().search_events(s, Page{100, ""});
  ASSERT_EQ(scoped->items.size(), 1u);
  EXPECT_EQ(scoped->items[0].event.recording_id, "rec-1");
  EventSearch nothing;
  nothing.scope = Scope{};
  EXPECT_TRUE(cat().search_events(nothing, Page{100, ""})->items.empty());
  EventSearch by;
  by.username = "alice";
  by.types = {"idle", "session.connect"};
  EXPECT_EQ(cat().search_events(by, Page{100, ""})->items.size(), 2u);
  EventSearch when;
  when.start_time = kT0 + 500;
  when.end_time = kT0 + 2000;
  EXPECT_EQ(cat().search_events(when, Page{100, ""})->items.size(), 3u);
  EventSearch where;
  where.computer_id = "cc-2";
  EXPECT_EQ(cat().search_events(where, Page{100, ""})->items.size(), 2u);
  where.computer_id.clear();
  where.pool_id = "pool-a";
  EXPECT_EQ(cat().search_events(where, Page{100, ""})->items.size(), 3u);

  std::set<std::string> seen;
  Page page{2, ""};
  for (int i = 0; i < 10; ++i) {
    auto p = cat().search_events(EventSearch{}, page);
    ASSERT_TRUE(p) << p.error().message;
    for (const auto& h : p->items) seen.insert(h.event.recording_id + "/" + std::to_string(h.event.idx));
    if (p->next_token.empty()) break;
    page.next_token = p->next_token;
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(cat().search_events(EventSearch{}, Page{2, "ev.AA"}).error().code, Errc::invalid_argument);
}

TEST_P(CatalogTest, DeletingARecordingDeletesItsEvents) {
  CAT_OK(cat().create_computer(make_computer("cc-1", "one")));
  CAT_OK(cat().create_recording(make_recording("rec-1", "cc-1", "alice", kT0)));
  CAT_OK(cat().create_recording(make_recording("rec-2", "cc-1", "alice", kT0)));
  Fixture f(cat());
  f.add("rec-1", 0, {window(1, "payroll", "calc")});
  f.add("rec-2", 0, {window(1, "payroll", "calc")});
  CAT_OK(cat().delete_recording("rec-1"));
  EXPECT_EQ(cat().get_event_document("rec-1", 0).error().code, Errc::not_found);
  EXPECT_TRUE(cat().list_recording_events("rec-1", {}, Page{10, ""})->items.empty());
  auto left = cat().search_events(EventSearch{}, Page{10, ""});
  ASSERT_EQ(left->items.size(), 1u);
  EXPECT_EQ(left->items[0].event.recording_id, "rec-2");
  // The same ids again start empty.
  CAT_OK(cat().create_recording(make_recording("rec-1", "cc-1", "alice", kT0)));
  f.add("rec-1", 0, {ev(5, "lock")}, "other");
  EXPECT_EQ(cat().list_recording_events("rec-1", {}, Page{10, ""})->items.size(), 1u);
}

}  // namespace
}  // namespace deskaudit::catalog::test
