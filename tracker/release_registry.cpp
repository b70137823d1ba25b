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

#include "common/proto/bencode.h"
#include "common/crypto.h"
#include "common/log.h"

namespace otaswarm {

ParsedTorrent parse_torrent(std::string_view bytes) {
  ParsedTorrent out;
  if (bytes.size() > kMaxTorrentBytes) {
    out.error = "torrent larger than 16 MiB";
    return out;
  }
  bencode::Limits lim;
  lim.strict_key_order = false;  // accept torrents from lenient tools; the info hash uses the raw bytes
  auto res = bencode::decode(bytes, lim);
  if (!res) {
    out.error = std::string("not a valid bencoded torrent: ") + bencode::to_string(res.error) + " at byte " +
                std::to_string(res.error_offset);
    return out;
  }
  const bencode::Value* info = res.value.find("info");
  if (!info || !info->is_dict()) {
    out.error = "torrent has no info dictionary";
    return out;
  }
  Release r;
  auto digest = crypto::sha1(bytes.substr(info->raw_offset, info->raw_length));
  std::memcpy(r.info_hash.data(), digest.data(), 20);
  const bencode::Value* priv = info->find("private");
  if (!priv || !priv->is_int() || priv->as_int() != 1) {
    out.error = "torrent is not private (info.private must be 1)";
    return out;
  }
  const bencode::Value* name = info->find("name");
  if (!name || !name->is_string() || name->as_string().empty()) {
    out.error = "torrent has no name";
    return out;
  }
  r.name = name->as_string();
  const bencode::Value* pl = info->find("piece length");
  const bencode::Value* pieces = info->find("pieces");
  if (!pl || !pl->is_int() || pl->as_int() <= 0 || !pieces || !pieces->is_string() ||
      pieces->as_string().size() % 20 != 0 || pieces->as_string().empty()) {
    out.error = "torrent has no valid v1 piece layout (piece length / pieces)";
    return out;
  }
  r.piece_length = static_cast<uint64_t>(pl->as_int());
  r.pieces = static_cast<uint32_t>(pieces->as_string().size() / 20);
  if (const bencode::Value* len = info->find("length"); len && len->is_int() && len->as_int() >= 0) {
    r.length = static_cast<uint64_t>(len->as_int());
  } else if (const bencode::Value* files = info->find("files"); files && files->is_list()) {
    for (const auto& f : files->as_list()) {
      const bencode::Value* fl = f.find("length");
      if (!fl || !fl->is_int() || fl->as_int() < 0) {
        out.error = "torrent file entry without a valid length";
        return out;
      }
      if (static_cast<uint64_t>(fl->as_int()) > UINT64_MAX - r.length) {
        out.error = "torrent file lengths overflow";
        return out;
      }
      r.length += static_cast<uint64_t>(fl->as_int());
    }
  } else {
    out.error = "torrent has neither length nor files";
    return out;
  }
  uint64_t expected = r.length == 0 ? 0 : (r.length - 1) / r.piece_length + 1;  // no overflow near 2^64
  if (expected != r.pieces) {
    out.error = "piece count does not match the length";
    return out;
  }
  if (const bencode::Value* ul = res.value.find("url-list")) {
    if (ul->is_string()) r.webseeds.push_back(ul->as_string());
    else if (ul->is_list())
      for (const auto& u : ul->as_list())
        if (u.is_string()) r.webseeds.push_back(u.as_string());
  }
  if (const bencode::Value* a = res.value.find("announce"); a && a->is_string()) r.trackers.push_back(a->as_string());
  if (const bencode::Value* al = res.value.find("announce-list"); al && al->is_list())
    for (const auto& tier : al->as_list())
      if (tier.is_list())
        for (const auto& u : tier.as_list())
          if (u.is_string() && std::find(r.trackers.begin(), r.trackers.end(), u.as_string()) == r.trackers.end())
            r.trackers.push_back(u.as_string());
  r.torrent.assign(bytes);
  out.release = std::move(r);
  return out;
}

FileReleasePersistence::FileReleasePersistence(std::string data_dir) : dir_(std::move(data_dir) + "/releases") {}

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

bool FileReleasePersistence::save(const Release& r, std::string& error) {
  std::string hex = crypto::hex(r.info_hash);
  std::string final_path = dir_ + "/" + hex + ".torrent";
  std::string tmp = dir_ + "/." + hex + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    error = std::string("cannot create release file: ") + std::strerror(errno);
    return false;
  }
  const char* p = r.torrent.data();
  size_t left = r.torrent.size();
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
  if (!fsync_dir(dir_)) {
    error = std::string("cannot sync data dir: ") + std::strerror(errno);
    return false;
  }
  return true;
}

bool FileReleasePersistence::remove(const store::InfoHash& h, std::string& error) {
  std::string path = dir_ + "/" + crypto::hex(h) + ".torrent";
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    error = std::string("cannot delete release file: ") + std::strerror(errno);
    return false;
  }
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

bool ReleaseRegistry::contains(const store::InfoHash& h) const {
  std::shared_lock lk(mu_);
  return releases_.count(h) != 0;
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
