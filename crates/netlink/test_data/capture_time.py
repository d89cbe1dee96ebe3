#!/usr/bin/env python3
"""Capture the golden fixtures for the clock loads of `-m time` (run by hand, as root): `meta
load time` with an 8-byte `byteorder` and `cmp gte`/`cmp lt`, `meta load hour` with a 4-byte
`byteorder` then `cmp gte`/`cmp lte` or `range neq`, and `meta load day` with a 1-byte `cmp`.

Usage: python3 capture_time.py            (from crates/netlink/test_data)

Reuses capture.py's strace capture and annotator on `time.nft`: every rule message nft
1.0.6 sends becomes `send/time_NN.hex` (NN = rule number from 1), the kernel's dump of the
loaded ruleset becomes `dump/time_replies.hex`, and `nft --debug=netlink list ruleset`
becomes `time.debug`.
"""
import os, subprocess
import capture as c

NEWRULE = (10 << 8) | 6

def main():
    src = os.path.join(c.HERE, "time.nft")
    sent = [m for m in c.run(src, None, "sendmsg")
            if int.from_bytes(m[4:6], "little") == NEWRULE]
    for i, m in enumerate(sent, 1):
        c.write("send/time_%02d.hex" % i,
                ["sent by: unshare -n nft -f test_data/time.nft (rule %d)" % i], [m])
    replies = c.run(src, "nft list ruleset", "recvmsg")
    c.write("dump/time_replies.hex",
            ["received by: nft list ruleset, after nft -f test_data/time.nft, in a fresh netns"],
            replies)
    listing = subprocess.run(["unshare", "-n", "sh", "-c",
                              "nft -f %s && nft --debug=netlink list ruleset" % src],
                             check=True, capture_output=True, text=True).stdout
    with open(os.path.join(c.HERE, "time.debug"), "w") as f:
        f.write(listing)

if __name__ == "__main__":
    main()
