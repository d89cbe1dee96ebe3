#!/usr/bin/env python3
"""Capture the golden fixtures for the `synproxy` expression of `-j SYNPROXY` (run by hand, as
root): every option, none, MSS alone, and wscale with timestamp.

Usage: python3 capture_synproxy.py            (from crates/netlink/test_data)

Reuses capture.py's strace capture and annotator on `synproxy.nft`: every rule message nft
1.0.6 sends becomes `send/synproxy_NN.hex` (NN = rule number from 1), the kernel's dump of the
loaded ruleset becomes `dump/synproxy_replies.hex`, and `nft --debug=netlink list ruleset`
becomes `synproxy.debug`.
"""
import os, subprocess
import capture as c

NEWRULE = (10 << 8) | 6

def main():
    src = os.path.join(c.HERE, "synproxy.nft")
    sent = [m for m in c.run(src, None, "sendmsg")
            if int.from_bytes(m[4:6], "little") == NEWRULE]
    for i, m in enumerate(sent, 1):
        c.write("send/synproxy_%02d.hex" % i,
                ["sent by: unshare -n nft -f test_data/synproxy.nft (rule %d)" % i], [m])
    replies = c.run(src, "nft list ruleset", "recvmsg")
    c.write("dump/synproxy_replies.hex",
            ["received by: nft list ruleset, after nft -f test_data/synproxy.nft, in a fresh netns"],
            replies)
    listing = subprocess.run(["unshare", "-n", "sh", "-c",
                              "nft -f %s && nft --debug=netlink list ruleset" % src],
                             check=True, capture_output=True, text=True).stdout
    with open(os.path.join(c.HERE, "synproxy.debug"), "w") as f:
        f.write(listing)

if __name__ == "__main__":
    main()
