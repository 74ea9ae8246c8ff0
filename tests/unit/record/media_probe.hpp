#pragma once
// ffprobe/ffmpeg from tests: the packets of an MP4 file, and decoding a file
// to check it has no errors. Header-only test helper.
#include <array>
#include <cstdint>
#include <stdexcept>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace deskaudit::mtest {

struct ProbePacket {
  long long pts = 0;
  long long duration = 0;
  bool key = false;
};

struct ProbeResult {
  int exit_code = -1;
  std::string errors;  // ffprobe's stderr
  std::vector<ProbePacket> packets;
  int width = 0;
  int height = 0;
};

inline std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, {}};
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline ProbeResult probe(const std::filesystem::path& file) {
  ProbeResult r;
  const auto err = std::filesystem::temp_directory_path() / ("probe-err-" + std::to_string(::getpid()));
  auto [code, out] = run("ffprobe -v error -select_streams v:0 -show_entries packet=pts,duration,flags -of csv=p=0 '" +
                         file.string() + "' 2>'" + err.string() + "'");
  r.exit_code = code;
  std::ifstream e(err);
  r.errors.assign(std::istreambuf_iterator<char>(e), {});
  std::filesystem::remove(err);
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    ProbePacket p;
    char flags[8] = {};
    if (std::sscanf(line.c_str(), "%lld,%lld,%7s", &p.pts, &p.duration, flags) >= 2) {
      p.key = flags[0] == 'K';
      r.packets.push_back(p);
    }
  }
  auto [c2, dims] = run("ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 '" +
                        file.string() + "' 2>/dev/null");
  std::sscanf(dims.c_str(), "%d,%d", &r.width, &r.height);
  return r;
}

// Decodes every frame; returns ffmpeg's error output (empty when clean).
inline std::string decode_errors(const std::filesystem::path& file) {
  auto [code, out] = run("ffmpeg -nostdin -v error -i '" + file.string() + "' -f null - 2>&1");
  if (code != 0 && out.empty()) out = "ffmpeg exit " + std::to_string(code);
  return out;
}

inline std::string read_all(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Size of the leading ftyp+moov (the init segment) of an fMP4 file.
inline std::size_t init_size(const std::string& bytes) {
  std::size_t off = 0;
  while (off + 8 <= bytes.size()) {
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data() + off);
    const std::size_t size = (std::size_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
    const std::string type(bytes.data() + off + 4, 4);
    if (type != "ftyp" && type != "moov") break;
    if (size < 8) return 0;
    off += size;
  }
  return off;
}

// Box types at the top level, in order.
inline std::vector<std::string> top_boxes(const std::string& bytes) {
  std::vector<std::string> out;
  std::size_t off = 0;
  while (off + 8 <= bytes.size()) {
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data() + off);
    const std::size_t size = (std::size_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
    out.emplace_back(bytes.data() + off + 4, 4);
    if (size < 8) break;
    off += size;
  }
  if (off != bytes.size()) out.emplace_back("<truncated>");
  return out;
}

// One sample as the fragments describe it (tfdt + trun/tfhd): what a player
// uses for timing. ffprobe's packet durations are not read from trun.
struct FragSample {
  long long dts = 0;
  long long duration = 0;
  bool sync = false;
};

inline std::uint32_t be32(const std::string& b, std::size_t off) {
  if (off + 4 > b.size()) throw std::runtime_error("box truncated");
  const auto* p = reinterpret_cast<const unsigned char*>(b.data() + off);
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

inline std::vector<FragSample> fragment_samples(const std::string& b) {
  std::vector<FragSample> out;
  // Walks moof > traf > {tfhd, tfdt, trun}.
  std::size_t off = 0;
  while (off + 8 <= b.size()) {
    const std::size_t size = be32(b, off);
    if (size < 8 || off + size > b.size()) throw std::runtime_error("bad box size");
    if (b.compare(off + 4, 4, "moof") == 0) {
      for (std::size_t t = off + 8; t < off + size;) {
        const std::size_t tsize = be32(b, t);
        if (tsize < 8) throw std::runtime_error("bad box size");
        if (b.compare(t + 4, 4, "traf") == 0) {
          long long dts = 0;
          std::uint32_t default_duration = 0, default_flags = 0;
          for (std::size_t c = t + 8; c < t + tsize;) {
            const std::size_t csize = be32(b, c);
            if (csize < 8) throw std::runtime_error("bad box size");
            const std::string type = b.substr(c + 4, 4);
            const std::uint32_t vf = be32(b, c + 8);
            const std::uint32_t flags = vf & 0xffffff;
            if (type == "tfhd") {
              std::size_t q = c + 16;
              if (flags & 0x01) q += 8;
              if (flags & 0x02) q += 4;
              if (flags & 0x08) { default_duration = be32(b, q); q += 4; }
              if (flags & 0x10) q += 4;
              if (flags & 0x20) default_flags = be32(b, q);
            } else if (type == "tfdt") {
              dts = (vf >> 24) == 1 ? (static_cast<long long>(be32(b, c + 12)) << 32) | be32(b, c + 16) : be32(b, c + 12);
            } else if (type == "trun") {
              const std::uint32_t n = be32(b, c + 12);
              std::size_t q = c + 16;
              if (flags & 0x01) q += 4;
              std::uint32_t first_flags = default_flags;
              const bool has_first = flags & 0x04;
              if (has_first) { first_flags = be32(b, q); q += 4; }
              for (std::uint32_t i = 0; i < n; ++i) {
                FragSample sm;
                sm.dts = dts;
                sm.duration = default_duration;
                std::uint32_t sflags = i == 0 && has_first ? first_flags : default_flags;
                if (flags & 0x100) { sm.duration = be32(b, q); q += 4; }
                if (flags & 0x200) q += 4;
                if (flags & 0x400) { sflags = be32(b, q); q += 4; }
                if (flags & 0x800) q += 4;
                sm.sync = (sflags & 0x10000) == 0;
                dts += sm.duration;
                out.push_back(sm);
              }
            }
            c += csize;
          }
        }
        t += tsize;
      }
    }
    off += size;
  }
  return out;
}

}  // namespace deskaudit::mtest
