#!/usr/bin/env python3
"""Capture the golden fixtures for the `tproxy` expression of `-j TPROXY` (run by hand, as
root): address and port, port alone, address alone (ip), an IPv6 address and port, and a port
without a family (inet).

Usage: python3 capture_tproxy.py            (from crates/netlink/test_data)

Reuses capture.py's strace capture and annotator on `tproxy.nft`: every rule message nft
1.0.6 sends becomes `send/tproxy_NN.hex` (NN = rule number from 1), the kernel's dump of the
loaded ruleset becomes `dump/tproxy_replies.hex`, and `nft --debug=netlink list ruleset`
becomes `tproxy.debug`.
"""
import os, subprocess
import capture as c

NEWRULE = (10 << 8) | 6

def main():
    src = os.path.join(c.HERE, "tproxy.nft")
    sent = [m for m in c.run(src, None, "sendmsg")
            if int.from_bytes(m[4:6], "little") == NEWRULE]
    for i, m in enumerate(sent, 1):
        c.write("send/tproxy_%02d.hex" % i,
                ["sent by: unshare -n nft -f test_data/tproxy.nft (rule %d)" % i], [m])
    replies = c.run(src, "nft list ruleset", "recvmsg")
    c.write("dump/tproxy_replies.hex",
            ["received by: nft list ruleset, after nft -f test_data/tproxy.nft, in a fresh netns"],
            replies)
    listing = subprocess.run(["unshare", "-n", "sh", "-c",
                              "nft -f %s && nft --debug=netlink list ruleset" % src],
                             check=True, capture_output=True, text=True).stdout
    with open(os.path.join(c.HERE, "tproxy.debug"), "w") as f:
        f.write(listing)

if __name__ == "__main__":
    main()
