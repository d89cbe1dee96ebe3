"""The harness the crafted-packet checks beside it share (exthdr.py, tcpmss.py, dsfield.py; run
by hand, as root, never in CI). Not product code.

For each case (a label, a family, count-only rules in OUTPUT, how many nft rules each legacy
rule became, and the packets), `main` translates the rules with `fwnet import --family F` +
`fwnet show`, and for every packet, in a fresh network namespace (`unshare -n`), loads the
legacy rules with ip(6)tables-legacy-restore and the translation with `nft -f` at priority -10,
sends the packet to the loopback address through a raw socket (the script calls itself with
`--send`), and compares the per-rule packet counters and whether the packet reached the end of
the chain (`end:0` on the legacy side is an xt hotdrop). nft counters of a legacy rule that
became several nft rules are added up.

A difference listed in `expected_different` ((label, packet) pairs) must show up, and no other
may: otherwise the script exits 1. Pairs in `counters_only` compare the rule counters without
the `end:` field.
"""
import os, socket, struct, subprocess, sys, tempfile

RUN = r"""
set -e
ip link set lo up
{tool}-restore < {legacy}
nft -f {nft}
python3 {me} --send {label} {index}
{tool} -vnxL OUTPUT | awk 'NR>2{{print $1}} NR==1{{end=($5>0)}} END{{print "end:" end}}' | tr '\n' ' '; echo
nft list ruleset | grep -o 'packets [0-9]*' | awk '{{print $2}} END{{print "end:1"}}' | tr '\n' ' '; echo
"""

LO4 = socket.inet_aton("127.0.0.1")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(proto, payload, tos=0, frag_field=0):
    """An IPv4 packet from and to 127.0.0.1 with a correct header checksum."""
    h = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), 1, frag_field, 64, proto, 0,
                    LO4, LO4)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def tcp(opts=(), flags=0x02, dport=80, doff=None):
    """A TCP header from port 1000 with `opts` (a list of bytes); `doff` may lie."""
    doff = doff or (20 + len(opts)) // 4
    return struct.pack("!HHIIBBHHH", 1000, dport, 1, 0, doff << 4, flags, 1000, 0, 0) + bytes(opts)


def send(family, packet):
    af = socket.AF_INET6 if family == "6" else socket.AF_INET
    s = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        s.sendto(packet, ("::1" if family == "6" else "127.0.0.1", 0))
    except OSError:
        pass  # dropped by a hook: the counters tell which


def translate(fwnet, rules, tmp, label, family):
    legacy = os.path.join(tmp, label + ".rules")
    open(legacy, "w").write(rules)
    env = dict(os.environ, FWNET_STATE_DIR=os.path.join(tmp, label + ".state"))
    subprocess.run([fwnet, "import", "--family", family, legacy], check=True, env=env,
                   capture_output=True)
    shown = subprocess.run([fwnet, "show"], check=True, env=env, capture_output=True,
                           text=True).stdout
    nft = os.path.join(tmp, label + ".nft")
    open(nft, "w").write(shown.replace("priority 0;", "priority -10;"))
    return legacy, nft


def grouped(counts, groups):
    """nft counters added per legacy rule; `end:` kept."""
    out, i = [], 0
    for n in groups:
        out.append(str(sum(int(c) for c in counts[i:i + n])))
        i += n
    return out + counts[i:]


def main(script, cases, expected_different, counters_only=frozenset()):
    """`cases`: (label, family "4" or "6", rules, nft rules per legacy rule or None, packets)."""
    if sys.argv[1:2] == ["--send"]:
        label, index = sys.argv[2], int(sys.argv[3])
        family, packets = next((c[1], c[4]) for c in cases if c[0] == label)
        return send(family, list(packets.values())[index])
    fwnet = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "fwnet"
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for label, family, rules, groups, packets in cases:
            legacy, nft = translate(fwnet, rules, tmp, label, family)
            tool = "ip6tables-legacy" if family == "6" else "iptables-legacy"
            for i, name in enumerate(packets):
                sh = RUN.format(tool=tool, legacy=legacy, nft=nft, me=os.path.abspath(script),
                                label=label, index=i)
                out = subprocess.run(["unshare", "-n", "sh", "-c", sh], check=True,
                                     capture_output=True, text=True).stdout.splitlines()
                theirs = out[0].split()
                ours = grouped(out[1].split(), groups) if groups else out[1].split()
                if (label, name) in counters_only:
                    theirs, ours = theirs[:-1], ours[:-1]
                same = theirs == ours
                mark = "same" if same else "DIFFERENT"
                if same == ((label, name) in expected_different):
                    mark += " (unexpected)"
                    bad += 1
                print("%-5s %-32s legacy %-36s nft %-36s %s"
                      % (label, name, out[0], " ".join(ours), mark))
    sys.exit(1 if bad else 0)
