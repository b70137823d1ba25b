#include "tracker/release_registry.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/proto/bencode.h"
#include "common/crypto.h"
#include "common/proto/torrent.h"

namespace otaswarm {
namespace {

namespace fs = std::filesystem;
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

std::string torrent(Dict info, bool with_extras = true) {
  Dict t{{"info", std::move(info)}};
  if (with_extras) {
    t["announce"] = "udp://tracker.example:6969/announce";
    t["announce-list"] = List{List{"udp://tracker.example:6969/announce", "https://t2.example/announce"}};
    t["url-list"] = List{"https://s3.example/ota.zip"};
  }
  return bencode::encode(Value(std::move(t)));
}

std::string expected_hash(const Dict& info) {
  auto d = crypto::sha1(bencode::encode(Value(info)));
  return crypto::hex(d);
}

TEST(ParseTorrent, AcceptsAPrivateV1Torrent) {
  auto info = info_dict(100000);
  std::string bytes = torrent(info);
  auto p = parse_torrent(bytes);
  ASSERT_TRUE(p.release) << p.error;
  const Release& r = *p.release;
  EXPECT_EQ(crypto::hex(r.info_hash), expected_hash(info));
  EXPECT_EQ(r.name, "ota-1.2.3.zip");
  EXPECT_EQ(r.length, 100000u);
  EXPECT_EQ(r.piece_length, 16384u);
  EXPECT_EQ(r.pieces, 7u);
  EXPECT_EQ(r.webseeds, std::vector<std::string>{"https://s3.example/ota.zip"});
  EXPECT_EQ(r.trackers,
            (std::vector<std::string>{"udp://tracker.example:6969/announce", "https://t2.example/announce"}));
  EXPECT_EQ(r.torrent, bytes);
}

TEST(ParseTorrent, RejectsNonPrivate) {
  EXPECT_FALSE(parse_torrent(torrent(info_dict(100, 0))).release);
  Dict no_flag = info_dict(100);
  no_flag.erase("private");
  auto p = parse_torrent(torrent(no_flag));
  EXPECT_FALSE(p.release);
  EXPECT_NE(p.error.find("private"), std::string::npos);
  Dict string_flag = info_dict(100);
  string_flag["private"] = "1";
  EXPECT_FALSE(parse_torrent(torrent(string_flag)).release);
}

// The structure checks are torrent::parse's (tests/common/proto/torrent_test.cpp); the
// registry passes its refusal on.
TEST(ParseTorrent, PassesTheReadersRefusalOn) {
  auto p = parse_torrent("not bencode");
  EXPECT_FALSE(p.release);
  EXPECT_EQ(p.error, torrent::parse("not bencode").message);
  Dict d = info_dict(100);
  d["pieces"] = std::string(40, 'p');  // two pieces for 100 bytes
  EXPECT_FALSE(parse_torrent(torrent(d)).release);
  EXPECT_FALSE(parse_torrent(std::string(torrent::kMaxTorrentBytes + 1, 'd')).release);
}

class PersistenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("otaswarm-registry-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Release release(int64_t length) {
    auto p = parse_torrent(torrent(info_dict(length)));
    EXPECT_TRUE(p.release) << p.error;
    return *p.release;
  }

  fs::path dir_;
};

TEST_F(PersistenceTest, SaveLoadRoundTrip) {
  FileReleasePersistence files(dir_.string());
  std::string err;
  ASSERT_TRUE(files.init(err)) << err;
  Release a = release(1000), b = release(2000);
  ASSERT_TRUE(files.save(a, err)) << err;
  ASSERT_TRUE(files.save(b, err)) << err;
  EXPECT_TRUE(fs::exists(dir_ / "releases" / (crypto::hex(a.info_hash) + ".torrent")));

  ReleaseRegistry reg(&files);
  reg.load();
  EXPECT_EQ(reg.size(), 2u);
  ASSERT_TRUE(reg.get(a.info_hash));
  EXPECT_EQ(reg.get(a.info_hash)->torrent, a.torrent);
  EXPECT_EQ(reg.get(b.info_hash)->length, 2000u);

  ASSERT_TRUE(reg.remove(a.info_hash, err)) << err;
  ReleaseRegistry again(&files);
  again.load();
  EXPECT_EQ(again.size(), 1u);
  EXPECT_FALSE(again.contains(a.info_hash));
}

TEST_F(PersistenceTest, StrayTempFileIsIgnoredAndCorruptFileSkipped) {
  FileReleasePersistence files(dir_.string());
  std::string err;
  ASSERT_TRUE(files.init(err)) << err;
  Release good = release(5000);
  ASSERT_TRUE(files.save(good, err));
  Release other = release(7000);
  std::string other_hex = crypto::hex(other.info_hash);
  // A crash between write and rename leaves only the temp file.
  std::ofstream(dir_ / "releases" / ("." + other_hex + ".tmp"), std::ios::binary) << other.torrent.substr(0, 10);
  // A torn or tampered final file.
  std::ofstream(dir_ / "releases" / (std::string(40, 'a') + ".torrent"), std::ios::binary) << "d4:info";
  // A valid torrent under the wrong name.
  std::ofstream(dir_ / "releases" / (std::string(40, 'b') + ".torrent"), std::ios::binary) << other.torrent;
  std::ofstream(dir_ / "releases" / "README", std::ios::binary) << "not a release";

  auto loaded = files.load_all();
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].info_hash, good.info_hash);
  EXPECT_FALSE(fs::exists(dir_ / "releases" / ("." + other_hex + ".tmp")));
}

