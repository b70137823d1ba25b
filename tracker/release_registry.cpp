#include "tracker/release_registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/proto/torrent.h"
#include "common/crypto.h"
#include "common/log.h"

namespace otaswarm {

ParsedTorrent parse_torrent(std::string_view bytes) {
  ParsedTorrent out;
  auto parsed = torrent::parse(bytes);
  if (!parsed) {
    out.error = std::move(parsed.message);
    return out;
  }
  auto& m = *parsed.metainfo;
  if (!m.is_private) {
    out.error = "torrent is not private (info.private must be 1)";
    return out;
  }
  Release r;
  r.info_hash = m.info_hash;
  r.name = std::move(m.name);
  r.length = m.length;
  r.piece_length = m.piece_length;
  r.pieces = m.pieces;
  r.webseeds = std::move(m.webseeds);
  r.trackers = std::move(m.trackers);
  r.torrent.assign(bytes);
  out.release = std::move(r);
  return out;
}

FileReleasePersistence::FileReleasePersistence(std::string data_dir) : dir_(std::move(data_dir) + "/releases") {}

static constexpr const char* kOriginSuffix = ".origin.json";

static bool mkdirs(const std::string& path, std::string& error) {
  std::string cur;
  std::stringstream ss(path);
  std::string part;
  if (!path.empty() && path[0] == '/') cur = "/";
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    cur += part + "/";
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      error = "cannot create directory " + cur + ": " + std::strerror(errno);
      return false;
    }
  }
  return true;
}

static bool fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

bool FileReleasePersistence::init(std::string& error) {
  if (!mkdirs(dir_, error)) return false;
  std::string probe = dir_ + "/.write-probe";
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    error = "data dir " + dir_ + " is not writable: " + std::strerror(errno);
    return false;
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return true;
}

// Write temp → fsync → rename → fsync dir: a crash never leaves a half-written file.
static bool write_durably(const std::string& dir, const std::string& name, std::string_view bytes, std::string& error) {
  std::string final_path = dir + "/" + name;
  std::string tmp = dir + "/." + name + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    error = std::string("cannot create release file: ") + std::strerror(errno);
    return false;
  }
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = std::string("cannot write release file: ") + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    error = std::string("cannot sync release file: ") + std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    error = std::string("cannot rename release file: ") + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (!fsync_dir(dir)) {
    error = std::string("cannot sync data dir: ") + std::strerror(errno);
    return false;
  }
  return true;
}

bool FileReleasePersistence::save(const Release& r, std::string& error) {
  std::string hex = crypto::hex(r.info_hash);
  if (!write_durably(dir_, hex + ".torrent", r.torrent, error)) return false;
  if (!(r.origin == OriginPolicy{})) return save_origin(r.info_hash, r.origin, error);
  return true;
}

bool FileReleasePersistence::save_origin(const store::InfoHash& h, const OriginPolicy& p, std::string& error) {
  return write_durably(dir_, crypto::hex(h) + kOriginSuffix, origin_policy_json(p), error);
}

bool FileReleasePersistence::remove(const store::InfoHash& h, std::string& error) {
  std::string path = dir_ + "/" + crypto::hex(h) + ".torrent";
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    error = std::string("cannot delete release file: ") + std::strerror(errno);
    return false;
  }
  ::unlink((dir_ + "/" + crypto::hex(h) + std::string(kOriginSuffix)).c_str());
  fsync_dir(dir_);
  return true;
}

std::vector<Release> FileReleasePersistence::load_all() {
  std::vector<Release> out;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() != 48 || name.substr(40) != ".torrent") {
      if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") ::unlink((dir_ + "/" + name).c_str());
      continue;
    }
    std::ifstream f(dir_ + "/" + name, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    auto parsed = parse_torrent(ss.str());
    if (!parsed.release || crypto::hex(parsed.release->info_hash) != name.substr(0, 40)) {
      log::error("skipping unreadable release file", {{"file", name}, {"error", parsed.error}});
      continue;
    }
    std::ifstream of(dir_ + "/" + name.substr(0, 40) + std::string(kOriginSuffix), std::ios::binary);
    if (of) {
      std::stringstream os;
      os << of.rdbuf();
      if (auto err = parse_origin_policy(os.str(), parsed.release->origin))
        log::error("ignoring unreadable origin policy", {{"file", name}, {"error", *err}});
    }
    out.push_back(std::move(*parsed.release));
  }
  ::closedir(d);
  return out;
}

void ReleaseRegistry::load() {
  if (!persistence_) return;
  auto all = persistence_->load_all();
  std::unique_lock lk(mu_);
  for (auto& r : all) {
    auto h = r.info_hash;
    releases_[h] = std::make_shared<const Release>(std::move(r));
  }
}

