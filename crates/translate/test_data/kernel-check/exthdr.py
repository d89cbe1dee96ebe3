#!/usr/bin/env python3
"""Crafted-packet check of the exthdr translations against the legacy kernel (run by hand, as
root, never in CI): `python3 exthdr.py PATH/TO/fwnet`.

For each family it writes a small ruleset of count-only rules in OUTPUT (`-m rt`, `-m hbh`,
`-m frag`, `--tcp-option`), translates it with `fwnet import` + `fwnet show`, and in a fresh
network namespace (`unshare -n`) loads the legacy rules with ip(6)tables-legacy-restore and the
translation with `nft -f` at priority -10, sends each crafted packet through a raw socket to
the loopback address, and compares the per-rule packet counters and whether the packet reached
the end of the chain (`end:1`; count-only rules never stop it, so `end:0` on the legacy side
is an xt hotdrop: the match dropped the packet; the kernel's ICMPv6 error for a type 0 routing
header passes OUTPUT too, so any non-zero policy count is `end:1`).

Malformed packets where the two are known to differ (see rt.rs, hbh.rs, frag.rs and tcp.rs)
are listed in EXPECTED_DIFFERENT; any other difference, or a known one that went away, makes
the script exit 1. This file crafts packets only for this check; it is not product code.
"""
import os, socket, struct, subprocess, sys, tempfile

FWNET = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "fwnet"

V6_RULES = """*filter
:OUTPUT ACCEPT [0:0]
-A OUTPUT -m rt --rt-type 0
-A OUTPUT -m rt ! --rt-type 0
-A OUTPUT -m rt --rt-segsleft 1:5
-A OUTPUT -m rt ! --rt-segsleft 1:5
-A OUTPUT -m rt
-A OUTPUT -m rt --rt-len 24
-A OUTPUT -m hbh --hbh-len 8
-A OUTPUT -m dst --dst-len 8
-A OUTPUT -m frag --fragid 7
-A OUTPUT -m frag ! --fragid 5:10
-A OUTPUT -m frag --fragfirst
-A OUTPUT -m frag --fragmore
-A OUTPUT -m frag --fraglast
-A OUTPUT -m frag --fragres
COMMIT
"""

V4_RULES = """*filter
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p tcp --tcp-option 64
-A OUTPUT -p tcp --tcp-option 2
-A OUTPUT -p tcp --tcp-option 8
COMMIT
"""

LO6 = socket.inet_pton(socket.AF_INET6, "::1")
UDP = struct.pack("!HHHH", 1000, 2000, 8, 0)


def ip6(nh, payload):
    return struct.pack("!IHBB", 6 << 28, len(payload), nh, 64) + LO6 + LO6 + payload


def rh(nh, typ, segleft, hdrlen, body=None):
    body = bytes(4 + 8 * hdrlen) if body is None else bytes(body)
    return struct.pack("!BBBB", nh, hdrlen, typ, segleft) + body


def frag(nh, res, off_bits, ident):
    return struct.pack("!BBHI", nh, res, off_bits, ident)


PAD6 = bytes([1, 4, 0, 0, 0, 0])  # a PadN option filling an 8-byte options header

V6_PACKETS = {
    "no extension header": ip6(17, UDP),
    "rt type 0 seg-left 3": ip6(43, rh(17, 0, 3, 2) + UDP),
    "rt type 2 seg-left 0": ip6(43, rh(17, 2, 0, 2) + UDP),
    "hbh then rt type 0": ip6(0, bytes([43, 0]) + PAD6 + rh(17, 0, 1, 2) + UDP),
    "dst options": ip6(60, bytes([17, 0]) + PAD6 + UDP),
    "first fragment, more, id 7": ip6(44, frag(17, 0, 0x0001, 7) + UDP),
    "last fragment, offset 10, id 7": ip6(44, frag(17, 0, 10 << 3, 7) + UDP),
    "middle fragment, id 5": ip6(44, frag(17, 0, (20 << 3) | 1, 5) + UDP),
    "fragment, reserved byte set": ip6(44, frag(17, 9, 0, 3) + UDP),
    "fragment, reserved bits set": ip6(44, frag(17, 0, 0x0006, 3) + UDP),
    # malformed
    "rt length past the end": ip6(43, rh(17, 0, 3, 2, body=4)),
    "hbh length past the end": ip6(0, bytes([17, 1]) + PAD6),
    "chain cut after hbh": ip6(0, bytes([43, 0]) + PAD6),
}


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(proto, payload, frag_field=0):
    lo = socket.inet_aton("127.0.0.1")
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, frag_field, 64, proto, 0, lo, lo)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def tcp(opts, doff=None):
    doff = doff or (20 + len(opts)) // 4
    return struct.pack("!HHIIBBHHH", 1000, 80, 1, 0, doff << 4, 0x02, 1000, 0, 0) + bytes(opts)


