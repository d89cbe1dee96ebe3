#!/usr/bin/env python3
"""Crafted-packet check of the `-m dscp`, `-m tos` and `-m ecn` translations against the legacy
kernel (run by hand, as root, never in CI): `python3 dsfield.py PATH/TO/fwnet`.

The harness is kernel_check.py's: for each ruleset below (count-only rules in OUTPUT) it translates
with `fwnet import` + `fwnet show`, loads the legacy rules with iptables-legacy-restore and the
translation with `nft -f` at priority -10 in a fresh network namespace (`unshare -n`), sends
each crafted IPv4 packet to the loopback address through a raw socket, and compares the
per-rule packet counters and whether the packet reached the end of the chain (`end:0` on the
legacy side is an xt hotdrop).

The `plain` ruleset has no conntrack, so non-first fragments reach it (and fwnet guards the
rule's `tcp dport` with `ip frag-off & 8191 == 0`); the `ct` ruleset has, so both kernels
reassemble. Packets where the two are known to differ (a TCP header cut short, see tcp.rs and
ecn.rs) are listed in EXPECTED_DIFFERENT; any other difference, or a known one that went away,
makes the script exit 1. This file crafts packets only for this check; it is not product code.
"""
import struct

from kernel_check import ip4, main, tcp as tcp_header

RULESETS = {
    # name: (rules, nft rules per legacy rule)
    "plain": ("""*filter
:OUTPUT ACCEPT [0:0]
-A OUTPUT -m dscp --dscp 10
-A OUTPUT -m dscp ! --dscp-class EF
-A OUTPUT -m tos --tos Minimize-Delay
-A OUTPUT -m tos ! --tos 0x10/0xfe
-A OUTPUT -m tos --tos 0x2b
-A OUTPUT -m ecn --ecn-ip-ect 3
-A OUTPUT -m ecn ! --ecn-ip-ect 1
-A OUTPUT -p tcp --dport 80 -m ecn --ecn-tcp-cwr ! --ecn-tcp-ece
COMMIT
""", [1] * 8),
    "ct": ("""*filter
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p tcp -m conntrack --ctstate NEW,ESTABLISHED,RELATED,INVALID -m ecn --ecn-tcp-ece
-A OUTPUT -p tcp -m conntrack --ctstate NEW,ESTABLISHED,RELATED,INVALID -m ecn ! --ecn-tcp-cwr --ecn-ip-ect 2
COMMIT
""", [1, 1]),
}


CWR, ECE, SYN = 0x80, 0x40, 0x02


def tcp(flags, dport=80):
    return tcp_header(flags=flags, dport=dport)


PACKETS = {
    "tos 0x00 syn": ip4(6, tcp(SYN)),
    "tos 0x28 syn": ip4(6, tcp(SYN), tos=0x28),
    "tos 0x2b syn": ip4(6, tcp(SYN), tos=0x2B),
    "tos 0x2a syn": ip4(6, tcp(SYN), tos=0x2A),
    "tos 0xb8 syn": ip4(6, tcp(SYN), tos=0xB8),
    "tos 0xba syn|cwr|ece": ip4(6, tcp(SYN | CWR | ECE), tos=0xBA),
    "tos 0x10 syn|cwr": ip4(6, tcp(SYN | CWR), tos=0x10),
    "tos 0x11 syn|cwr": ip4(6, tcp(SYN | CWR), tos=0x11),
    "tos 0x50 syn|ece": ip4(6, tcp(SYN | ECE), tos=0x50),
    "tos 0xd3 syn|cwr port 81": ip4(6, tcp(SYN | CWR, dport=81), tos=0xD3),
    "tos 0x02 udp": ip4(17, struct.pack("!HHHH", 1000, 80, 8, 0), tos=0x02),
    "non-first fragment, cwr in data": ip4(6, tcp(SYN | CWR), tos=0x2A, frag_field=3),
    "first fragment, cwr": ip4(6, tcp(SYN | CWR), tos=0x2A, frag_field=0x2000),
    # malformed: a TCP header of 16 bytes
    "tcp header cut short, cwr": ip4(6, tcp(SYN | CWR)[:16], tos=0x02),
}

EXPECTED_DIFFERENT = {
    # xt_tcp (--dport) drops a short header; nft's tests read the bytes that are there.
    ("plain", "tcp header cut short, cwr"),
}

# Reassembly holds a lone fragment before either chain: compare the rule counters only.
COUNTERS_ONLY = {("ct", "non-first fragment, cwr in data"), ("ct", "first fragment, cwr")}


if __name__ == "__main__":
    main(__file__, [(name, "4", rules, groups, PACKETS) for name, (rules, groups) in RULESETS.items()],
         EXPECTED_DIFFERENT, COUNTERS_ONLY)
