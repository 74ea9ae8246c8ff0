#pragma once
// The S3 servers the tests run against (s3_test_target.hpp: s3rver and Ceph
// RADOS Gateway, their variables). A test skips when its server's endpoint
// variable is absent, and fails instead when CI is set (scripts/test starts
// both servers).
// Header-only: used by tests that do not link deskaudit_testing.
#include <gtest/gtest.h>

#include "s3_test_target.hpp"

// Declares `const std::optional<S3TestTarget> target` for `server`; skips the
// test when that server is not configured, or fails it when CI is set.
#define DESKAUDIT_REQUIRE_S3_TARGET(target, server)                                                                  \
  const auto target = ::deskaudit::testing::s3_test_target(server);                                                  \
  do {                                                                                                               \
    if (!(target)) {                                                                                                 \
      const std::string var_ = ::deskaudit::testing::s3_endpoint_variable(server);                                   \
      if (std::getenv("CI") != nullptr) FAIL() << "CI is set but " << var_ << " is not";                             \
      GTEST_SKIP() << var_ << " is not set (run: " << ::deskaudit::testing::s3_start_command(server) << ")";         \
    }                                                                                                                \
    if ((target)->access_key.empty() || (target)->secret_key.empty())                                                \
      FAIL() << ::deskaudit::testing::s3_endpoint_variable(server) << " is set but its access or secret key is not"; \
  } while (0)
