// otaswarm-rendezvous: STUN NAT classification, hole-punch coordination, TURN credentials.
#include <iostream>

#include "common/config.h"
#include "rendezvous/rendezvous_app.h"

int main(int argc, char** argv) {
  return otaswarm::config::guarded_main([&] {
    auto schema = otaswarm::rendezvous::rendezvous_schema();
    auto parsed = otaswarm::config::parse(schema, std::vector<std::string>(argv + 1, argv + argc));
    if (parsed.help_requested) {
      std::cout << schema.help_text();
      return 0;
    }
    return otaswarm::rendezvous::run_rendezvous(parsed.values);
  });
}
