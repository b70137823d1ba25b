// otaswarm-tracker: private HTTP + UDP BitTorrent tracker.
#include <iostream>

#include "common/config.h"
#include "tracker/tracker_app.h"

int main(int argc, char** argv) {
  return otaswarm::config::guarded_main([&] {
    auto schema = otaswarm::tracker_schema();
    auto parsed = otaswarm::config::parse(schema, std::vector<std::string>(argv + 1, argv + argc));
    if (parsed.help_requested) {
      std::cout << schema.help_text();
      return 0;
    }
    return otaswarm::run_tracker(parsed.values);
  });
}
