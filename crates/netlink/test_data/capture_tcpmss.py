#!/usr/bin/env python3
"""Capture the golden fixtures for the `exthdr` TCP option writes of TCPMSS (run by hand, as
root): `tcp option maxseg size set rt mtu` and `... set 1400`, plus the `tcp option maxseg
size` load of `-m tcpmss`.

Usage: python3 capture_tcpmss.py            (from crates/netlink/test_data)

Reuses capture.py's strace capture and annotator on `tcpmss.nft`: every rule message nft
1.0.6 sends becomes `send/tcpmss_NN.hex` (NN = rule number from 1), the kernel's dump of the
loaded ruleset becomes `dump/tcpmss_replies.hex`, and `nft --debug=netlink list ruleset`
becomes `tcpmss.debug`.
"""
import os, subprocess
import capture as c

NEWRULE = (10 << 8) | 6

def main():
    src = os.path.join(c.HERE, "tcpmss.nft")
    sent = [m for m in c.run(src, None, "sendmsg")
            if int.from_bytes(m[4:6], "little") == NEWRULE]
    for i, m in enumerate(sent, 1):
        c.write("send/tcpmss_%02d.hex" % i,
                ["sent by: unshare -n nft -f test_data/tcpmss.nft (rule %d)" % i], [m])
    replies = c.run(src, "nft list ruleset", "recvmsg")
    c.write("dump/tcpmss_replies.hex",
            ["received by: nft list ruleset, after nft -f test_data/tcpmss.nft, in a fresh netns"],
            replies)
    listing = subprocess.run(["unshare", "-n", "sh", "-c",
                              "nft -f %s && nft --debug=netlink list ruleset" % src],
                             check=True, capture_output=True, text=True).stdout
    with open(os.path.join(c.HERE, "tcpmss.debug"), "w") as f:
        f.write(listing)

if __name__ == "__main__":
    main()
