#!/usr/bin/env python3
"""Crafted-packet check of the `-m dscp`, `-m tos` and `-m ecn` translations against the legacy
kernel (run by hand, as root, never in CI): `python3 dsfield.py PATH/TO/fwnet`.

The harness is tcpmss.py's: for each ruleset below (count-only rules in OUTPUT) it translates
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
import os, socket, struct, subprocess, sys, tempfile

FWNET = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "--send" else "fwnet"

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


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(proto, payload, tos=0, frag_field=0):
    lo = socket.inet_aton("127.0.0.1")
    h = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), 1, frag_field, 64, proto, 0, lo, lo)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


CWR, ECE, SYN = 0x80, 0x40, 0x02


def tcp(flags, dport=80):
    return struct.pack("!HHIIBBHHH", 1000, dport, 1, 0, 5 << 4, flags, 1000, 0, 0)


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
