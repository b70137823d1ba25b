// `otaswarm torrent create`: a private BitTorrent v1 single-file torrent with the S3 URL(s)
// as BEP 19 web seeds and the tracker's announce URLs, one BEP 12 tier each.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "common/proto/bencode.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/crypto.h"
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "common/http/url.h"

namespace otaswarm::cli {

namespace {

constexpr int64_t kMinPieceLength = 16 * 1024;          // BEP 3 block size; smaller is not interoperable
constexpr int64_t kMaxPieceLength = 64ll << 20;          // bigger pieces make every lost peer costly
constexpr int64_t kAutoMaxPieceLength = 16ll << 20;      // automatic choice stays below this
constexpr int64_t kAutoTargetPieces = 2048;              // automatic choice: at most this many pieces
constexpr int64_t kMaxPieces = 262144;                   // keeps the .torrent under libtorrent's 10 MB limit
constexpr size_t kReadBlock = 4u << 20;                  // big sequential reads; a block may span pieces
constexpr int64_t kProgressIntervalMs = 250;             // tty redraw rate
constexpr int kProgressLineSteps = 10;                   // non-tty --progress: one line per 10 %
constexpr size_t kMaxNameLength = 255;                   // a file name on every common file system
constexpr const char* kCreatedBy = "otaswarm 0.1.0";

constexpr int kExitInterrupted = 130;                    // shell convention: 128 + SIGINT

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int) { g_interrupted = 1; }

struct Interrupted {};

// Restores the previous SIGINT/SIGTERM handlers when the command ends.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~InterruptGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

// Removes the temporary output unless it was renamed into place.
class TempFile {
 public:
  explicit TempFile(const std::string& final_path) : final_(final_path) {
    path_ = final_path + ".tmp.XXXXXX";
    fd_ = ::mkstemp(path_.data());
    if (fd_ < 0) {
      path_.clear();
      throw config::ConfigError("output", "cannot write \"" + final_path + "\": " + std::strerror(errno));
    }
    mode_t mask = ::umask(0);
    ::umask(mask);
    ::fchmod(fd_, 0666 & ~mask);
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void commit(std::string_view data) {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("write");
      p += n;
      left -= static_cast<size_t>(n);
    }
    if (::fsync(fd_) != 0) fail("fsync");
    if (::close(fd_) != 0) {
      fd_ = -1;
      fail("close");
    }
    fd_ = -1;
    if (::rename(path_.c_str(), final_.c_str()) != 0) fail("rename");
    path_.clear();
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw config::ConfigError("output", std::string(what) + " \"" + final_ + "\": " + std::strerror(errno));
  }
  std::string final_, path_;
  int fd_ = -1;
};

class Progress {
 public:
  Progress(bool tty, bool lines, int64_t total) : tty_(tty), lines_(lines), total_(total) {}
  bool enabled() const { return tty_ || lines_; }

  void update(int64_t done) {
    if (!enabled()) return;
    int64_t now = SystemClock::instance().mono_ms();
    if (tty_) {
      if (done < total_ && now - last_draw_ms_ < kProgressIntervalMs) return;
      last_draw_ms_ = now;
      std::fprintf(stderr, "\rhashing %5.1f%%  %s / %s  %.0f MB/s ", percent(done), human(done).c_str(),
                   human(total_).c_str(), rate_mb_s(done, now));
      std::fflush(stderr);
      return;
    }
    int step = static_cast<int>(done * kProgressLineSteps / std::max<int64_t>(total_, 1));
    if (step > last_step_ && done < total_) {
      last_step_ = step;
      std::fprintf(stderr, "hashing %3.0f%%  %s / %s\n", percent(done), human(done).c_str(), human(total_).c_str());
    }
  }

  void finish(const std::string& out, int64_t pieces, int64_t piece_length) {
    if (!enabled()) return;
    int64_t now = SystemClock::instance().mono_ms();
    std::fprintf(stderr, "%swrote %s: %lld pieces of %lld bytes, %s hashed in %.1f s (%.0f MB/s)\n",
                 tty_ ? "\r\033[K" : "", out.c_str(), static_cast<long long>(pieces),
                 static_cast<long long>(piece_length), human(total_).c_str(), (now - start_ms_) / 1000.0,
                 rate_mb_s(total_, now));
  }