bool ReleaseRegistry::refresh() {
  if (!persistence_) return false;
  uint64_t before = local_changes_.load();
  auto all = persistence_->try_load_all();
  if (!all) return false;
  std::unordered_map<store::InfoHash, std::shared_ptr<const Release>, store::InfoHashHasher> fresh;
  for (auto& r : *all) {
    auto h = r.info_hash;
    fresh[h] = std::make_shared<const Release>(std::move(r));
  }
  std::unique_lock lk(mu_);
  if (local_changes_.load() != before) return false;  // an add/remove raced this read: next round
  releases_.swap(fresh);
  return true;
}

ReleaseRegistry::AddResult ReleaseRegistry::add(const Release& r, std::string& error) {
  {
    std::shared_lock lk(mu_);
    if (releases_.count(r.info_hash)) return AddResult::exists;
  }
  // Persist before publishing: a release is only announced-to once it is durable.
  if (persistence_ && !persistence_->save(r, error)) return AddResult::storage_error;
  std::unique_lock lk(mu_);
  local_changes_++;
  auto [it, inserted] = releases_.emplace(r.info_hash, std::make_shared<const Release>(r));
  return inserted ? AddResult::created : AddResult::exists;
}

bool ReleaseRegistry::remove(const store::InfoHash& h, std::string& error) {
  {
    std::shared_lock lk(mu_);
    if (!releases_.count(h)) {
      error = "not found";
      return false;
    }
  }
  if (persistence_ && !persistence_->remove(h, error)) return false;
  std::unique_lock lk(mu_);
  local_changes_++;
  releases_.erase(h);
  return true;
}

bool ReleaseRegistry::set_origin_policy(const store::InfoHash& h, const OriginPolicy& p, std::string& error) {
  std::shared_ptr<const Release> cur;
  {
    std::shared_lock lk(mu_);
    auto it = releases_.find(h);
    if (it == releases_.end()) {
      error = "not found";
      return false;
    }
    cur = it->second;
  }
  if (persistence_ && !persistence_->save_origin(h, p, error)) return false;
  auto next = std::make_shared<Release>(*cur);
  next->origin = p;
  std::unique_lock lk(mu_);
  local_changes_++;
  if (auto it = releases_.find(h); it != releases_.end()) it->second = std::move(next);
  return true;
}

std::optional<OriginPolicy> ReleaseRegistry::origin_policy(const store::InfoHash& h) const {
  std::shared_lock lk(mu_);
  auto it = releases_.find(h);
  if (it == releases_.end()) return std::nullopt;
  return it->second->origin;
}

bool ReleaseRegistry::contains(const store::InfoHash& h) const {
  std::shared_lock lk(mu_);
  return releases_.count(h) != 0;
}

bool ReleaseRegistry::lookup_async(const store::InfoHash& h, std::function<void(bool)> done) {
  if (!persistence_ || !persistence_->reads_through()) return false;
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lk(lookup_mu_);
    if (auto it = misses_.find(h); it != misses_.end()) {
      if (now - it->second < kNegativeTtl) return false;
      misses_.erase(it);
    }
    if (auto it = lookups_.find(h); it != lookups_.end()) {
      it->second.push_back(std::move(done));
      return true;
    }
    if (lookups_.size() >= kMaxLookupsInFlight) return false;
    lookups_[h].push_back(std::move(done));
  }
  persistence_->fetch_async(h, [this, h](bool ok, std::optional<Release> r) {
    bool known = false;
    if (r && r->info_hash == h) {
      std::unique_lock lk(mu_);
      local_changes_++;  // a refresh that read the backend before this release existed must not drop it
      releases_.emplace(h, std::make_shared<const Release>(std::move(*r)));
      known = true;
    }
    std::vector<std::function<void(bool)>> waiting;
    {
      std::lock_guard lk(lookup_mu_);
      auto it = lookups_.find(h);
      if (it != lookups_.end()) {
        waiting = std::move(it->second);
        lookups_.erase(it);
      }
      // A failed read is not cached as a miss: the next announce asks again.
      if (!known && ok) {
        if (misses_.size() >= kNegativeMax) misses_.clear();
        misses_[h] = std::chrono::steady_clock::now();
      }
    }
    for (auto& w : waiting) w(known);
  });
  return true;
}

std::optional<Release> ReleaseRegistry::get(const store::InfoHash& h) const {
  std::shared_lock lk(mu_);
  auto it = releases_.find(h);
  if (it == releases_.end()) return std::nullopt;
  return *it->second;
}

std::vector<Release> ReleaseRegistry::list() const {
  std::shared_lock lk(mu_);
  std::vector<Release> out;
  for (const auto& [h, r] : releases_) out.push_back(*r);
  return out;
}

size_t ReleaseRegistry::size() const {
  std::shared_lock lk(mu_);
  return releases_.size();
}

}  // namespace otaswarm
