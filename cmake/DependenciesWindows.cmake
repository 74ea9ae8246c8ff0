# The Windows (mingw-w64) counterpart of Dependencies.cmake: the same deps::<name>
# targets over the static libraries scripts/build-windows builds into
# DESKAUDIT_WINDOWS_PREFIX, and the header-only libraries it copies there.
find_package(Threads REQUIRED)
if(NOT DESKAUDIT_WINDOWS_PREFIX)
  message(FATAL_ERROR "DESKAUDIT_WINDOWS_PREFIX is not set: configure through scripts/build-windows")
endif()
set(_prefix ${DESKAUDIT_WINDOWS_PREFIX})

function(deskaudit_static_dep name)
  cmake_parse_arguments(D "" "" "LIBS;SYSTEM;DEFINES" ${ARGN})
  add_library(deps_${name} INTERFACE)
  set(_paths)
  foreach(lib IN LISTS D_LIBS)
    set(_p ${_prefix}/lib/lib${lib}.a)
    if(NOT EXISTS ${_p})
      message(FATAL_ERROR "${_p} is missing: run scripts/build-windows")
    endif()
    list(APPEND _paths ${_p})
  endforeach()
  target_link_libraries(deps_${name} INTERFACE ${_paths} ${D_SYSTEM})
  target_include_directories(deps_${name} SYSTEM INTERFACE ${_prefix}/include)
  target_compile_definitions(deps_${name} INTERFACE ${D_DEFINES})
  add_library(deps::${name} ALIAS deps_${name})
endfunction()

# libssp: libopus is built with _FORTIFY_SOURCE (scripts/build-windows).
deskaudit_static_dep(av LIBS avformat avcodec avutil opus SYSTEM bcrypt ssp)
deskaudit_static_dep(x264 LIBS x264)
deskaudit_static_dep(yuv LIBS yuv)
# SODIUM_STATIC: sodium's headers declare dllimport otherwise.
deskaudit_static_dep(sodium LIBS sodium SYSTEM advapi32 DEFINES SODIUM_STATIC)
deskaudit_static_dep(cli11)

# Header-only: spdlog over fmt, both compiled into each user.
add_library(fmt_header_only INTERFACE)
target_include_directories(fmt_header_only SYSTEM INTERFACE ${_prefix}/include)
target_compile_definitions(fmt_header_only INTERFACE FMT_HEADER_ONLY)
add_library(fmt::fmt ALIAS fmt_header_only)
add_library(spdlog_header_only INTERFACE)
target_link_libraries(spdlog_header_only INTERFACE fmt::fmt Threads::Threads)
target_compile_definitions(spdlog_header_only INTERFACE SPDLOG_FMT_EXTERNAL)
add_library(spdlog::spdlog ALIAS spdlog_header_only)
add_library(nlohmann_json_header_only INTERFACE)
target_include_directories(nlohmann_json_header_only SYSTEM INTERFACE ${_prefix}/include)
add_library(nlohmann_json::nlohmann_json ALIAS nlohmann_json_header_only)
