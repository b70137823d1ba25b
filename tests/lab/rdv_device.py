"""A phone in the NAT lab: probes its NAT with `otaswarm nat probe` on its data port, registers
with the rendezvous from that same socket, then either asks to connect to a peer (--peer) or
waits to be told about one, and gets through: UDP hole punch, or relay through coturn.
Prints JSON lines on stdout: {"event": "registered", ...} then {"event": "result", ...}."""
import argparse
import json
import subprocess
import sys
import time

import rdvlib

WAIT_S = 20
PUNCH_S = 6


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def hp(text):
    h, p = text.rsplit(":", 1)
    return h, int(p)


def relay_initiator(dev, info, turn_server):
    turn = rdvlib.TurnClient(rdvlib.QSock(rdvlib.socket.AF_INET, rdvlib.socket.SOCK_DGRAM), turn_server,
                             info["turn_username"], info["turn_password"])
    relayed, err = turn.allocate()
    if not relayed:
        return {"result": "relay_failed", "error": "allocate %s" % err}
    if not turn.create_permission(info["peer_reflexive"][0]):
        return {"result": "relay_failed", "error": "permission"}
    again = dev.connect(info["peer_id"], relayed=relayed)  # hands our relayed address to the peer
    if "error" in again:
        return {"result": "relay_failed", "error": "connect %s" % again["error"]}
    got = turn.receive(WAIT_S)
    if not got:
        return {"result": "relay_failed", "error": "nothing relayed"}
    (peer_ip, peer_port), data = got
    for _ in range(3):
        turn.send(peer_ip, peer_port, b"RELAY hello from " + dev.device_id.encode())
        time.sleep(0.05)
    return {"result": "relayed", "relayed": "%s:%d" % relayed, "got": data.decode(errors="replace"),
            "peer": "%s:%d" % (peer_ip, peer_port)}


def relay_responder(dev, info):
    deadline = time.time() + WAIT_S
    while "relayed" not in info:
        info = dev.wait_indication(max(0.1, deadline - time.time()))
        if info is None:
            return {"result": "relay_failed", "error": "no relayed address from the rendezvous"}
    target = tuple(info["relayed"])
    while time.time() < deadline:
        dev.sock.sendto(b"RELAY hello from " + dev.device_id.encode(), target)
        r, _, _ = rdvlib.select.select([dev.sock], [], [], 0.2)
        if r:
            data, frm = dev.sock.recvfrom(2048)
            if frm == target and data.startswith(b"RELAY "):
                return {"result": "relayed", "got": data.decode(errors="replace"), "relayed": "%s:%d" % target}
    return {"result": "relay_failed", "error": "no reply through the relay"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--otaswarm", required=True)
    ap.add_argument("--rdv", required=True)
    ap.add_argument("--turn", default="")
    ap.add_argument("--token", required=True)
    ap.add_argument("--device", required=True)
    ap.add_argument("--peer", default="")
    ap.add_argument("--lan-ip", required=True)
    ap.add_argument("--port", type=int, default=6881)
    a = ap.parse_args()

    probe = subprocess.run([a.otaswarm, "nat", "probe", "--stun", a.rdv, "--bind", "%s:%d" % (a.lan_ip, a.port),
                            "--timeout-ms", "400"], capture_output=True, text=True, timeout=30)
    cls = json.loads(probe.stdout)
    dev = rdvlib.Device(a.lan_ip, a.port, hp(a.rdv), a.token, b"L" * 20, a.device)
    reg = dev.register(cls)
    emit(event="registered", nat=cls, **reg)

    if a.peer:
        info = dev.connect(a.peer)
    else:
        info = dev.wait_indication(WAIT_S)
    if not info or "error" in info:
        emit(event="result", result="no_peer", info=info)
        return 1
    decision = {"decision": info["decision"], "action": info["action"]}
    if info["action"] == "relay":
        if a.peer:
            out = relay_initiator(dev, info, hp(a.turn))
        else:
            out = relay_responder(dev, info)
    else:
        got = dev.punch(info, b"hello from " + a.device.encode(), timeout=PUNCH_S)
        out = {"result": "punched", "peer": "%s:%d" % got[0], "got": got[1].decode()} if got else {"result": "punch_failed"}
    emit(event="result", **decision, **out)
    return 0 if out["result"] in ("punched", "relayed") else 1


if __name__ == "__main__":
    sys.exit(main())