V4_PACKETS = {
    "no options": ip4(6, tcp([])),
    "mss": ip4(6, tcp([2, 4, 5, 0xB4])),
    "nop nop 64": ip4(6, tcp([1, 1, 64, 2])),
    "eol then 64": ip4(6, tcp([0, 64, 2, 0])),
    "non-first fragment": ip4(6, tcp([1, 1, 64, 2]), frag_field=3),
    # malformed
    "64 with length past the end": ip4(6, tcp([1, 1, 64, 10])),
    "64 alone in the last byte": ip4(6, tcp([1, 1, 1, 64])),
    "data offset past the end": ip4(6, tcp([], doff=6)),
}

EXPECTED_DIFFERENT = {
    "rt length past the end", "hbh length past the end", "chain cut after hbh",
    "64 with length past the end", "64 alone in the last byte", "data offset past the end",
}

RUN = r"""
set -e
ip link set lo up
{restore} < {legacy}
nft -f {nft}
python3 {me} --send {family} {index}
{listing} -vnxL OUTPUT | awk 'NR>2{{print $1}} NR==1{{end=($5>0)}} END{{print "end:" end}}' | tr '\n' ' '; echo
nft list ruleset | grep -o 'packets [0-9]*' | awk '{{print $2}} END{{print "end:1"}}' | tr '\n' ' '; echo
"""


def send(family, index):
    packets = list((V6_PACKETS if family == "6" else V4_PACKETS).values())
    af = socket.AF_INET6 if family == "6" else socket.AF_INET
    s = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        s.sendto(packets[int(index)], ("::1" if family == "6" else "127.0.0.1", 0))
    except OSError:
        pass  # dropped by a hook: the counters tell which


def translate(rules, tmp, name):
    legacy = os.path.join(tmp, name + ".rules")
    open(legacy, "w").write(rules)
    env = dict(os.environ, FWNET_STATE_DIR=os.path.join(tmp, name + ".state"))
    subprocess.run([FWNET, "import", legacy], check=True, env=env, capture_output=True)
    shown = subprocess.run([FWNET, "show"], check=True, env=env, capture_output=True, text=True).stdout
    nft = os.path.join(tmp, name + ".nft")
    open(nft, "w").write(shown.replace("priority 0;", "priority -10;"))
    return legacy, nft


def main():
    if sys.argv[1:2] == ["--send"]:
        return send(sys.argv[2], sys.argv[3])
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for family, rules, packets, tool in [("6", V6_RULES, V6_PACKETS, "ip6tables-legacy"),
                                             ("4", V4_RULES, V4_PACKETS, "iptables-legacy")]:
            legacy, nft = translate(rules, tmp, "v" + family)
            for i, name in enumerate(packets):
                sh = RUN.format(restore=tool + "-restore", listing=tool, legacy=legacy, nft=nft,
                                me=os.path.abspath(__file__), family=family, index=i)
                out = subprocess.run(["unshare", "-n", "sh", "-c", sh], check=True,
                                     capture_output=True, text=True).stdout.splitlines()
                same = out[0].split() == out[1].split()
                expected = name not in EXPECTED_DIFFERENT
                mark = "same" if same else "DIFFERENT"
                if same != expected:
                    mark += " (unexpected)"
                    bad += 1
                print("%-32s legacy %-36s nft %-36s %s" % (name, out[0], out[1], mark))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
