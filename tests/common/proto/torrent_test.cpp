#include "common/proto/torrent.h"

#include <gtest/gtest.h>

#include <string>

#include "common/crypto.h"
#include "common/proto/bencode.h"

namespace otaswarm::torrent {
namespace {

using bencode::Dict;
using bencode::List;
using bencode::Value;

constexpr int64_t kPieceLength = 16384;

Dict info_dict(int64_t length, int64_t priv = 1) {
  int64_t pieces = (length + kPieceLength - 1) / kPieceLength;
  return Dict{{"length", Value(length)},
              {"name", "ota-1.2.3.zip"},
              {"piece length", Value(kPieceLength)},
              {"pieces", std::string(static_cast<size_t>(pieces) * 20, 'p')},
              {"private", Value(priv)}};
}

std::string encode(Dict info) {
  Dict t{{"info", std::move(info)},
         {"announce", "udp://tracker.example:6969/announce"},
         {"announce-list", List{List{"udp://tracker.example:6969/announce", "https://t2.example/announce"}}},
         {"url-list", List{"https://s3.example/ota.zip"}}};
  return bencode::encode(Value(std::move(t)));
}

Error error_of(std::string_view bytes) {
  auto p = parse(bytes);
  EXPECT_FALSE(p);
  EXPECT_FALSE(p.message.empty());
  return p.error;
}

TEST(Torrent, ReadsAV1Torrent) {
  auto info = info_dict(100000);
  auto p = parse(encode(info));
  ASSERT_TRUE(p) << p.message;
  EXPECT_EQ(p.error, Error::none);
  const Metainfo& m = *p.metainfo;
  EXPECT_EQ(m.info_hash, crypto::sha1(bencode::encode(Value(info))));
  EXPECT_EQ(m.name, "ota-1.2.3.zip");
  EXPECT_EQ(m.length, 100000u);
  EXPECT_EQ(m.piece_length, 16384u);
  EXPECT_EQ(m.pieces, 7u);
  EXPECT_TRUE(m.is_private);
  EXPECT_EQ(m.webseeds, std::vector<std::string>{"https://s3.example/ota.zip"});
  EXPECT_EQ(m.trackers,
            (std::vector<std::string>{"udp://tracker.example:6969/announce", "https://t2.example/announce"}));
}

TEST(Torrent, PrivateIsReportedNotRequired) {
  auto p = parse(encode(info_dict(100, 0)));
  ASSERT_TRUE(p) << p.message;
  EXPECT_FALSE(p.metainfo->is_private);
  Dict string_flag = info_dict(100);
  string_flag["private"] = "1";
  EXPECT_FALSE(parse(encode(string_flag)).metainfo->is_private);
}

TEST(Torrent, SumsMultiFileLengths) {
  Dict info = info_dict(0);
  info.erase("length");
  info["files"] = List{Dict{{"length", Value(int64_t{20000})}, {"path", List{"a"}}},
                       Dict{{"length", Value(int64_t{12768})}, {"path", List{"b"}}}};
  info["pieces"] = std::string(2 * 20, 'p');
  auto p = parse(bencode::encode(Value(Dict{{"info", info}, {"url-list", "https://s3.example/dir/"}})));
  ASSERT_TRUE(p) << p.message;
  EXPECT_EQ(p.metainfo->length, 32768u);
  EXPECT_EQ(p.metainfo->webseeds, std::vector<std::string>{"https://s3.example/dir/"});
}

TEST(Torrent, InfoHashUsesTheRawBytesEvenWithUnsortedKeys) {
  std::string raw_info = "d6:lengthi1e4:name1:x6:pieces20:" + std::string(20, 'p') +
                         "12:piece lengthi16384e7:privatei1ee";  // "pieces" before "piece length"
  auto p = parse("d4:info" + raw_info + "e");
  ASSERT_TRUE(p) << p.message;
  EXPECT_EQ(p.metainfo->info_hash, crypto::sha1(raw_info));
}

TEST(Torrent, NamesWhatIsWrong) {
  EXPECT_EQ(error_of(""), Error::not_bencoded);
  EXPECT_EQ(error_of("not bencode"), Error::not_bencoded);
  EXPECT_EQ(error_of(encode(info_dict(100)) + "x"), Error::not_bencoded);
  EXPECT_EQ(error_of("d4:infoi1ee"), Error::no_info);
  EXPECT_EQ(error_of("d8:announce1:xe"), Error::no_info);
  EXPECT_EQ(error_of("le"), Error::no_info);

  auto bad = [](auto edit) {
    Dict d = info_dict(100);
    edit(d);
    return error_of(encode(d));
  };
  EXPECT_EQ(bad([](Dict& d) { d.erase("name"); }), Error::no_name);
  EXPECT_EQ(bad([](Dict& d) { d["name"] = ""; }), Error::no_name);
  EXPECT_EQ(bad([](Dict& d) { d["piece length"] = Value(int64_t{0}); }), Error::bad_piece_layout);
  EXPECT_EQ(bad([](Dict& d) { d["pieces"] = std::string(19, 'p'); }), Error::bad_piece_layout);
  EXPECT_EQ(bad([](Dict& d) { d["pieces"] = std::string(40, 'p'); }), Error::piece_count_mismatch);
  EXPECT_EQ(bad([](Dict& d) { d["length"] = Value(int64_t{-1}); }), Error::no_length);
  EXPECT_EQ(bad([](Dict& d) { d.erase("length"); }), Error::no_length);
  EXPECT_EQ(bad([](Dict& d) {
              d.erase("length");
              d["files"] = List{Dict{{"path", List{"a"}}}};
            }),
            Error::bad_file_length);
}

TEST(Torrent, RefusesFileLengthsThatOverflow) {
  // 2 × (2^63 − 1) + 3 wraps to 1 in 64 bits: must not pass as a one-piece, one-byte torrent.
  Dict d = info_dict(1);
  d.erase("length");
  d["files"] = List{Dict{{"length", Value(INT64_MAX)}, {"path", List{"a"}}},
                    Dict{{"length", Value(INT64_MAX)}, {"path", List{"b"}}},
                    Dict{{"length", Value(int64_t{3})}, {"path", List{"c"}}}};
  EXPECT_EQ(error_of(encode(d)), Error::length_overflow);
}

TEST(Torrent, OneSizeLimit) {
  EXPECT_EQ(error_of(std::string(kMaxTorrentBytes + 1, 'd')), Error::too_large);
  // At the limit the size is not the reason (the content still has to be a torrent).
  EXPECT_EQ(error_of(std::string(kMaxTorrentBytes, 'd')), Error::not_bencoded);
}

}  // namespace
}  // namespace otaswarm::torrent
