#!/usr/bin/env python3
"""Crafted-packet check of the `-m tcpmss` translation against the legacy kernel (run by hand,
as root, never in CI): `python3 tcpmss.py PATH/TO/fwnet`.

Like exthdr.py beside it: for each ruleset below (count-only rules in OUTPUT) it translates
with `fwnet import` + `fwnet show`, loads the legacy rules with iptables-legacy-restore and the
translation with `nft -f` at priority -10 in a fresh network namespace (`unshare -n`), sends
each crafted IPv4 packet to the loopback address through a raw socket, and compares the
per-rule packet counters and whether the packet reached the end of the chain (`end:0` on the
legacy side is an xt hotdrop). A `! --mss` rule is two nft rules; their counters are added.

The `tcp` ruleset has no conntrack, so non-first fragments reach it; the `ct` ruleset has, so
both kernels reassemble (a lone fragment never reaches OUTPUT). Malformed packets where the
two are known to differ (see tcpmss.rs) are listed in EXPECTED_DIFFERENT; any other
difference, or a known one that went away, makes the script exit 1. This file crafts packets
only for this check; it is not product code.
"""
import os, socket, struct, subprocess, sys, tempfile

FWNET = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "fwnet"

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


def syn(opts, doff=None):
    doff = doff or (20 + len(opts)) // 4
    return struct.pack("!HHIIBBHHH", 1000, 80, 1, 0, doff << 4, 0x02, 1000, 0, 0) + bytes(opts)


def mss(n):
    return [2, 4, n >> 8, n & 0xFF]


PACKETS = {
    "mss 1460": ip4(6, syn(mss(1460))),
    "mss 536": ip4(6, syn(mss(536))),
    "mss 500": ip4(6, syn(mss(500))),
    "no options": ip4(6, syn([])),
    "nop nop mss 1200 nop nop": ip4(6, syn([1, 1] + mss(1200) + [1, 1])),
    "window scale only": ip4(6, syn([1, 3, 3, 7])),
    "non-first fragment": ip4(6, syn([1, 1, 1, 1] + mss(1460)), frag_field=3),
    "first fragment, more to come": ip4(6, syn(mss(500)), frag_field=0x2000),
    # malformed
    "mss with length 6": ip4(6, syn([2, 6, 5, 0xB4, 0, 0, 1, 1])),
    "mss length 3 then mss 1460": ip4(6, syn([2, 3, 1] + mss(1460) + [1, 1, 1])),
    "data offset past the end": ip4(6, syn([], doff=6)),
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

RUN = r"""
set -e
ip link set lo up
iptables-legacy-restore < {legacy}
nft -f {nft}
python3 {me} --send {index}
iptables-legacy -vnxL OUTPUT | awk 'NR>2{{print $1}} NR==1{{end=($5>0)}} END{{print "end:" end}}' | tr '\n' ' '; echo
nft list ruleset | grep -o 'packets [0-9]*' | awk '{{print $2}} END{{print "end:1"}}' | tr '\n' ' '; echo
"""


def send(index):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        s.sendto(list(PACKETS.values())[int(index)], ("127.0.0.1", 0))
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


def grouped(counts, groups):
    """nft counters added per legacy rule; `end:` kept."""
    out, i = [], 0
    for n in groups:
        out.append(str(sum(int(c) for c in counts[i:i + n])))
        i += n
    return out + counts[i:]


def main():
    if sys.argv[1:2] == ["--send"]:
        return send(sys.argv[2])
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for set_name, (rules, groups) in RULESETS.items():
            legacy, nft = translate(rules, tmp, set_name)
            for i, name in enumerate(PACKETS):
                sh = RUN.format(legacy=legacy, nft=nft, me=os.path.abspath(__file__), index=i)
                out = subprocess.run(["unshare", "-n", "sh", "-c", sh], check=True,
                                     capture_output=True, text=True).stdout.splitlines()
                ours = grouped(out[1].split(), groups)
                theirs = out[0].split()
                if (set_name, name) in COUNTERS_ONLY:
                    theirs, ours = theirs[:-1], ours[:-1]
                same = theirs == ours
                expected = (set_name, name) not in EXPECTED_DIFFERENT
                mark = "same" if same else "DIFFERENT"
                if same != expected:
                    mark += " (unexpected)"
                    bad += 1
                print("%-4s %-30s legacy %-18s nft %-18s %s" % (set_name, name, out[0], " ".join(ours), mark))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
