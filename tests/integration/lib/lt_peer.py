"""A libtorrent (python3-libtorrent 2.0, /usr/bin/python3) client on loopback with the
settings that make it usable in tests: fixed interface, no DHT/LSD/UPnP/NAT-PMP, several
peers per IP (every test peer is 127.0.0.1)."""
import time

import libtorrent as lt

POLL_INTERVAL = 0.1  # seconds between status polls
ALERT_LOG_LIMIT = 200  # alerts kept for failure messages


class LtPeer:
    def __init__(self, name, save_path, host="127.0.0.1", ssrf_mitigation=True):
        self.name = name
        self.save_path = save_path
        self.session = lt.session({
            "listen_interfaces": ("[%s]:0" if ":" in host else "%s:0") % host,
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "allow_multiple_connections_per_ip": True,
            "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.tracker_notification
                          | lt.alert.category_t.status_notification | lt.alert.category_t.peer_notification,
            "user_agent": "otaswarm-test/" + name,
            "ssrf_mitigation": ssrf_mitigation,
        })
        self.alerts = []
        self.handle = None

    @property
    def port(self):
        return self.session.listen_port()

    def add(self, torrent_path, seed_mode=False):
        ti = lt.torrent_info(torrent_path)
        params = {"ti": ti, "save_path": self.save_path}
        if seed_mode:
            params["flags"] = lt.torrent_flags.seed_mode
        self.handle = self.session.add_torrent(params)
        return self.handle

    def pump(self):
        for a in self.session.pop_alerts():
            self.alerts.append("%s: %s" % (type(a).__name__, a.message()))
        del self.alerts[:-ALERT_LOG_LIMIT]

    def status(self):
        self.pump()
        return self.handle.status()

    def wait(self, pred, timeout):
        """Polls pred(status) until true or `timeout` seconds; returns the last status."""
        deadline = time.time() + timeout
        st = self.status()
        while not pred(st) and time.time() < deadline:
            time.sleep(POLL_INTERVAL)
            st = self.status()
        return st

    def tracker_ok(self):
        """True once some tracker replied without error to this peer."""
        for t in self.handle.trackers():
            for ep in t.get("endpoints", []):
                for ih in ep.get("info_hashes", [])[:1]:
                    if ih.get("start_sent") and not ih.get("updating") and ih["last_error"]["value"] == 0 \
                            and ih.get("fails", 0) == 0:
                        return True
        return False

    def tracker_messages(self):
        return [(t["url"], [ih.get("message") or ih["last_error"]
                            for ep in t.get("endpoints", []) for ih in ep.get("info_hashes", [])[:1]])
                for t in self.handle.trackers()]

    def saw(self, alert_type):
        self.pump()
        return any(a.startswith(alert_type + ":") for a in self.alerts)

    def scrape_counts(self):
        """(complete, incomplete, downloaded) from the first tracker's last scrape, -1 = none yet."""
        self.pump()
        t = self.handle.trackers()[0]
        eps = [ih for ep in t.get("endpoints", []) for ih in ep.get("info_hashes", [])[:1]]
        src = eps[0] if eps else t
        return (src["scrape_complete"], src["scrape_incomplete"], src["scrape_downloaded"])

    def reannounce(self):
        self.handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)

    def log(self):
        self.pump()
        return "%s alerts:\n  %s" % (self.name, "\n  ".join(self.alerts[-60:]))

    def close(self):
        if self.handle is not None:
            self.session.remove_torrent(self.handle)
            self.handle = None
        self.session.pause()
        self.session = None
