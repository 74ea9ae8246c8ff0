#include "common/wakeup.hpp"

#include <thread>

#include <gtest/gtest.h>

using namespace deskaudit;

TEST(WakeupTest, StartsUnsignalledAndStaysSignalled) {
  auto w = Wakeup::create();
  ASSERT_TRUE(w);
  EXPECT_FALSE(w->signalled());
  w->signal();
  EXPECT_TRUE(w->signalled());
  EXPECT_TRUE(w->signalled());
  w->signal();  // a second signal is harmless
  EXPECT_TRUE(w->wait());
  EXPECT_TRUE(w->signalled());
}

TEST(WakeupTest, WaitReturnsWhenAnotherThreadSignals) {
  auto w = Wakeup::create();
  ASSERT_TRUE(w);
  std::thread t([&] { w->signal(); });
  EXPECT_TRUE(w->wait());
  t.join();
  EXPECT_TRUE(w->signalled());
}

TEST(WakeupTest, MovedWakeupKeepsItsState) {
  auto w = Wakeup::create();
  ASSERT_TRUE(w);
  w->signal();
  Wakeup moved = std::move(*w);
  EXPECT_TRUE(moved.signalled());
}
