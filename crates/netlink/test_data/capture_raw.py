#!/usr/bin/env python3
"""Capture the golden fixtures for `notrack`, `numgen`, `byteorder`, `meta secpath` and `rt`
(run by hand, as root).

Usage: python3 capture_raw.py            (from crates/netlink/test_data)

Reuses capture.py's strace capture and annotator on `raw.nft`: every rule message nft 1.0.6
sends becomes `send/raw_NN.hex` (NN = rule number from 1), the kernel's dump of the loaded
ruleset becomes `dump/raw_replies.hex`, and `nft --debug=netlink list ruleset` becomes
`raw.debug`.
"""
import os, subprocess
import capture as c

NEWRULE = (10 << 8) | 6

# numgen's attributes are `enum nft_ng_attributes`, not `nft_numgen_attributes`.
_expr_ctx = c.expr_ctx
c.expr_ctx = lambda name: "nft_ng_attributes" if name == "numgen" else _expr_ctx(name)

def main():
    src = os.path.join(c.HERE, "raw.nft")
    sent = [m for m in c.run(src, None, "sendmsg")
            if int.from_bytes(m[4:6], "little") == NEWRULE]
    for i, m in enumerate(sent, 1):
        c.write("send/raw_%02d.hex" % i,
                ["sent by: unshare -n nft -f test_data/raw.nft (rule %d)" % i], [m])
    replies = c.run(src, "nft list ruleset", "recvmsg")
    c.write("dump/raw_replies.hex",
            ["received by: nft list ruleset, after nft -f test_data/raw.nft, in a fresh netns"],
            replies)
    listing = subprocess.run(["unshare", "-n", "sh", "-c",
                              "nft -f %s && nft --debug=netlink list ruleset" % src],
                             check=True, capture_output=True, text=True).stdout
    with open(os.path.join(c.HERE, "raw.debug"), "w") as f:
        f.write(listing)

if __name__ == "__main__":
    main()
