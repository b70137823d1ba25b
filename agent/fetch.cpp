#include "agent/fetch.h"

#include <libtorrent/alert_types.hpp>
#include <libtorrent/fingerprint.hpp>
#include <libtorrent/read_resume_data.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>
#include <libtorrent/write_resume_data.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "agent/announce_url.h"
#include "agent/bt_accounting.h"
#include "agent/byte_accounting.h"
#include "agent/interfaces.h"
#include "agent/nat_probe_socket.h"
#include "agent/nat_session.h"
#include "agent/progress.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/log.h"
#include "common/proto/nat.h"

namespace otaswarm::agent {
namespace {
namespace lt = libtorrent;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kUserAgent = "otaswarm-agent/0.1.0";
constexpr int kStopTrackerTimeout = 1;                    // seconds for the "stopped" announce on exit
constexpr auto kAlertWait = std::chrono::milliseconds(100);
constexpr const char* kResumeFile = "resume.dat";
constexpr auto kAssociateWait = std::chrono::seconds(3);
constexpr auto kTrackerHold = std::chrono::seconds(10);  // longest wait for the rendezvous before announcing
constexpr auto kProbeWaitOnExit = std::chrono::seconds(10);  // the probe result is logged once, as before

std::string error_text(const lt::error_code& ec) { return ec.message(); }

// Reasons a download is not moving, kept for the stall message (each once, in order seen).
class Reasons {
 public:
  void add(std::string r) {
    if (std::find(items_.begin(), items_.end(), r) != items_.end()) return;
    if (items_.size() >= kMaxReasons) items_.erase(items_.begin());
    items_.push_back(std::move(r));
  }
  std::string joined() const {
    std::string s;
    for (const auto& r : items_) s += (s.empty() ? "" : "; ") + r;
    return s;
  }

 private:
  std::vector<std::string> items_;
};

bool write_file_atomically(const fs::path& path, const std::vector<char>& data, std::string& error) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) {
      error = "cannot write " + tmp.string();
      return false;
    }
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!f.flush()) {
      error = "cannot write " + tmp.string();
      return false;
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    error = "cannot rename " + tmp.string() + ": " + ec.message();
    return false;
  }
  return true;
}

