#include "agent/nat_probe.h"

namespace otaswarm::agent {

namespace {
bool same(const net::HostPort& a, const net::HostPort& b) {
  return net::unmap(a.address) == net::unmap(b.address) && a.port == b.port;
}

void add_error(std::string& error, std::string text) {
  if (error.empty()) error = std::move(text);
}
}  // namespace

NatProbe::NatProbe(ProbeOptions options, net::HostPort primary_local)
    : options_(std::move(options)), primary_local_(std::move(primary_local)) {}

void NatProbe::start(ProbeClock::time_point now) {
  if (started_) return;
  started_ = true;
  begin(Step::test1, now);
}

void NatProbe::begin(Step step, ProbeClock::time_point now) {
  step_ = step;
  if (step == Step::done) return;
  tx_ = Transaction{};
  tx_.tid = stun::random_transaction_id();
  uint32_t change = 0;
  switch (step) {
    case Step::test1:  // Test I: plain Binding to the primary address
      tx_.to = options_.server;
      break;
    case Step::test2:  // Test II: alternate IP, primary port
      tx_.to = {other_.address, options_.server.port};
      break;
    case Step::test3:  // Test III: alternate IP, alternate port
      tx_.to = other_;
      break;
    case Step::filter1:
      tx_.socket = ProbeSocket::filtering;
      tx_.to = options_.server;
      break;
    case Step::filter2:  // answered only if the NAT lets in packets from any address and port
      tx_.socket = ProbeSocket::filtering;
      tx_.to = options_.server;
      change = stun::kChangeIp | stun::kChangePort;
      break;
    case Step::filter3:  // answered only if the NAT lets in the same address from another port
      tx_.socket = ProbeSocket::filtering;
      tx_.to = options_.server;
      change = stun::kChangePort;
      break;
    case Step::hairpin:  // RFC 5780 §4.5: a request to our own mapped address comes back only if the NAT hairpins
      tx_.to = mapped1_;
      break;
    case Step::done:
      break;
  }
  stun::Builder b(stun::method::binding, stun::Class::request, tx_.tid);
  if (change) b.add_u32(stun::attr::change_request, change);
  b.add_fingerprint();
  tx_.request = b.bytes();
  tx_.deadline = now + options_.timeout;
  tx_.next_send = now;
  tx_.rto = std::chrono::duration_cast<ProbeClock::duration>(options_.timeout) / (1 << options_.retransmits);
  wakeup_ = now;
}

std::optional<ProbeDatagram> NatProbe::poll(ProbeClock::time_point now) {
  while (step_ != Step::done && now >= tx_.deadline) finish(std::nullopt, std::nullopt, now);
  if (step_ == Step::done) return std::nullopt;
  if (now < tx_.next_send) {
    wakeup_ = std::min(tx_.next_send, tx_.deadline);
    return std::nullopt;
  }
  tx_.next_send = now + tx_.rto;
  tx_.rto *= 2;
  wakeup_ = std::min(tx_.next_send, tx_.deadline);
  return ProbeDatagram{tx_.socket, tx_.to, tx_.request};
}

void NatProbe::on_datagram(ProbeSocket socket, std::string_view bytes, ProbeClock::time_point now) {
  if (step_ == Step::done || socket != tx_.socket) return;
  auto r = stun::parse(bytes);
  if (!r.ok() || r.message.transaction_id != tx_.tid || r.message.method() != stun::method::binding) return;
  const auto& m = r.message;
  if (step_ == Step::hairpin) {
    // Our own request arriving through the NAT is the answer; a reply from whoever owns the
    // mapped address proves the same.
    result_.hairpinning = true;
    begin(Step::done, now);
    return;
  }
  if (m.cls() == stun::Class::request || m.cls() == stun::Class::indication) return;
  if (m.cls() != stun::Class::success) {
    finish(std::nullopt, std::nullopt, now);
    return;
  }
  std::optional<net::HostPort> mapped;
  if (const auto* xa = m.find(stun::attr::xor_mapped_address)) mapped = stun::decode_xor_address(xa->value, tx_.tid);
  if (!mapped) {
    if (const auto* ma = m.find(stun::attr::mapped_address)) mapped = stun::decode_address(ma->value);
  }
  std::optional<net::HostPort> other;
  if (const auto* oa = m.find(stun::attr::other_address)) other = stun::decode_address(oa->value);
  finish(mapped, other, now);
}

void NatProbe::finish(std::optional<net::HostPort> mapped, std::optional<net::HostPort> other,
                      ProbeClock::time_point now) {
  auto& nat = result_.nat;
  switch (step_) {
    case Step::test1:
      if (!mapped) {
        add_error(result_.error, "no Binding response from " + net::format(options_.server.address, options_.server.port));
        return begin(Step::done, now);
      }
      mapped1_ = *mapped;
      result_.reflexive = *mapped;
      nat.public_address = same(*mapped, primary_local_);
      if (!other || net::unmap(other->address) == net::unmap(options_.server.address)) {
        add_error(result_.error, "server does not support RFC 5780 (no OTHER-ADDRESS)");
        return begin(Step::done, now);
      }
      other_ = *other;
      return begin(Step::test2, now);
    case Step::test2:
      if (!mapped) {
        add_error(result_.error, "no response from the alternate address " + net::format(other_.address, options_.server.port));
        return after_mapping(now);
      }
      if (nat.public_address || same(*mapped, mapped1_)) {
        nat.mapping = nat::Mapping::endpoint_independent;
        return after_mapping(now);
      }
      mapped2_ = *mapped;
      return begin(Step::test3, now);
    case Step::test3:
      if (!mapped) add_error(result_.error, "no response from " + net::format(other_.address, other_.port));
      else nat.mapping = same(*mapped, mapped2_) ? nat::Mapping::address_dependent : nat::Mapping::address_and_port_dependent;
      return after_mapping(now);
    case Step::filter1:
      if (!mapped) {
        add_error(result_.error, "no Binding response on the filtering socket");
        return after_filtering(now);
      }
      return begin(Step::filter2, now);
    case Step::filter2:
      if (mapped) {
        nat.filtering = nat::Filtering::endpoint_independent;
        return after_filtering(now);
      }
      return begin(Step::filter3, now);
    case Step::filter3:
      nat.filtering = mapped ? nat::Filtering::address_dependent : nat::Filtering::address_and_port_dependent;
      return after_filtering(now);
    case Step::hairpin:
      result_.hairpinning = false;
      return begin(Step::done, now);
    case Step::done:
      return;
  }
}

void NatProbe::after_mapping(ProbeClock::time_point now) { begin(Step::filter1, now); }

void NatProbe::after_filtering(ProbeClock::time_point now) {
  begin(result_.nat.public_address ? Step::done : Step::hairpin, now);
}

}  // namespace otaswarm::agent
