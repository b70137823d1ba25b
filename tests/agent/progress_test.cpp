#include "agent/progress.h"

#include <gtest/gtest.h>

namespace otaswarm::agent {
namespace {

ProgressSnapshot snap() {
  ProgressSnapshot s;
  s.progress = 0.41234;
  s.state = "downloading";
  s.bytes.received[static_cast<size_t>(Path::webseed)] = 1000;
  s.bytes.received[static_cast<size_t>(Path::lan)] = 24;
  s.total_wanted = 2500;
  s.peers = 2;
  s.download_rate = 2048;
  s.seconds = 1.23456;
  return s;
}

TEST(Progress, JsonLineHasTheContractFields) {
  Json j = progress_json(snap());
  EXPECT_DOUBLE_EQ(j["progress"].get<double>(), 0.4123);
  EXPECT_EQ(j["bytes"]["webseed"], 1000);
  EXPECT_EQ(j["bytes"]["lan"], 24);
  for (const char* k : {"direct", "punched", "relayed"}) EXPECT_EQ(j["bytes"][k], 0) << k;
  EXPECT_EQ(j["size"], 2500);
  EXPECT_DOUBLE_EQ(j["seconds"].get<double>(), 1.235);
}

TEST(Progress, ProgressIsClamped) {
  ProgressSnapshot s = snap();
  s.progress = 1.7;
  EXPECT_DOUBLE_EQ(progress_json(s)["progress"].get<double>(), 1.0);
  s.progress = -1;
  EXPECT_DOUBLE_EQ(progress_json(s)["progress"].get<double>(), 0.0);
}

TEST(Progress, DoneAndErrorLines) {
  ByteTotals t;
  t.received[0] = 5;
  EXPECT_EQ(json_dump(done_json(t, 2.0)),
            R"({"done":true,"verified":true,"bytes":{"webseed":5,"lan":0,"direct":0,"punched":0,"relayed":0},"uploaded":0,"seconds":2.0})");
  Json e = error_json("interrupted", t, 1.0);
  EXPECT_EQ(e["done"], false);
  EXPECT_EQ(e["error"], "interrupted");
}

TEST(Progress, Bar) {
  std::string bar = progress_bar(snap(), 10);
  EXPECT_EQ(bar.substr(0, 12), "[####......]");
  EXPECT_NE(bar.find("41.2%"), std::string::npos);
  EXPECT_NE(bar.find("web 1.0 kB"), std::string::npos);
  EXPECT_EQ(human_bytes(999), "999 B");
  EXPECT_EQ(human_bytes(1500000), "1.5 MB");
}

}  // namespace
}  // namespace otaswarm::agent