TEST_F(PersistenceTest, LoadFromMissingDirIsEmpty) {
  FileReleasePersistence files((dir_ / "never-created").string());
  EXPECT_TRUE(files.load_all().empty());
}

TEST_F(PersistenceTest, InitFailsOnAnUnwritablePath) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";
  FileReleasePersistence files((dir_ / "file").string());
  std::string err;
  EXPECT_FALSE(files.init(err));
  EXPECT_FALSE(err.empty());
}

TEST(ReleaseRegistry, InMemoryAddRemove) {
  ReleaseRegistry reg(nullptr);
  Release r;
  r.info_hash.fill(3);
  r.name = "x";
  std::string err;
  EXPECT_EQ(reg.add(r, err), ReleaseRegistry::AddResult::created);
  EXPECT_EQ(reg.add(r, err), ReleaseRegistry::AddResult::exists);
  EXPECT_TRUE(reg.contains(r.info_hash));
  EXPECT_EQ(reg.list().size(), 1u);
  EXPECT_TRUE(reg.remove(r.info_hash, err));
  EXPECT_FALSE(reg.remove(r.info_hash, err));
  EXPECT_EQ(err, "not found");
  EXPECT_FALSE(reg.get(r.info_hash));
}

// A backend that answers reads when the test says so: what another replica registered
// shows up through lookup_async, concurrent lookups share one read, misses are cached.
class DeferredPersistence final : public ReleasePersistence {
 public:
  bool save(const Release&, std::string&) override { return true; }
  bool remove(const store::InfoHash&, std::string&) override { return true; }
  bool save_origin(const store::InfoHash&, const OriginPolicy&, std::string&) override { return true; }
  std::vector<Release> load_all() override { return {}; }
  bool reads_through() const override { return true; }
  void fetch_async(const store::InfoHash& h, FetchDone done) override { reads.push_back({h, std::move(done)}); }
  void answer(size_t i, bool ok, std::optional<Release> r) { reads[i].second(ok, std::move(r)); }
  std::vector<std::pair<store::InfoHash, FetchDone>> reads;
};

TEST(ReleaseRegistry, ReadThroughOnAnUnknownHash) {
  DeferredPersistence p;
  ReleaseRegistry reg(&p);
  Release r;
  r.info_hash.fill(7);
  int yes = 0, no = 0;
  auto count = [&](bool known) { (known ? yes : no)++; };
  EXPECT_TRUE(reg.lookup_async(r.info_hash, count));
  EXPECT_TRUE(reg.lookup_async(r.info_hash, count));
  ASSERT_EQ(p.reads.size(), 1u) << "concurrent lookups of one hash share one read";
  p.answer(0, true, r);
  EXPECT_EQ(yes, 2);
  EXPECT_TRUE(reg.contains(r.info_hash));

  store::InfoHash unknown;
  unknown.fill(9);
  EXPECT_TRUE(reg.lookup_async(unknown, count));
  p.answer(1, true, std::nullopt);
  EXPECT_EQ(no, 1);
  EXPECT_FALSE(reg.lookup_async(unknown, count)) << "a recent miss is answered from the negative cache";
  EXPECT_EQ(p.reads.size(), 2u);

  store::InfoHash flaky;
  flaky.fill(11);
  EXPECT_TRUE(reg.lookup_async(flaky, count));
  p.answer(2, false, std::nullopt);
  EXPECT_TRUE(reg.lookup_async(flaky, count)) << "a failed read is not cached as a miss";
}

TEST(ReleaseRegistry, BoundedLookupsInFlight) {
  DeferredPersistence p;
  ReleaseRegistry reg(&p);
  size_t started = 0;
  for (size_t i = 0; i < ReleaseRegistry::kMaxLookupsInFlight + 10; ++i) {
    store::InfoHash h{};
    h[0] = static_cast<uint8_t>(i);
    h[1] = static_cast<uint8_t>(i >> 8);
    started += reg.lookup_async(h, [](bool) {});
  }
  EXPECT_EQ(started, ReleaseRegistry::kMaxLookupsInFlight);
  for (size_t i = 0; i < p.reads.size(); ++i) p.answer(i, true, std::nullopt);
}

TEST(ReleaseRegistry, FilesDoNotReadThrough) {
  ReleaseRegistry reg(nullptr);
  store::InfoHash h{};
  EXPECT_FALSE(reg.lookup_async(h, [](bool) { FAIL(); }));
}

}  // namespace
}  // namespace otaswarm
