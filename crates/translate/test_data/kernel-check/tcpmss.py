#!/usr/bin/env python3
"""Crafted-packet check of the `-m tcpmss` translation against the legacy kernel (run by hand,
as root, never in CI): `python3 tcpmss.py PATH/TO/fwnet`.

The harness is kernel_check.py's: for each ruleset below (count-only rules in OUTPUT) and each
crafted IPv4 packet it compares the legacy kernel's per-rule counters with those of fwnet's
translation, and whether the packet reached the end of the chain (`end:0` on the legacy side
is an xt hotdrop). A `! --mss` rule is two nft rules; their counters are added.

The `tcp` ruleset has no conntrack, so non-first fragments reach it; the `ct` ruleset has, so
both kernels reassemble (a lone fragment never reaches OUTPUT). Malformed packets where the
two are known to differ (see tcpmss.rs) are listed in EXPECTED_DIFFERENT; any other
difference, or a known one that went away, makes the script exit 1. This file crafts packets
only for this check; it is not product code.
"""
from kernel_check import ip4, main, tcp

RULESETS = {
    # name: (rules, nft rules per legacy rule)
    "tcp": ("""*filter
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss 1000:1500
-A OUTPUT -p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss ! --mss 1000:1500
-A OUTPUT -p tcp -m tcp --dport 80 -m tcpmss --mss 1460
COMMIT
""", [1, 2, 1]),
    "ct": ("""*filter
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p tcp -m conntrack --ctstate NEW -m tcpmss ! --mss 536:65535
-A OUTPUT -p tcp -m state --state NEW -m tcpmss --mss 1460
COMMIT
""", [2, 1]),
}


def mss(n):
    return [2, 4, n >> 8, n & 0xFF]


PACKETS = {
    "mss 1460": ip4(6, tcp(mss(1460))),
    "mss 536": ip4(6, tcp(mss(536))),
    "mss 500": ip4(6, tcp(mss(500))),
    "no options": ip4(6, tcp([])),
    "nop nop mss 1200 nop nop": ip4(6, tcp([1, 1] + mss(1200) + [1, 1])),
    "window scale only": ip4(6, tcp([1, 3, 3, 7])),
    "non-first fragment": ip4(6, tcp([1, 1, 1, 1] + mss(1460)), frag_field=3),
    "first fragment, more to come": ip4(6, tcp(mss(500)), frag_field=0x2000),
    # malformed
    "mss with length 6": ip4(6, tcp([2, 6, 5, 0xB4, 0, 0, 1, 1])),
    "mss length 3 then mss 1460": ip4(6, tcp([2, 3, 1] + mss(1460) + [1, 1, 1])),
    "data offset past the end": ip4(6, tcp([], doff=6)),
}

EXPECTED_DIFFERENT = {
    ("tcp", "mss with length 6"), ("tcp", "mss length 3 then mss 1460"),
    ("tcp", "data offset past the end"),
    ("ct", "mss with length 6"), ("ct", "mss length 3 then mss 1460"),
}

# Reassembly holds a lone fragment before either chain: no counter moves on either side, and
# the legacy policy counter says `end:0` where this script assumes `end:1` for nft; compare the
# rule counters only. (With conntrack, the truncated header is INVALID, so `--ctstate NEW`
# fails before xt_tcpmss could drop it.)
COUNTERS_ONLY = {("ct", "non-first fragment"), ("ct", "first fragment, more to come")}


if __name__ == "__main__":
    main(__file__, [(name, "4", rules, groups, PACKETS) for name, (rules, groups) in RULESETS.items()],
         EXPECTED_DIFFERENT, COUNTERS_ONLY)
