#include "common/http_status.hpp"

#include <gtest/gtest.h>

using namespace deskaudit;

TEST(HttpStatus, ErrorsAreAnsweredWith) {
  const std::pair<Errc, int> table[] = {
      {Errc::invalid_argument, 400},  {Errc::unauthenticated, 401},
      {Errc::permission_denied, 403}, {Errc::password_change_required, 403},
      {Errc::not_found, 404},         {Errc::conflict, 409},
      {Errc::too_large, 413},         {Errc::unprocessable, 422},
      {Errc::corrupt, 422},           {Errc::too_many_requests, 429},
      {Errc::unavailable, 503},       {Errc::io, 500},
      {Errc::internal, 500},          {Errc::events_missing, 422},
  };
  for (auto [code, status] : table) EXPECT_EQ(http_status_for(code), status) << errc_name(code);
}

TEST(HttpStatus, StatusesBecome) {
  const std::pair<long, Errc> table[] = {
      {400, Errc::invalid_argument}, {401, Errc::unauthenticated},  {403, Errc::permission_denied},
      {404, Errc::not_found},        {405, Errc::invalid_argument}, {408, Errc::unavailable},
      {409, Errc::conflict},         {411, Errc::invalid_argument}, {413, Errc::too_large},
      {416, Errc::invalid_argument}, {422, Errc::unprocessable},    {429, Errc::too_many_requests},
      {431, Errc::invalid_argument}, {500, Errc::unavailable},      {502, Errc::unavailable},
      {503, Errc::unavailable},      {504, Errc::unavailable},      {599, Errc::unavailable},
      {100, Errc::internal},         {200, Errc::internal},         {302, Errc::internal},
      {0, Errc::internal},           {600, Errc::internal},         {-1, Errc::internal},
  };
  for (auto [status, code] : table) EXPECT_EQ(errc_for_status(status), code) << status;
}

TEST(HttpStatus, TheServersOwnCodeRefinesTheStatus) {
  EXPECT_EQ(errc_for_status(403, "password_change_required"), Errc::password_change_required);
  EXPECT_EQ(errc_for_status(422, "corrupt"), Errc::corrupt);
  EXPECT_EQ(errc_for_status(422, "events_missing"), Errc::events_missing);
  // A 5xx is the server's trouble whatever it calls it: retry later.
  EXPECT_EQ(errc_for_status(500, "io_error"), Errc::unavailable);
  EXPECT_EQ(errc_for_status(500, "internal"), Errc::unavailable);
  // A code that does not go with the status is not believed.
  EXPECT_EQ(errc_for_status(403, "not_found"), Errc::permission_denied);
  EXPECT_EQ(errc_for_status(200, "internal"), Errc::internal);
  EXPECT_EQ(errc_for_status(404, "NoSuchKey"), Errc::not_found);
}

TEST(HttpStatus, EveryClientErrorSurvivesTheRoundTrip) {
  for (Errc c : {Errc::invalid_argument, Errc::unauthenticated, Errc::permission_denied, Errc::not_found,
                 Errc::conflict, Errc::too_large, Errc::unprocessable, Errc::unavailable, Errc::too_many_requests,
                 Errc::password_change_required, Errc::corrupt, Errc::events_missing}) {
    EXPECT_EQ(errc_for_status(http_status_for(c), errc_name(c)), c) << errc_name(c);
  }
  EXPECT_EQ(errc_for_status(http_status_for(Errc::io), "io_error"), Errc::unavailable);
  EXPECT_EQ(errc_for_status(http_status_for(Errc::internal), "internal"), Errc::unavailable);
}

TEST(HttpStatus, TransientErrorsAreRetried) {
  EXPECT_TRUE(is_transient(Errc::unavailable));
  EXPECT_TRUE(is_transient(Errc::too_many_requests));
  EXPECT_FALSE(is_transient(Errc::unprocessable));
  EXPECT_FALSE(is_transient(Errc::internal));
}
