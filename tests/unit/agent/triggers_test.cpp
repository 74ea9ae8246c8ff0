#include "agent/triggers.hpp"

#include <gtest/gtest.h>

using namespace deskaudit;
using namespace deskaudit::agent;
using namespace std::chrono_literals;
using policy::Trigger;
using policy::TriggerKind;

namespace {

activity::ActivityState state(std::vector<std::string> processes, std::string app = {}, std::string title = {}) {
  activity::ActivityState s;
  s.processes = std::move(processes);
  s.app = std::move(app);
  s.title = std::move(title);
  return s;
}

}  // namespace

TEST(Triggers, AProcessPatternMatchesARunningProcess) {
  const std::vector<Trigger> t = {{TriggerKind::process, "gimp*"}};
  EXPECT_FALSE(matching_trigger(t, state({"bash", "xterm"})));
  auto m = matching_trigger(t, state({"bash", "gimp-2.10"}));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->value, "gimp-2.10");
  EXPECT_EQ(m->what(), "process \"gimp-2.10\" matches \"gimp*\"");
  // A window class or title equal to the name is not a running process.
  EXPECT_FALSE(matching_trigger(t, state({}, "gimp", "gimp")));
}

TEST(Triggers, AppAndTitlePatternsMatchTheActiveWindowOnly) {
  const std::vector<Trigger> t = {{TriggerKind::app, "libreoffice-calc"}, {TriggerKind::window_title, "*payroll*"}};
  EXPECT_FALSE(matching_trigger(t, state({"soffice.bin"}, "libreoffice-writer", "letter.odt")));
  auto by_class = matching_trigger(t, state({}, "LibreOffice-Calc", "budget.ods"));
  ASSERT_TRUE(by_class);
  EXPECT_EQ(by_class->trigger.kind, TriggerKind::app);
  auto by_title = matching_trigger(t, state({}, "xterm", "vim Payroll-2026.csv"));
  ASSERT_TRUE(by_title);
  EXPECT_EQ(by_title->trigger.kind, TriggerKind::window_title);
  EXPECT_EQ(by_title->what(), "window title \"vim Payroll-2026.csv\" matches \"*payroll*\"");
  // No active window: a title pattern matching anything still needs a title.
  EXPECT_FALSE(matching_trigger({{TriggerKind::window_title, "*"}}, state({})));
  EXPECT_TRUE(matching_trigger({{TriggerKind::window_title, "*"}}, state({}, "x", "t")));
}

TEST(Triggers, TheFirstMatchingTriggerInPolicyOrderWins) {
  const std::vector<Trigger> t = {{TriggerKind::window_title, "*secret*"}, {TriggerKind::process, "ssh"}};
  auto m = matching_trigger(t, state({"ssh"}, "xterm", "top secret"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->trigger.kind, TriggerKind::window_title);
  EXPECT_FALSE(matching_trigger({}, state({"ssh"}, "xterm", "top secret")));
}

TEST(TriggerWindowTest, RecordsFromTheTriggerUntilPostEventAfterItsLastSighting) {
  TriggerWindow w(10min);
  const TriggerWindow::Time t0{};
  EXPECT_FALSE(w.update(t0, false));  // nothing recorded while no trigger ran
  EXPECT_FALSE(w.update(t0 + 1h, false));
  EXPECT_TRUE(w.update(t0 + 2h, true));
  EXPECT_TRUE(w.update(t0 + 2h + 5min, true));  // still on
  EXPECT_TRUE(w.update(t0 + 2h + 6min, false));  // ended at its last sighting, 2h05
  EXPECT_TRUE(w.update(t0 + 2h + 14min, false));
  EXPECT_FALSE(w.update(t0 + 2h + 15min, false));  // 10 min after 2h05
  ASSERT_TRUE(w.last_on());
  EXPECT_EQ(*w.last_on(), t0 + 2h + 5min);
}

TEST(TriggerWindowTest, ATriggerAgainWithinPostEventExtendsTheRecording) {
  TriggerWindow w(10min);
  const TriggerWindow::Time t0{};
  EXPECT_TRUE(w.update(t0, true));
  EXPECT_TRUE(w.update(t0 + 9min, true));
  EXPECT_TRUE(w.update(t0 + 18min, false));
  EXPECT_FALSE(w.update(t0 + 19min, false));
  w.set_post_event(30s);  // a policy change applies to the window already running
  EXPECT_TRUE(w.update(t0 + 20min, true));
  EXPECT_FALSE(w.update(t0 + 20min + 30s, false));
}
