# Every third-party dependency is found here, once, and exposed as an
# imported target named deps::<name>. Components link these PRIVATE.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(AV REQUIRED IMPORTED_TARGET libavcodec libavformat libavutil libswscale)
pkg_check_modules(X264 REQUIRED IMPORTED_TARGET x264)
pkg_check_modules(XCB REQUIRED IMPORTED_TARGET xcb xcb-shm xcb-damage xcb-xfixes xcb-randr xcb-screensaver xcb-xinput)
pkg_check_modules(PULSE REQUIRED IMPORTED_TARGET libpulse)
pkg_check_modules(PULSE_SIMPLE IMPORTED_TARGET libpulse-simple)  # bench/record's sound source only
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 CONFIG QUIET)

add_library(deps::av ALIAS PkgConfig::AV)
add_library(deps::x264 ALIAS PkgConfig::X264)
add_library(deps::xcb ALIAS PkgConfig::XCB)
add_library(deps::pulse ALIAS PkgConfig::PULSE)
if(PULSE_SIMPLE_FOUND)
  add_library(deps::pulse_simple ALIAS PkgConfig::PULSE_SIMPLE)
endif()
add_library(deps::sodium ALIAS PkgConfig::SODIUM)
add_library(deps::curl ALIAS PkgConfig::CURL)
add_library(deps::tomlpp ALIAS PkgConfig::TOMLPP)
add_library(deps::httplib ALIAS PkgConfig::HTTPLIB)

# libyuv ships neither pkg-config nor CMake files on Debian 12.
find_library(YUV_LIBRARY yuv REQUIRED)
find_path(YUV_INCLUDE_DIR libyuv.h REQUIRED)
add_library(deps_yuv INTERFACE)
target_link_libraries(deps_yuv INTERFACE ${YUV_LIBRARY})
target_include_directories(deps_yuv INTERFACE ${YUV_INCLUDE_DIR})
add_library(deps::yuv ALIAS deps_yuv)

# SOCI ships no CMake config: core + the two backends, found by name.
find_path(SOCI_INCLUDE_DIR soci/soci.h REQUIRED)
find_library(SOCI_CORE soci_core REQUIRED)
find_library(SOCI_SQLITE3 soci_sqlite3 REQUIRED)
find_library(SOCI_POSTGRESQL soci_postgresql REQUIRED)
find_package(Boost REQUIRED)
add_library(deps_soci INTERFACE)
target_include_directories(deps_soci INTERFACE ${SOCI_INCLUDE_DIR} ${Boost_INCLUDE_DIRS})
target_link_libraries(deps_soci INTERFACE ${SOCI_SQLITE3} ${SOCI_POSTGRESQL} ${SOCI_CORE} ${CMAKE_DL_LIBS})
add_library(deps::soci ALIAS deps_soci)

# Boost.Asio/Beast (header-only in 1.74) with OpenSSL for TLS: the server's
# HTTP transport and the fleet benchmark.
find_package(OpenSSL REQUIRED)
add_library(deps_asio INTERFACE)
target_include_directories(deps_asio INTERFACE ${Boost_INCLUDE_DIRS})
target_compile_definitions(deps_asio INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)
target_link_libraries(deps_asio INTERFACE OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
add_library(deps::asio ALIAS deps_asio)

# CLI11 is header-only; Debian 12 installs it without a CMake config.
add_library(deps_cli11 INTERFACE)
if(TARGET CLI11::CLI11)
  target_link_libraries(deps_cli11 INTERFACE CLI11::CLI11)
endif()
add_library(deps::cli11 ALIAS deps_cli11)

if(DESKAUDIT_TESTS)
  find_package(GTest REQUIRED)
endif()
if(DESKAUDIT_BENCH)
  find_package(benchmark REQUIRED)
endif()
