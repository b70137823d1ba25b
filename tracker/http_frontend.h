#pragma once
// HTTP announce/scrape front end: maps Beast requests to the AnnounceHandler.
#include "common/http_server.h"
#include "tracker/announce.h"

namespace otaswarm {

http::Handler make_tracker_http_handler(const AnnounceHandler& handler);

}  // namespace otaswarm