  void abandon() {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  double percent(int64_t done) const { return total_ ? 100.0 * static_cast<double>(done) / total_ : 100.0; }
  double rate_mb_s(int64_t done, int64_t now) const {
    return now > start_ms_ ? static_cast<double>(done) / 1e6 / ((now - start_ms_) / 1000.0) : 0.0;
  }
  static std::string human(int64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f GB", static_cast<double>(bytes) / 1e9);
    if (bytes < 1'000'000'000) std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
    return buf;
  }

  bool tty_, lines_;
  int64_t total_;
  int64_t start_ms_ = SystemClock::instance().mono_ms();
  int64_t last_draw_ms_ = 0;
  int last_step_ = 0;
};

}  // namespace

// Smallest power of two ≥ 16 KiB that keeps the piece count ≤ 2048, capped at 16 MiB:
// 1 GiB → 512 KiB, 2 GiB → 1 MiB, 3 GB → 2 MiB, 129 MB → 64 KiB.
int64_t auto_piece_length(int64_t file_size) {
  int64_t want = (file_size + kAutoTargetPieces - 1) / kAutoTargetPieces;
  int64_t len = std::bit_ceil(static_cast<uint64_t>(std::max<int64_t>(want, 1)));
  return std::clamp(len, kMinPieceLength, kAutoMaxPieceLength);
}

namespace {

std::string check_name(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.size() > kMaxNameLength)
    throw config::ConfigError("name", "\"" + name + "\" is not a usable file name");
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
      throw config::ConfigError("name", "\"" + name + "\" contains '/', '\\' or a control character");
  return name;
}

struct Hashed {
  std::string pieces;
  int64_t count = 0;
};

Hashed hash_file(int fd, const std::string& path, int64_t size, int64_t piece_length, Progress& progress) {
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Hashed h;
  h.count = (size + piece_length - 1) / piece_length;
  h.pieces.reserve(static_cast<size_t>(h.count) * 20);
  std::vector<char> buf(kReadBlock);
  crypto::Sha1Stream sha;
  int64_t in_piece = 0, done = 0;
  auto file_error = [&](const std::string& what) { return config::ConfigError("FILE", "\"" + path + "\": " + what); };
  while (done < size) {
    if (g_interrupted) throw Interrupted{};
    size_t want = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(kReadBlock), size - done));
    ssize_t n = ::read(fd, buf.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw file_error(std::string("read failed: ") + std::strerror(errno));
    if (n == 0) throw file_error("file shrank while it was being hashed");
    for (size_t off = 0; off < static_cast<size_t>(n);) {
      size_t take = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(n) - static_cast<int64_t>(off),
                                                          piece_length - in_piece));
      sha.update(buf.data() + off, take);
      off += take;
      in_piece += static_cast<int64_t>(take);
      if (in_piece == piece_length) {
        auto d = sha.finish();
        h.pieces.append(crypto::as_view(d));
        in_piece = 0;
      }
    }
    done += n;
    progress.update(done);
  }
  if (in_piece > 0) {
    auto d = sha.finish();
    h.pieces.append(crypto::as_view(d));
  }
  char extra;
  if (::read(fd, &extra, 1) > 0) throw file_error("file grew while it was being hashed");
  return h;
}

constexpr const char* kHelp = R"(usage: otaswarm torrent create FILE --webseed URL [--webseed URL...]
                               --announce URL [--announce URL...]
                               [--piece-length BYTES] [--name NAME] [--progress] -o OUT.torrent
Makes a private BitTorrent v1 single-file torrent of FILE: every --webseed becomes a BEP 19
url-list entry (the S3 object URL), every --announce a tracker tier of its own (BEP 12;
give the tracker's http:// and udp:// announce URLs). The piece length defaults to the
smallest power of two >= 16 KiB giving at most 2048 pieces, capped at 16 MiB
(1 GiB -> 512 KiB, 2 GiB -> 1 MiB, 3 GB -> 2 MiB). Prints the info-hash (hex) on stdout.
Progress goes to stderr when it is a terminal, or always with --progress.
Exit status: 0 ok, 2 bad arguments or unreadable input / unwritable output, 130 interrupted
(nothing written in either case).
)";

}  // namespace

