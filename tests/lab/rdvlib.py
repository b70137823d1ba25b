"""Device side of the otaswarm rendezvous protocol for tests (docs/rendezvous-protocol.md):
a small STUN codec, register / connect / punch-indication handling, UDP hole punching, and
a minimal TURN client (RFC 8656 long-term credentials) for the relay fallback through coturn."""
import hashlib
import hmac
import ipaddress
import os
import select
import socket
import struct
import time
import zlib

MAGIC = 0x2112A442
BINDING, RDV_REGISTER, RDV_CONNECT, RDV_PUNCH, RDV_RELEASE = 0x001, 0x0C0, 0x0C1, 0x0C2, 0x0C3
ALLOCATE, CREATE_PERMISSION, SEND, DATA = 0x003, 0x008, 0x006, 0x007
REQUEST, INDICATION, SUCCESS, ERROR = 0, 1, 2, 3

A_MAPPED, A_CHANGE_REQUEST, A_USERNAME, A_MI, A_ERROR = 0x0001, 0x0003, 0x0006, 0x0008, 0x0009
A_UNKNOWN, A_REALM, A_NONCE, A_XOR_MAPPED = 0x000A, 0x0014, 0x0015, 0x0020
A_XOR_PEER, A_DATA, A_XOR_RELAYED, A_REQ_TRANSPORT, A_LIFETIME = 0x0012, 0x0013, 0x0016, 0x0019, 0x000D
A_PADDING, A_RESPONSE_PORT = 0x0026, 0x0027
A_SOFTWARE, A_FINGERPRINT, A_RESPONSE_ORIGIN, A_OTHER = 0x8022, 0x8028, 0x802B, 0x802C
A_TOKEN, A_INFO_HASH, A_PEER_ID, A_LAN, A_NAT_CLASS = 0x4F01, 0x4F02, 0x4F03, 0x4F04, 0x4F05
A_PEER_REFLEXIVE, A_PEER_LAN, A_START_TIME, A_DECISION = 0x4F06, 0x4F07, 0x4F08, 0x4F09
A_RDV_LIFETIME, A_TICKET, A_DEVICE_ID, A_START_DELAY = 0x4F0A, 0x4F0B, 0x4F0C, 0x4F0D
A_TURN_USER, A_TURN_PASS, A_RELAYED = 0x4F0E, 0x4F0F, 0x4F10

DECISIONS = ["direct", "punch_a_initiates", "punch_b_initiates", "punch_simultaneous", "relay"]
ACTIONS = ["connect", "accept", "punch", "relay"]
MAPPINGS = ["unknown", "endpoint-independent", "address-dependent", "address-and-port-dependent"]