std::optional<std::vector<char>> read_file(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

const char* state_name(lt::torrent_status::state_t s) {
  switch (s) {
    case lt::torrent_status::checking_files: return "checking";
    case lt::torrent_status::downloading_metadata: return "metadata";
    case lt::torrent_status::downloading: return "downloading";
    case lt::torrent_status::finished: return "finished";
    case lt::torrent_status::seeding: return "seeding";
    case lt::torrent_status::checking_resume_data: return "checking";
    default: return "unknown";
  }
}

std::string web_seed_reason(const lt::url_seed_alert& a) {
  std::string msg = a.error_message();
  std::string code_text = a.error ? a.error.message() : "";
  if (msg.find("403") != std::string::npos || code_text.find("403") != std::string::npos)
    return "web seed refused: HTTP 403 (expired presigned URL?)";
  std::string what = !msg.empty() ? msg : code_text;
  return "web seed error: " + (what.empty() ? std::string("unknown") : what);
}

class Fetch {
 public:
  Fetch(const FetchOptions& o, std::ostream& out, const std::atomic<bool>& stop)
      : o_(o), out_(out), stop_(stop), start_(Clock::now()), counters_(std::make_shared<ByteCounters>()) {}

  ~Fetch() {
    if (probe_.joinable()) probe_.join();
    if (nat_) nat_->stop();
  }

  int run() {
    std::string err;
    if (!prepare(err)) return fail(err);
    if (o_.rendezvous) {
      if (!start_nat(err)) return fail(err);
    } else {
      start_probe();
    }
    if (!start_session(err)) return fail(err);
    return loop();
  }

 private:
  bool prepare(std::string& err) {
    lt::error_code ec;
    ti_ = std::make_shared<lt::torrent_info>(o_.torrent_path, ec);
    if (ec) {
      err = "cannot load torrent " + o_.torrent_path + ": " + error_text(ec);
      return false;
    }
    if (!ti_->priv()) {
      err = "torrent " + o_.torrent_path + " is not private (otaswarm releases are private torrents)";
      return false;
    }
    for (const auto& w : o_.webseeds) webseeds_.push_back(w);
    if (webseeds_.empty())
      for (const auto& w : ti_->web_seeds()) webseeds_.push_back(w.url);
    if (webseeds_.empty()) {
      err = "torrent " + o_.torrent_path + " has no web seed (give --webseed URL)";
      return false;
    }
    const auto& v1 = ti_->info_hashes().v1;
    info_hash_ = crypto::hex(std::string_view(reinterpret_cast<const char*>(v1.data()), v1.size()));
    name_ = ti_->name();
    state_dir_ = o_.state_dir.empty() ? fs::path(o_.out_dir) / (".otaswarm-" + info_hash_) : fs::path(o_.state_dir);
    std::error_code fec;
    fs::create_directories(o_.out_dir, fec);
    if (fec) {
      err = "cannot create output dir " + o_.out_dir + ": " + fec.message();
      return false;
    }
    fs::create_directories(state_dir_, fec);
    if (fec) {
      err = "cannot create state dir " + state_dir_.string() + ": " + fec.message();
      return false;
    }

    AnnounceExtras extras;
    if (o_.lan_hint != "off") {
      LanInfo lan = discover_lan(o_.lan_sources, info_hash_);
      if (lan.route)
        if (auto ip = interface_ipv4(lan.route->interface)) extras.localip = *ip;
      localip_ = extras.localip;
      extras.lan = o_.lan_hint == "auto" ? lan.hint : o_.lan_hint;
      if (o_.lan_hint == "auto" && lan.hint.empty()) log::info("no LAN hint", {{"reason", lan.problem}});
    }
    if (!o_.announce.empty()) {
      for (const auto& a : o_.announce) trackers_.push_back({announce_url(a, o_.token, extras), 0});
    } else {
      for (const auto& t : ti_->trackers()) trackers_.push_back({announce_url(t.url, o_.token, extras), t.tier});
    }
    if (trackers_.empty()) log::warn("no tracker: downloading from the web seed only");
    log::info("release", {{"name", name_}, {"info_hash", info_hash_}, {"size", std::to_string(ti_->total_size())},
                          {"state_dir", state_dir_.string()}, {"lan", extras.lan}, {"localip", extras.localip}});
    return true;
  }

  void start_probe() {
    if (!o_.rendezvous_api.empty())
      log::info("rendezvous API given: TURN relaying is not implemented yet", {{"rendezvous_api", o_.rendezvous_api}});
    if (!o_.rendezvous) return;
    ProbeOptions po;
    po.server = *o_.rendezvous;
    probe_ = std::thread([po] {
      boost::asio::ip::udp::endpoint bind(
          po.server.address.is_v4() ? boost::asio::ip::address(boost::asio::ip::address_v4::any())
                                    : boost::asio::ip::address(boost::asio::ip::address_v6::any()),
          0);
      ProbeResult r = run_nat_probe(po, bind);
      log::info("nat probe", {{"mapping", nat::to_string(r.nat.mapping)},
                              {"filtering", nat::to_string(r.nat.filtering)},
                              {"hairpinning", r.hairpinning ? (*r.hairpinning ? "true" : "false") : "null"},
                              {"reflexive", r.reflexive ? net::format(r.reflexive->address, r.reflexive->port) : ""},
                              {"error", r.error}});
    });
  }

  // With a rendezvous the agent owns the public UDP socket at --listen and libtorrent talks
  // through it via the loopback SOCKS5 relay (uTP only; LIBTORRENT.md).
  bool start_nat(std::string& err) {
    auto listen = net::parse_host_port(o_.listen);
    NatSessionOptions no;
    no.listen = boost::asio::ip::udp::endpoint(net::unmap(listen->address), listen->port);
    no.local_networks = local_networks();
    no.rendezvous.server = *o_.rendezvous;
    no.rendezvous.token = o_.token;
    no.rendezvous_api = o_.rendezvous_api;
    const auto& v1 = ti_->info_hashes().v1;
    no.rendezvous.info_hash.assign(reinterpret_cast<const char*>(v1.data()), v1.size());
    try {
      nat_ = std::make_unique<NatSession>(no);
    } catch (const std::exception& e) {
      err = "cannot listen on " + o_.listen + ": " + e.what();
      return false;
    }
    if (auto ip = net::parse_address(localip_); ip && listen->address.is_unspecified())
      log::debug("LAN endpoint", {{"lan", net::format(*ip, nat_->public_local().port())}});
    nat_->start();
    log::info("nat: public socket owned by the agent", {{"listen", net::format(nat_->public_local())},
                                                        {"proxy", "127.0.0.1:" + std::to_string(nat_->proxy_port())}});
    return true;
  }

  bool start_session(std::string& err) {
    lt::settings_pack p;
    p.set_str(lt::settings_pack::listen_interfaces, nat_ ? std::string("0.0.0.0:0") : o_.listen);
    if (nat_) {
      p.set_int(lt::settings_pack::proxy_type, lt::settings_pack::socks5);
      p.set_str(lt::settings_pack::proxy_hostname, "127.0.0.1");
      p.set_int(lt::settings_pack::proxy_port, nat_->proxy_port());
      p.set_bool(lt::settings_pack::proxy_peer_connections, true);
      p.set_bool(lt::settings_pack::proxy_tracker_connections, true);
      // libtorrent resolves names itself: the relay then sees (and rewrites) IPv4 datagrams only.
      p.set_bool(lt::settings_pack::proxy_hostnames, false);
      p.set_bool(lt::settings_pack::socks5_udp_send_local_ep, true);
      p.set_bool(lt::settings_pack::enable_outgoing_tcp, false);
      p.set_bool(lt::settings_pack::enable_incoming_tcp, false);
      p.set_bool(lt::settings_pack::enable_outgoing_utp, true);
      p.set_bool(lt::settings_pack::enable_incoming_utp, true);
      // A punched peer is dialled at the common start even if an earlier try failed.
      p.set_int(lt::settings_pack::min_reconnect_time, 1);
    }
    p.set_bool(lt::settings_pack::enable_dht, false);
    p.set_bool(lt::settings_pack::enable_lsd, false);
    p.set_bool(lt::settings_pack::enable_upnp, false);
    p.set_bool(lt::settings_pack::enable_natpmp, false);
    p.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, true);
    p.set_bool(lt::settings_pack::announce_to_all_trackers, true);
    p.set_bool(lt::settings_pack::announce_to_all_tiers, true);
    p.set_str(lt::settings_pack::user_agent, kUserAgent);
    p.set_str(lt::settings_pack::peer_fingerprint, lt::generate_fingerprint("OA", 0, 1, 0, 0));
    p.set_int(lt::settings_pack::stop_tracker_timeout, kStopTrackerTimeout);
    p.set_int(lt::settings_pack::alert_mask, lt::alert_category::error | lt::alert_category::status |
                                                 lt::alert_category::storage | lt::alert_category::tracker);
    session_ = std::make_unique<lt::session>(lt::session_params(p));
    if (nat_) {
      // libtorrent drops (EACCES) tracker datagrams sent before its UDP association is up.
      auto deadline = Clock::now() + kAssociateWait;
      while (!nat_->associated() && Clock::now() < deadline) std::this_thread::sleep_for(kAlertWait / 10);
      if (!nat_->associated()) log::warn("nat: libtorrent has not associated with the relay yet");
    }

    lt::add_torrent_params atp;
    bool resumed = false;
    if (auto buf = read_file(state_dir_ / kResumeFile)) {
      lt::error_code ec;
      lt::add_torrent_params rd = lt::read_resume_data(lt::span<char const>(buf->data(), static_cast<long>(buf->size())), ec);
      if (ec) {
        log::warn("resume data unreadable: starting over", {{"error", error_text(ec)}});
      } else if (rd.info_hashes.v1 != ti_->info_hashes().v1) {
        log::warn("resume data is for another release: starting over");
      } else {
        atp = std::move(rd);
        resumed = true;
      }
    }
    atp.ti = ti_;
    atp.save_path = state_dir_.string();
    atp.flags &= ~(lt::torrent_flags::paused | lt::torrent_flags::auto_managed | lt::torrent_flags::seed_mode);
    atp.flags |= lt::torrent_flags::override_trackers | lt::torrent_flags::override_web_seeds;
    atp.trackers.clear();
    atp.tracker_tiers.clear();
    // With NAT traversal the trackers come in once the rendezvous answered (or gave up): the
    // first announce then carries the ticket and the port the rendezvous saw, which an early
    // re-announce would not change at the tracker. The web seed starts at once either way.
    if (!nat_) {
      for (const auto& [url, tier] : trackers_) {
        atp.trackers.push_back(url);
        atp.tracker_tiers.push_back(tier);
      }
    }
    atp.url_seeds = webseeds_;
    atp.http_seeds.clear();
    PeerPath punched;
    if (nat_) punched = [nat = nat_.get()](const net::Address& a, uint16_t port) { return nat->path_of(a, port); };
    add_byte_accounting(atp, counters_, local_networks(), std::move(punched));
    lt::error_code ec;
    handle_ = session_->add_torrent(std::move(atp), ec);
    if (ec) {
      err = "cannot add torrent: " + error_text(ec);
      return false;
    }
    // Resume data tells where we stopped; the data itself is checked again, never trusted.
    if (resumed || fs::exists(state_dir_ / name_)) {
      handle_.force_recheck();
      log::info("resuming: re-verifying the partial download", {{"state_dir", state_dir_.string()}});
    }
    return true;
  }

  int loop() {
    auto last_print = Clock::time_point{};
    auto last_save = Clock::now();
    auto last_progress = Clock::now();
    int64_t last_done = -1;
    uint64_t last_received = 0;
    while (true) {
      session_->wait_for_alert(kAlertWait);
      std::vector<lt::alert*> alerts;
      session_->pop_alerts(&alerts);
      for (lt::alert* a : alerts) on_alert(a);
      if (!failure_.empty()) return fail_saving(failure_);
      if (stop_.load()) return fail_saving("interrupted");

      auto now = Clock::now();
      if (nat_) dial(now);
      lt::torrent_status st = handle_.status();
      ByteTotals bytes = counters_->snapshot();
      bool checking = st.state == lt::torrent_status::checking_files ||
                      st.state == lt::torrent_status::checking_resume_data;
      if (checking || st.total_wanted_done != last_done || bytes.received_total() != last_received || finished_) {
        last_progress = now;
        last_done = st.total_wanted_done;
        last_received = bytes.received_total();
      }
      if (!finished_ && now - last_progress > o_.stall_timeout) {
        std::string why = reasons_.joined();
        if (st.num_peers == 0) why += std::string(why.empty() ? "" : "; ") + "no peers";
        return fail_saving("stalled: no progress for " + std::to_string(o_.stall_timeout.count()) + " s (" + why + ")");
      }
      if (!moving_ && !finished_ && st.is_finished && !checking && st.num_pieces == ti_->num_pieces()) {
        moving_ = true;
        log::info("all pieces verified: moving to the final path", {{"path", (fs::path(o_.out_dir) / name_).string()}});
        handle_.move_storage(o_.out_dir, lt::move_flags_t::always_replace_files);
      }
      if (finished_) {
        if (done_at_ == Clock::time_point{}) {
          done_at_ = now;
          seconds_ = std::chrono::duration<double>(now - start_).count();
          if (o_.seed_time.count() > 0) log::info("complete: seeding", {{"seconds", std::to_string(o_.seed_time.count())}});
        }
        if (now - done_at_ >= o_.seed_time) return succeed();
      }
      if (now - last_print >= kProgressInterval) {
        print_progress(st, bytes, now);
        last_print = now;
      }
      if (!finished_ && now - last_save >= kResumeSaveInterval) {
        handle_.save_resume_data(lt::torrent_handle::flush_disk_cache);
        last_save = now;
      }
    }
  }

  // Punch orders this side must dial: connect_peer at the common start (one dialer strictly;
  // libtorrent sends the SYN at its next once-per-second connect pass).
  void dial(Clock::time_point now) {
    for (auto& d : nat_->take_dials()) pending_dials_.push_back(d);
    for (auto it = pending_dials_.begin(); it != pending_dials_.end();) {
      if (now < it->at) {
        ++it;
        continue;
      }
      // A seeder dials too: the leecher may be the side told to punch.
      log::info("nat: dialling punched peer", {{"peer", net::format(it->peer)}});
      handle_.connect_peer(it->peer);
      it = pending_dials_.erase(it);
    }
    if (!trackers_added_) {
      auto st = nat_->status();
      bool rendezvous_answered = st.registered;
      bool rendezvous_failed = st.rendezvous.timeouts + st.rendezvous.refusals + st.rendezvous.garbage > 0;
      if (rendezvous_answered || rendezvous_failed || now - start_ >= kTrackerHold) {
        trackers_added_ = true;
        if (!st.nat_ticket.empty()) log::info("nat: ticket from the rendezvous goes into every announce");
        else log::info("nat: announcing without a NAT ticket", {{"registered", st.registered ? "true" : "false"}});
        // UDP announces get the ticket on their way out (NatSession); HTTP ones in the URL.
        std::vector<lt::announce_entry> entries;
        for (const auto& [url, tier] : trackers_) {
          lt::announce_entry e(url);
          if (url.rfind("http", 0) == 0 && !st.nat_ticket.empty())
            e.url += std::string(url.find('?') == std::string::npos ? "?" : "&") + "nat=" + st.nat_ticket;
          e.tier = static_cast<std::uint8_t>(tier);
          entries.push_back(std::move(e));
        }
        if (!entries.empty()) {
          handle_.replace_trackers(entries);
          handle_.force_reannounce(0, -1, lt::torrent_handle::ignore_min_interval);
        }
      }
    }
  }

  void on_alert(lt::alert* a) {
    if (auto* e = lt::alert_cast<lt::tracker_error_alert>(a)) {
      std::string reason = e->failure_reason();
      std::string text = !reason.empty() ? reason : error_text(e->error);
      log::warn("tracker error", {{"tracker", e->tracker_url()}, {"error", text}, {"failure_reason", reason}});
      reasons_.add("tracker: " + text);
    } else if (auto* w = lt::alert_cast<lt::tracker_warning_alert>(a)) {
      log::warn("tracker warning", {{"tracker", w->tracker_url()}, {"warning", w->warning_message()}});
    } else if (auto* r = lt::alert_cast<lt::tracker_reply_alert>(a)) {
      log::debug("tracker reply", {{"tracker", r->tracker_url()}, {"peers", std::to_string(r->num_peers)}});
    } else if (auto* u = lt::alert_cast<lt::url_seed_alert>(a)) {
      std::string why = web_seed_reason(*u);
      log::warn(why, {{"url", u->server_url()}, {"detail", u->error_message()}, {"error", error_text(u->error)}});
      reasons_.add(why);
    } else if (auto* f = lt::alert_cast<lt::file_error_alert>(a)) {
      fail_with("file error: " + std::string(lt::operation_name(f->op)) + " " + f->filename() + ": " + error_text(f->error));
    } else if (auto* t = lt::alert_cast<lt::torrent_error_alert>(a)) {
      // With a file name it is the storage failing (e.g. mmap of the partial file): a file error.
      fail_with(t->filename()[0] ? "file error: " + error_text(t->error) + " (" + t->filename() + ")"
                                 : "torrent error: " + error_text(t->error));
    } else if (auto* h = lt::alert_cast<lt::hash_failed_alert>(a)) {
      ++hash_failures_;
      log::warn("piece failed its hash check: fetching it again", {{"piece", std::to_string(static_cast<int>(h->piece_index))}});
    } else if (auto* s = lt::alert_cast<lt::save_resume_data_alert>(a)) {
      std::string err;
      if (!write_file_atomically(state_dir_ / kResumeFile, lt::write_resume_data_buf(s->params), err))
        log::warn("cannot save resume data", {{"error", err}});
      resume_saved_ = true;
    } else if (auto* sf = lt::alert_cast<lt::save_resume_data_failed_alert>(a)) {
      log::warn("cannot save resume data", {{"error", error_text(sf->error)}});
      resume_saved_ = true;
    } else if (lt::alert_cast<lt::storage_moved_alert>(a)) {
      finished_ = true;
    } else if (auto* mf = lt::alert_cast<lt::storage_moved_failed_alert>(a)) {
      fail_with("cannot move the file to " + o_.out_dir + ": " + error_text(mf->error) + " (" + mf->file_path() + ")");
    } else if (auto* l = lt::alert_cast<lt::listen_failed_alert>(a)) {
      fail_with("cannot listen on " + o_.listen + ": " + error_text(l->error));
    }
  }

  // The first failure is the one reported: a full disk makes libtorrent raise a burst of
  // follow-up errors (every outstanding write, then the storage itself).
  void fail_with(std::string error) {
    if (!failure_.empty()) {
      log::debug("further error", {{"error", error}});
      return;
    }
    log::error("download error", {{"error", error}});
    failure_ = std::move(error);
  }

  void print_progress(const lt::torrent_status& st, const ByteTotals& bytes, Clock::time_point now) {
    ProgressSnapshot s;
    s.progress = st.total_wanted > 0 ? static_cast<double>(st.total_wanted_done) / static_cast<double>(st.total_wanted) : 0;
    if (st.state == lt::torrent_status::checking_files || st.state == lt::torrent_status::checking_resume_data)
      s.progress = st.progress;
    s.state = finished_ ? "seeding" : state_name(st.state);
    s.bytes = bytes;
    s.total_wanted = static_cast<uint64_t>(st.total_wanted);
    s.peers = st.num_peers;
    s.download_rate = st.download_payload_rate;
    s.upload_rate = st.upload_payload_rate;
    s.seconds = std::chrono::duration<double>(now - start_).count();
    if (o_.json) {
      out_ << json_dump(progress_json(s)) << std::endl;
    } else {
      out_ << "\r" << progress_bar(s, kProgressBarWidth) << "   " << std::flush;
      bar_shown_ = true;
    }
  }

  void end_bar() {
    if (bar_shown_) out_ << "\n";
    bar_shown_ = false;
  }

  int succeed() {
    ByteTotals bytes = counters_->snapshot();
    std::error_code ec;
    fs::remove(state_dir_ / kResumeFile, ec);
    if (o_.state_dir.empty()) fs::remove(state_dir_, ec);  // ours, and empty once the file moved
    shutdown();
    end_bar();
    if (o_.json) {
      out_ << json_dump(done_json(bytes, seconds_)) << std::endl;
    } else {
      out_ << "done: " << (fs::path(o_.out_dir) / name_).string() << " verified, " << human_bytes(static_cast<double>(bytes.received_total()))
           << " in " << seconds_ << " s" << std::endl;
    }
    log::info("done", {{"file", (fs::path(o_.out_dir) / name_).string()}, {"hash_failures", std::to_string(hash_failures_)}});
    return 0;
  }

  // Saves resume data (the partial download stays usable), then fails.
  int fail_saving(const std::string& error) {
    if (handle_.is_valid() && !finished_) {
      resume_saved_ = false;
      handle_.save_resume_data(lt::torrent_handle::flush_disk_cache);
      auto deadline = Clock::now() + kResumeSaveTimeout;
      while (!resume_saved_ && Clock::now() < deadline) {
        session_->wait_for_alert(kAlertWait);
        std::vector<lt::alert*> alerts;
        session_->pop_alerts(&alerts);
        for (lt::alert* a : alerts)
          if (lt::alert_cast<lt::save_resume_data_alert>(a) || lt::alert_cast<lt::save_resume_data_failed_alert>(a))
            on_alert(a);
      }
    }
    shutdown();
    return fail(error);
  }

  int fail(const std::string& error) {
    end_bar();
    double secs = std::chrono::duration<double>(Clock::now() - start_).count();
    if (o_.json) out_ << json_dump(error_json(error, counters_->snapshot(), secs)) << std::endl;
    else out_ << "error: " << error << std::endl;
    log::error("fetch failed", {{"error", error}});
    return 1;
  }

  void shutdown() {
    if (session_) {
      lt::session_proxy proxy = session_->abort();
      session_.reset();
    }
    if (nat_) {
      ProbeResult pr;
      auto deadline = Clock::now() + kProbeWaitOnExit;
      while (!nat_->probe_done(pr) && Clock::now() < deadline) std::this_thread::sleep_for(kAlertWait);
      auto st = nat_->status();
      log::info("nat", {{"registered", st.registered ? "true" : "false"},
                        {"registrations", std::to_string(st.rendezvous.registrations)},
                        {"rendezvous_timeouts", std::to_string(st.rendezvous.timeouts)},
                        {"rendezvous_garbage", std::to_string(st.rendezvous.garbage)},
                        {"rendezvous_refusals", std::to_string(st.rendezvous.refusals)},
                        {"connects", std::to_string(st.rendezvous.connects)},
                        {"punch_indications", std::to_string(st.rendezvous.punches)},
                        {"punch_targets", std::to_string(st.punch_targets)},
                        {"punch_packets_sent", std::to_string(st.punch_packets_sent)},
                        {"punch_packets_received", std::to_string(st.punch_packets_received)},
                        {"announces_rewritten", std::to_string(st.announces_rewritten)},
                        {"relayed_out", std::to_string(st.relay.out)},
                        {"relayed_in", std::to_string(st.relay.in)},
                        {"relay_dropped", std::to_string(st.relay.dropped)},
                        {"turn", st.turn},
                        {"turn_datagrams_in", std::to_string(st.relay_datagrams_in)},
                        {"turn_datagrams_out", std::to_string(st.relay_datagrams_out)}});
      nat_->stop();
    }
  }

  const FetchOptions& o_;
  std::ostream& out_;
  const std::atomic<bool>& stop_;
  Clock::time_point start_;
  std::shared_ptr<ByteCounters> counters_;
  std::shared_ptr<lt::torrent_info> ti_;
  std::vector<std::string> webseeds_;
  std::vector<std::pair<std::string, int>> trackers_;
  std::string info_hash_, name_;
  fs::path state_dir_;
  std::unique_ptr<lt::session> session_;
  lt::torrent_handle handle_;
  std::thread probe_;
  std::unique_ptr<NatSession> nat_;
  std::vector<Dial> pending_dials_;
  std::string localip_;
  bool trackers_added_ = false;
  Reasons reasons_;
  std::string failure_;
  bool moving_ = false, finished_ = false, resume_saved_ = false, bar_shown_ = false;
  int hash_failures_ = 0;
  Clock::time_point done_at_{};
  double seconds_ = 0;
};

}  // namespace

int run_fetch(const FetchOptions& options, std::ostream& out, const std::atomic<bool>& stop) {
  Fetch f(options, out, stop);
  return f.run();
}

}  // namespace otaswarm::agent