int torrent_create(const Args& args) {
  config::Schema schema("otaswarm torrent create FILE", "Create a private v1 torrent for an OTA image.");
  schema.add("webseed", config::Kind::list, "web seed URL (http/https; repeatable)")
      .add("announce", config::Kind::list, "tracker announce URL (http/https/udp; repeatable)")
      .add("piece-length", config::Kind::integer, "piece length in bytes (power of two >= 16384)")
      .add("name", config::Kind::string, "file name inside the torrent (default: FILE's base name)")
      .add("output", config::Kind::string, "output .torrent path (also -o)")
      .add("progress", config::Kind::boolean, "show hashing progress on stderr even when it is not a terminal");
  auto p = parse_args(schema, args, {{"-o", "--output"}});
  if (p.help_requested) {
    std::cout << kHelp;
    return 0;
  }
  expect_positional(p, 1, "FILE");
  const std::string file = p.positional[0];
  const std::string out = required(p.values, "output");

  auto webseeds = p.values.list("webseed");
  auto announces = p.values.list("announce");
  if (webseeds.empty()) throw config::ConfigError("webseed", "at least one web seed URL is required");
  if (announces.empty()) throw config::ConfigError("announce", "at least one announce URL is required");
  for (const auto& u : webseeds) http::check_url("webseed", u, {"http", "https"});
  for (const auto& u : announces) http::check_url("announce", u, {"http", "https", "udp"});

  std::string name = check_name(p.values.has("name") ? p.values.str("name")
                                                     : std::filesystem::path(file).filename().string());

  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw config::ConfigError("FILE", "cannot open \"" + file + "\": " + std::strerror(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    throw config::ConfigError("FILE", "\"" + file + "\" is not a regular file");
  const int64_t size = st.st_size;
  if (size == 0) throw config::ConfigError("FILE", "\"" + file + "\" is empty");

  int64_t piece_length = auto_piece_length(size);
  if (p.values.has("piece-length")) {
    piece_length = p.values.integer("piece-length", kMinPieceLength, kMaxPieceLength);
    if (!std::has_single_bit(static_cast<uint64_t>(piece_length)))
      throw config::ConfigError("piece-length", std::to_string(piece_length) + " is not a power of two");
  }
  if ((size + piece_length - 1) / piece_length > kMaxPieces)
    throw config::ConfigError("piece-length", std::to_string(piece_length) + " gives more than " +
                                                  std::to_string(kMaxPieces) + " pieces for this file; use a larger one");

  struct stat out_st {};
  if (::stat(out.c_str(), &out_st) == 0 && out_st.st_dev == st.st_dev && out_st.st_ino == st.st_ino)
    throw config::ConfigError("output", "\"" + out + "\" is FILE itself");
  // Created before hashing so an unwritable destination fails in a second, not after minutes.
  TempFile tmp(out);
  InterruptGuard interrupts;
  Progress progress(::isatty(STDERR_FILENO) == 1, p.values.boolean("progress"), size);
  Hashed hashed;
  try {
    hashed = hash_file(fd, file, size, piece_length, progress);
  } catch (const Interrupted&) {
    progress.abandon();
    std::cerr << "otaswarm torrent create: interrupted, nothing written\n";
    return kExitInterrupted;
  } catch (...) {
    progress.abandon();
    throw;
  }

  bencode::Dict info;
  info["length"] = size;
  info["name"] = name;
  info["piece length"] = piece_length;
  info["pieces"] = std::move(hashed.pieces);
  info["private"] = 1;
  std::string info_bytes = bencode::encode(bencode::Value(info));
  std::string info_hash = crypto::hex(crypto::as_view(crypto::sha1(info_bytes)));

  bencode::List tiers, urls;
  for (const auto& a : announces) tiers.push_back(bencode::Value(bencode::List{bencode::Value(a)}));
  for (const auto& w : webseeds) urls.push_back(bencode::Value(w));
  bencode::Dict root;
  root["announce"] = announces.front();
  root["announce-list"] = std::move(tiers);
  root["created by"] = kCreatedBy;
  root["creation date"] = SystemClock::instance().unix_seconds();
  root["info"] = std::move(info);
  root["url-list"] = std::move(urls);

  tmp.commit(bencode::encode(bencode::Value(std::move(root))));
  progress.finish(out, hashed.count, piece_length);
  std::cout << info_hash << "\n";
  return 0;
}

}  // namespace otaswarm::cli
