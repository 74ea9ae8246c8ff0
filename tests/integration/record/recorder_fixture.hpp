#pragma once
// Shared fixture of the recorder's integration tests: a private temporary
// output directory (removed after the test) and start(), which starts a
// Recorder that reports its closed segments to closed(), and eventually(),
// which waits for a positive signal. Header-only test helper; the X display
// (and any audio server) stay with each test.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/crypto.hpp"
#include "record/recorder.hpp"

namespace deskaudit::rtest {

class RecorderFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("deskaudit-rec-" + random_id(""));
    std::filesystem::create_directories(dir_);
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Throws (failing the test) when the recorder does not start.
  std::unique_ptr<record::Recorder> start(const record::RecorderOptions& o) {
    auto r = record::Recorder::start(o, [this](const record::SegmentClosed& s) {
      std::lock_guard lock(mu_);
      closed_.push_back(s);
    });
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(*r);
  }
  // The segments closed so far, in order.
  std::vector<record::SegmentClosed> closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }

  // Polls `f` every 20 ms for up to 30 s; true as soon as it holds.
  static bool eventually(const std::function<bool()>& f) {
    using namespace std::chrono_literals;
    for (auto until = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < until;
         std::this_thread::sleep_for(20ms))
      if (f()) return true;
    return false;
  }

  std::filesystem::path dir_;

 private:
  std::mutex mu_;
  std::vector<record::SegmentClosed> closed_;
};

}  // namespace deskaudit::rtest
