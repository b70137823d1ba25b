#include "common/proto/torrent.h"

#include <algorithm>

#include "common/proto/bencode.h"

namespace otaswarm::torrent {

namespace {

constexpr size_t kPieceHashBytes = 20;

Parsed fail(Error e, std::string message) {
  Parsed p;
  p.error = e;
  p.message = std::move(message);
  return p;
}

void collect_urls(const bencode::Value& root, Metainfo& m) {
  if (const bencode::Value* ul = root.find("url-list")) {
    if (ul->is_string()) m.webseeds.push_back(ul->as_string());
    else if (ul->is_list())
      for (const auto& u : ul->as_list())
        if (u.is_string()) m.webseeds.push_back(u.as_string());
  }
  if (const bencode::Value* a = root.find("announce"); a && a->is_string()) m.trackers.push_back(a->as_string());
  if (const bencode::Value* al = root.find("announce-list"); al && al->is_list())
    for (const auto& tier : al->as_list())
      if (tier.is_list())
        for (const auto& u : tier.as_list())
          if (u.is_string() && std::find(m.trackers.begin(), m.trackers.end(), u.as_string()) == m.trackers.end())
            m.trackers.push_back(u.as_string());
}

}  // namespace

Parsed parse(std::string_view bytes) {
  if (bytes.size() > kMaxTorrentBytes) return fail(Error::too_large, "torrent larger than " + std::to_string(kMaxTorrentBytes >> 20) + " MiB");
  bencode::Limits lim;
  lim.strict_key_order = false;  // accept torrents from lenient tools; the info hash uses the raw bytes
  auto res = bencode::decode(bytes, lim);
  if (!res)
    return fail(Error::not_bencoded, std::string("not a valid bencoded torrent: ") + bencode::to_string(res.error) +
                                         " at byte " + std::to_string(res.error_offset));
  const bencode::Value* info = res.value.find("info");
  if (!info || !info->is_dict()) return fail(Error::no_info, "torrent has no info dictionary");
  Metainfo m;
  m.info_hash = crypto::sha1(bytes.substr(info->raw_offset, info->raw_length));
  const bencode::Value* priv = info->find("private");
  m.is_private = priv && priv->is_int() && priv->as_int() == 1;
  const bencode::Value* name = info->find("name");
  if (!name || !name->is_string() || name->as_string().empty()) return fail(Error::no_name, "torrent has no name");
  m.name = name->as_string();
  const bencode::Value* pl = info->find("piece length");
  const bencode::Value* pieces = info->find("pieces");
  if (!pl || !pl->is_int() || pl->as_int() <= 0 || !pieces || !pieces->is_string() ||
      pieces->as_string().size() % kPieceHashBytes != 0 || pieces->as_string().empty())
    return fail(Error::bad_piece_layout, "torrent has no valid v1 piece layout (piece length / pieces)");
  m.piece_length = static_cast<uint64_t>(pl->as_int());
  m.pieces = static_cast<uint32_t>(pieces->as_string().size() / kPieceHashBytes);
  if (const bencode::Value* len = info->find("length"); len && len->is_int() && len->as_int() >= 0) {
    m.length = static_cast<uint64_t>(len->as_int());
  } else if (const bencode::Value* files = info->find("files"); files && files->is_list()) {
    for (const auto& f : files->as_list()) {
      const bencode::Value* fl = f.find("length");
      if (!fl || !fl->is_int() || fl->as_int() < 0)
        return fail(Error::bad_file_length, "torrent file entry without a valid length");
      if (static_cast<uint64_t>(fl->as_int()) > UINT64_MAX - m.length)
        return fail(Error::length_overflow, "torrent file lengths overflow");
      m.length += static_cast<uint64_t>(fl->as_int());
    }
  } else {
    return fail(Error::no_length, "torrent has neither length nor files");
  }
  uint64_t expected = m.length == 0 ? 0 : (m.length - 1) / m.piece_length + 1;  // no overflow near 2^64
  if (expected != m.pieces) return fail(Error::piece_count_mismatch, "piece count does not match the length");
  collect_urls(res.value, m);
  Parsed p;
  p.metainfo = std::move(m);
  return p;
}

}  // namespace otaswarm::torrent
