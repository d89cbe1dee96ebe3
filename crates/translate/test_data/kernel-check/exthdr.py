#!/usr/bin/env python3
"""Crafted-packet check of the exthdr translations against the legacy kernel (run by hand, as
root, never in CI): `python3 exthdr.py PATH/TO/fwnet`.

For each family it writes a small ruleset of count-only rules in OUTPUT (`-m rt`, `-m hbh`,
`-m frag`, `--tcp-option`) and, with kernel_check.py's harness, compares the legacy kernel's
per-rule packet counters for each crafted packet with those of fwnet's translation, and
whether the packet reached the end of the chain (`end:1`; count-only rules never stop it, so `end:0` on the legacy side
is an xt hotdrop: the match dropped the packet; the kernel's ICMPv6 error for a type 0 routing
header passes OUTPUT too, so any non-zero policy count is `end:1`).

Malformed packets where the two are known to differ (see rt.rs, hbh.rs, frag.rs and tcp.rs)
are listed in V6_DIFFERENT and V4_DIFFERENT; any other difference, or a known one that went away, makes
the script exit 1. This file crafts packets only for this check; it is not product code.
"""
import socket, struct

from kernel_check import ip4, main, tcp

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

V6_DIFFERENT = {"rt length past the end", "hbh length past the end", "chain cut after hbh"}
V4_DIFFERENT = {"64 with length past the end", "64 alone in the last byte", "data offset past the end"}


if __name__ == "__main__":
    main(__file__, [("v6", "6", V6_RULES, None, V6_PACKETS), ("v4", "4", V4_RULES, None, V4_PACKETS)],
         {("v6", n) for n in V6_DIFFERENT} | {("v4", n) for n in V4_DIFFERENT})
