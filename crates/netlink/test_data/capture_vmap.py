#!/usr/bin/env python3
"""Capture the golden fixtures for verdict maps (`vmap`), run by hand as root: an interval
map of ports to `accept` / `jump`, behind a counted set lookup of the same ports, and a hash
map of addresses to `drop` / `goto`.

Usage: python3 capture_vmap.py            (from crates/netlink/test_data)

Reuses capture.py's strace capture and annotator on `vmap.nft`: every NEWSET, NEWSETELEM and
NEWRULE message nft 1.0.6 sends becomes `send/vmap_NN.hex` (NN in the order sent, from 1), the
kernel's dump of the loaded ruleset becomes `dump/vmap_replies.hex`, and `nft --debug=netlink
list ruleset` becomes `vmap.debug`.
"""
import os, subprocess
import capture as c

KEEP = {(10 << 8) | t for t in (6, 9, 12)}  # NEWRULE, NEWSET, NEWSETELEM

def main():
    src = os.path.join(c.HERE, "vmap.nft")
    sent = [m for m in c.run(src, None, "sendmsg")
            if int.from_bytes(m[4:6], "little") in KEEP]
    for i, m in enumerate(sent, 1):
        c.write("send/vmap_%02d.hex" % i,
                ["sent by: unshare -n nft -f test_data/vmap.nft (message %d kept)" % i], [m])
    replies = c.run(src, "nft list ruleset", "recvmsg")
    c.write("dump/vmap_replies.hex",
            ["received by: nft list ruleset, after nft -f test_data/vmap.nft, in a fresh netns"],
            replies)
    listing = subprocess.run(["unshare", "-n", "sh", "-c",
                              "nft -f %s && nft --debug=netlink list ruleset" % src],
                             check=True, capture_output=True, text=True).stdout
    with open(os.path.join(c.HERE, "vmap.debug"), "w") as f:
        f.write(listing)

if __name__ == "__main__":
    main()
