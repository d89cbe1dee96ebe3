#!/usr/bin/env python3
"""Capture the golden fixtures for the `connlimit` expression of `-m connlimit` (run by hand, as
root): `ct count over N` (NFT_CONNLIMIT_F_INV), `ct count N`, and `ct count` inside a dynset
`add` on a masked address.

Usage: python3 capture_connlimit.py            (from crates/netlink/test_data)

Reuses capture.py's strace capture and annotator on `connlimit.nft`: every rule message nft
1.0.6 sends becomes `send/connlimit_NN.hex` (NN = rule number from 1), the kernel's dump of the
loaded ruleset becomes `dump/connlimit_replies.hex`, and `nft --debug=netlink list ruleset`
becomes `connlimit.debug`.
"""
import os, subprocess
import capture as c

NEWRULE = (10 << 8) | 6

def main():
    src = os.path.join(c.HERE, "connlimit.nft")
    sent = [m for m in c.run(src, None, "sendmsg")
            if int.from_bytes(m[4:6], "little") == NEWRULE]
    for i, m in enumerate(sent, 1):
        c.write("send/connlimit_%02d.hex" % i,
                ["sent by: unshare -n nft -f test_data/connlimit.nft (rule %d)" % i], [m])
    replies = c.run(src, "nft list ruleset", "recvmsg")
    c.write("dump/connlimit_replies.hex",
            ["received by: nft list ruleset, after nft -f test_data/connlimit.nft, in a fresh netns"],
            replies)
    listing = subprocess.run(["unshare", "-n", "sh", "-c",
                              "nft -f %s && nft --debug=netlink list ruleset" % src],
                             check=True, capture_output=True, text=True).stdout
    with open(os.path.join(c.HERE, "connlimit.debug"), "w") as f:
        f.write(listing)

if __name__ == "__main__":
    main()