def msg_type(method, cls):
    return (method & 0xF) | ((method & 0x70) << 1) | ((method & 0xF80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7)


def split_type(t):
    return (t & 0xF) | ((t & 0xE0) >> 1) | ((t & 0x3E00) >> 2), ((t >> 4) & 1) | ((t >> 7) & 2)


def _pad(b):
    return b + b"\0" * (-len(b) % 4)


class Msg:
    def __init__(self, method, cls, tid=None):
        self.method, self.cls = method, cls
        self.tid = tid or os.urandom(12)
        self.attrs = []  # (type, value bytes)

    def add(self, t, v):
        self.attrs.append((t, v))
        return self

    def xor_addr(self, t, ip, port):
        return self.add(t, encode_xor(ip, port, self.tid))

    def encode(self, fingerprint=True, mi_key=None):
        body = b"".join(struct.pack("!HH", t, len(v)) + _pad(v) for t, v in self.attrs)
        if mi_key is not None:
            hdr = struct.pack("!HHI", msg_type(self.method, self.cls), len(body) + 24, MAGIC) + self.tid
            mac = hmac.new(mi_key, hdr + body, hashlib.sha1).digest()
            body += struct.pack("!HH", A_MI, 20) + mac
        if fingerprint:
            hdr = struct.pack("!HHI", msg_type(self.method, self.cls), len(body) + 8, MAGIC) + self.tid
            crc = (zlib.crc32(hdr + body) ^ 0x5354554E) & 0xFFFFFFFF
            body += struct.pack("!HHI", A_FINGERPRINT, 4, crc)
        return struct.pack("!HHI", msg_type(self.method, self.cls), len(body), MAGIC) + self.tid + body


def decode(data):
    """Returns (method, cls, tid, {type: value}) or None."""
    if len(data) < 20:
        return None
    t, length, magic = struct.unpack("!HHI", data[:8])
    if magic != MAGIC or t & 0xC000 or len(data) != 20 + length:
        return None
    method, cls = split_type(t)
    attrs, pos = {}, 20
    while pos + 4 <= len(data):
        at, al = struct.unpack("!HH", data[pos:pos + 4])
        attrs.setdefault(at, data[pos + 4:pos + 4 + al])
        pos += 4 + al + (-al % 4)
    return method, cls, data[8:20], attrs


def encode_xor(ip, port, tid):
    a = ipaddress.ip_address(ip)
    key = struct.pack("!I", MAGIC) + tid
    raw = a.packed
    x = bytes(b ^ k for b, k in zip(raw, key))
    return struct.pack("!BBH", 0, 1 if a.version == 4 else 2, port ^ 0x2112) + x


def decode_xor(v, tid):
    fam, port = v[1], struct.unpack("!H", v[2:4])[0] ^ 0x2112
    key = struct.pack("!I", MAGIC) + tid
    raw = bytes(b ^ k for b, k in zip(v[4:], key))
    return str(ipaddress.ip_address(raw)), port


def decode_plain(v):
    return str(ipaddress.ip_address(v[4:])), struct.unpack("!H", v[2:4])[0]


def error_code(attrs):
    v = attrs.get(A_ERROR)
    return None if v is None else (v[2] & 7) * 100 + v[3]


def transact(sock, to, data, tid, timeout=3.0, rto=0.2):
    """Sends a request with retransmissions; returns (method, cls, tid, attrs, from) or None.
    Punch indications that arrive meanwhile are queued on the socket wrapper if any."""
    deadline = time.time() + timeout
    next_send = 0
    while time.time() < deadline:
        if time.time() >= next_send:
            sock.sendto(data, to)
            next_send = time.time() + rto
            rto *= 2
        r, _, _ = select.select([sock], [], [], max(0.01, min(deadline, next_send) - time.time()))
        if not r:
            continue
        pkt, frm = sock.recvfrom(2048)
        d = decode(pkt)
        if d and d[2] == tid:
            return d + (frm,)
        if d and d[0] == RDV_PUNCH and hasattr(sock, "pending"):
            sock.pending.append((d, frm))
    return None


class QSock(socket.socket):
    """A UDP socket that keeps punch indications received while waiting for something else."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.pending = []


def nat_class_bytes(mapping, filtering, public):
    return bytes([MAPPINGS.index(mapping), MAPPINGS.index(filtering), 1 if public else 0, 0])


class Device:
    def __init__(self, bind_ip, bind_port, rendezvous, token, info_hash, device_id):
        self.sock = QSock(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind_ip, bind_port))
        self.lan = self.sock.getsockname()
        self.rdv = rendezvous
        self.token, self.info_hash, self.device_id = token, info_hash, device_id

    def register(self, cls):
        m = Msg(RDV_REGISTER, REQUEST)
        m.add(A_TOKEN, self.token.encode()).add(A_INFO_HASH, self.info_hash)
        m.xor_addr(A_LAN, self.lan[0], self.lan[1])
        m.add(A_NAT_CLASS, nat_class_bytes(cls["mapping"], cls["filtering"], cls["public"]))
        r = transact(self.sock, self.rdv, m.encode(), m.tid)
        if not r or r[1] != SUCCESS:
            raise RuntimeError("register failed: %s" % (r and error_code(r[3])))
        attrs = r[3]
        self.reflexive = decode_xor(attrs[A_XOR_MAPPED], r[2])
        return {"reflexive": "%s:%d" % self.reflexive, "ticket": attrs.get(A_TICKET, b"").decode(),
                "lifetime": struct.unpack("!I", attrs[A_RDV_LIFETIME])[0]}

    def connect(self, peer_id, relayed=None):
        m = Msg(RDV_CONNECT, REQUEST)
        m.add(A_TOKEN, self.token.encode()).add(A_INFO_HASH, self.info_hash).add(A_PEER_ID, peer_id.encode())
        if relayed:
            m.xor_addr(A_RELAYED, relayed[0], relayed[1])
        r = transact(self.sock, self.rdv, m.encode(), m.tid)
        if not r:
            raise RuntimeError("connect: no reply")
        if r[1] != SUCCESS:
            return {"error": error_code(r[3])}
        return describe(r[3], r[2])

    def wait_indication(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.sock.pending:
                d, _ = self.sock.pending.pop(0)
                return describe(d[3], d[2])
            r, _, _ = select.select([self.sock], [], [], max(0.01, deadline - time.time()))
            if r:
                pkt, frm = self.sock.recvfrom(2048)
                d = decode(pkt)
                if d and d[0] == RDV_PUNCH and d[1] == INDICATION:
                    return describe(d[3], d[2])
        return None

    def punch(self, info, payload, timeout=5.0, interval=0.05):
        """Sends punch datagrams to the peer's reflexive and LAN endpoints from the start time
        until a datagram of the peer arrives and our payload is acknowledged; returns
        (peer endpoint, peer payload) or None."""
        time.sleep(info["start_delay_ms"] / 1000.0)
        targets = [tuple(info["peer_reflexive"])]
        if info.get("peer_lan"):
            targets.append(tuple(info["peer_lan"]))
        deadline = time.time() + timeout
        got, acked, peer = None, False, None
        while time.time() < deadline and not (got and acked):
            for t in ([peer] if peer else targets):
                self.sock.sendto(b"PUNCH " + payload + (b" ACK" if got else b""), t)
            r, _, _ = select.select([self.sock], [], [], interval)
            while r:
                pkt, frm = self.sock.recvfrom(2048)
                if pkt.startswith(b"PUNCH "):
                    # Reply to where the peer's packets actually come from (its NAT may remap).
                    peer = frm
                    body = pkt[6:]
                    if body.endswith(b" ACK"):
                        acked = True
                        body = body[:-4]
                    got = body
                r, _, _ = select.select([self.sock], [], [], 0)
        if got and not acked:
            for _ in range(5):
                self.sock.sendto(b"PUNCH " + payload + b" ACK", peer)
        return (peer, got) if got else None


def describe(attrs, tid):
    out = {}
    if A_DECISION in attrs:
        out["decision"] = DECISIONS[attrs[A_DECISION][0]]
        out["action"] = ACTIONS[attrs[A_DECISION][1]]
    if A_DEVICE_ID in attrs:
        out["peer_id"] = attrs[A_DEVICE_ID].decode()
    if A_PEER_REFLEXIVE in attrs:
        out["peer_reflexive"] = decode_xor(attrs[A_PEER_REFLEXIVE], tid)
    if A_PEER_LAN in attrs:
        out["peer_lan"] = decode_xor(attrs[A_PEER_LAN], tid)
    if A_START_TIME in attrs:
        out["start_time_ms"] = struct.unpack("!Q", attrs[A_START_TIME])[0]
    out["start_delay_ms"] = struct.unpack("!I", attrs[A_START_DELAY])[0] if A_START_DELAY in attrs else 0
    if A_TURN_USER in attrs:
        out["turn_username"] = attrs[A_TURN_USER].decode()
        out["turn_password"] = attrs[A_TURN_PASS].decode()
    if A_RELAYED in attrs:
        out["relayed"] = decode_xor(attrs[A_RELAYED], tid)
    return out


class TurnClient:
    """Just enough TURN (RFC 8656) for a test: Allocate with long-term credentials,
    CreatePermission, Send / Data indications."""

    def __init__(self, sock, server, username, password):
        self.sock, self.server = sock, server
        self.username, self.password = username, password
        self.realm = self.nonce = None
        self.key = None

    def _request(self, method, attrs):
        for _ in range(2):
            m = Msg(method, REQUEST)
            for t, v in attrs:
                m.add(t, v)
            if self.nonce:
                m.add(A_USERNAME, self.username.encode()).add(A_REALM, self.realm).add(A_NONCE, self.nonce)
            r = transact(self.sock, self.server, m.encode(mi_key=self.key), m.tid)
            if not r:
                raise RuntimeError("TURN: no reply")
            code = error_code(r[3])
            if r[1] == ERROR and code in (401, 438) and A_NONCE in r[3]:
                self.realm, self.nonce = r[3].get(A_REALM, self.realm), r[3][A_NONCE]
                self.key = hashlib.md5(("%s:%s:%s" % (self.username, self.realm.decode(), self.password)).encode()).digest()
                continue
            return r
        return r

    def allocate(self):
        r = self._request(ALLOCATE, [(A_REQ_TRANSPORT, bytes([17, 0, 0, 0]))])
        if r[1] != SUCCESS:
            return None, error_code(r[3])
        return decode_xor(r[3][A_XOR_RELAYED], r[2]), None

    def create_permission(self, ip):
        # XOR-PEER-ADDRESS depends on the transaction id, so the message is built per attempt.
        for _ in range(2):
            m = Msg(CREATE_PERMISSION, REQUEST)
            m.xor_addr(A_XOR_PEER, ip, 0)
            m.add(A_USERNAME, self.username.encode()).add(A_REALM, self.realm).add(A_NONCE, self.nonce)
            r = transact(self.sock, self.server, m.encode(mi_key=self.key), m.tid)
            if r and r[1] == ERROR and error_code(r[3]) == 438:
                self.nonce = r[3][A_NONCE]
                continue
            return r is not None and r[1] == SUCCESS
        return False

    def send(self, ip, port, data):
        m = Msg(SEND, INDICATION)
        m.xor_addr(A_XOR_PEER, ip, port).add(A_DATA, data)
        self.sock.sendto(m.encode(fingerprint=False), self.server)

    def receive(self, timeout):
        """Returns ((peer ip, port), data) from a Data indication, or None."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            r, _, _ = select.select([self.sock], [], [], max(0.01, deadline - time.time()))
            if not r:
                continue
            pkt, frm = self.sock.recvfrom(4096)
            d = decode(pkt)
            if d and d[0] == DATA and d[1] == INDICATION and A_DATA in d[3]:
                return decode_xor(d[3][A_XOR_PEER], d[2]), d[3][A_DATA]
        return None
