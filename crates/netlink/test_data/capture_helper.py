#!/usr/bin/env python3
"""Capture the golden fixtures for `ct helper` objects and the `objref` expression (run by
hand, as root).

Usage: python3 capture_helper.py         (from crates/netlink/test_data)

Reuses capture.py's strace capture and annotator on `helper.nft`: every object message
(NFT_MSG_NEWOBJ) nft 1.0.6 sends becomes `send/helper_obj_NN.hex`, every rule message
`send/helper_rule_NN.hex` (NN from 1), the GETOBJ dump request of `nft list ruleset` becomes
`dump/helper_requests.hex`, the kernel's dump of the loaded ruleset `dump/helper_replies.hex`,
and `nft --debug=netlink list ruleset` becomes `helper.debug`.
"""
import os, subprocess
import capture as c

NEWRULE = (10 << 8) | 6
NEWOBJ = (10 << 8) | 18
GETOBJ = (10 << 8) | 19

# Teach the annotator the object messages and the ct helper / objref attributes.
c.MSG_CTX[18] = "nft_object_attributes"
c.MSG_CTX[19] = "nft_object_attributes"
c.MSG_CTX[20] = "nft_object_attributes"
c.CHILD["NFTA_OBJ_DATA"] = "nft_ct_helper_attributes"
c.STRINGS.update({"NFTA_OBJ_TABLE", "NFTA_OBJ_NAME", "NFTA_CT_HELPER_NAME",
                  "NFTA_OBJREF_IMM_NAME"})

def main():
    src = os.path.join(c.HERE, "helper.nft")
    sent = c.run(src, None, "sendmsg")
    ty = lambda m: int.from_bytes(m[4:6], "little")
    objs = [m for m in sent if ty(m) == NEWOBJ]
    rules = [m for m in sent if ty(m) == NEWRULE]
    for i, m in enumerate(objs, 1):
        c.write("send/helper_obj_%02d.hex" % i,
                ["sent by: unshare -n nft -f test_data/helper.nft (object %d)" % i], [m])
    for i, m in enumerate(rules, 1):
        c.write("send/helper_rule_%02d.hex" % i,
                ["sent by: unshare -n nft -f test_data/helper.nft (rule %d)" % i], [m])
    requests = [m for m in c.run(src, "nft list ruleset", "sendto") if ty(m) == GETOBJ]
    c.write("dump/helper_requests.hex",
            ["sent by: nft list ruleset (its GETOBJ request), after nft -f test_data/helper.nft"],
            requests)
    replies = c.run(src, "nft list ruleset", "recvmsg")
    c.write("dump/helper_replies.hex",
            ["received by: nft list ruleset, after nft -f test_data/helper.nft, in a fresh netns"],
            replies)
    listing = subprocess.run(["unshare", "-n", "sh", "-c",
                              "nft -f %s && nft --debug=netlink list ruleset" % src],
                             check=True, capture_output=True, text=True).stdout
    with open(os.path.join(c.HERE, "helper.debug"), "w") as f:
        f.write(listing)

if __name__ == "__main__":
    main()
