#!/usr/bin/env python3
"""Capture and annotate the codec's golden fixtures (run by hand, as root, never in CI).

Usage: python3 capture.py            (from crates/netlink/test_data)

For each scenario below it runs `nft` 1.0.6 inside a fresh network namespace (`unshare -n`)
under `strace -e write=3 -e read=3`, takes the netlink bytes nft sent (sendmsg/sendto) or the
kernel sent back (recvmsg), splits them into messages and writes one annotated `.hex` file per
fixture: every header field and attribute on its own line with its uapi name and value.
The Rust tests read only the hex bytes (everything after `#` is a comment).
"""
import os, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ENUMS = "/usr/include/linux/netfilter/nf_tables.h"

def enums():
    out, name, n = {}, None, 0
    for line in open(ENUMS):
        m = re.match(r"enum (\w+) \{", line)
        if m:
            name, n = m.group(1), 0
            out[name] = {}
            continue
        if line.startswith("};"):
            name = None
            continue
        m = re.match(r"\s+([A-Z][A-Z0-9_]+)\s*(?:=\s*(\w+))?,?", line)
        if name and m and not m.group(1).startswith("__"):
            if m.group(2):
                try:
                    n = int(m.group(2), 0)
                except ValueError:
                    continue
            out[name][n] = m.group(1)
            n += 1
    return out

E = enums()
# Nest schema: (enum for this level, {attr name: child context}).
LIST = "list"
def expr_ctx(name):
    return "nft_%s_attributes" % name
CHILD = {
    "NFTA_CHAIN_HOOK": "nft_hook_attributes",
    "NFTA_CHAIN_COUNTERS": "nft_counter_attributes",
    "NFTA_SET_DESC": "nft_set_desc_attributes",
    "NFTA_SET_DESC_CONCAT": ("list", "nft_set_field_attributes"),
    "NFTA_SET_ELEM_LIST_ELEMENTS": ("list", "nft_set_elem_attributes"),
    "NFTA_SET_ELEM_KEY": "nft_data_attributes",
    "NFTA_SET_ELEM_KEY_END": "nft_data_attributes",
    "NFTA_SET_ELEM_DATA": "nft_data_attributes",
    "NFTA_RULE_EXPRESSIONS": ("list", "expr"),
    "NFTA_DYNSET_EXPRESSIONS": ("list", "expr"),
    "NFTA_DYNSET_EXPR": "expr",
    "NFTA_DATA_VERDICT": "nft_verdict_attributes",
}
for k in ["NFTA_CMP_DATA", "NFTA_BITWISE_MASK", "NFTA_BITWISE_XOR", "NFTA_RANGE_FROM_DATA",
          "NFTA_RANGE_TO_DATA", "NFTA_IMMEDIATE_DATA"]:
    CHILD[k] = "nft_data_attributes"
MSG_CTX = {0: "nft_table_attributes", 3: "nft_chain_attributes", 9: "nft_set_attributes",
           12: "nft_set_elem_list_attributes", 6: "nft_rule_attributes", 15: "nft_gen_attributes"}
STRINGS = {"NFTA_TABLE_NAME", "NFTA_CHAIN_TABLE", "NFTA_CHAIN_NAME", "NFTA_CHAIN_TYPE",
           "NFTA_SET_TABLE", "NFTA_SET_NAME", "NFTA_SET_ELEM_LIST_TABLE", "NFTA_SET_ELEM_LIST_SET",
           "NFTA_RULE_TABLE", "NFTA_RULE_CHAIN", "NFTA_EXPR_NAME", "NFTA_LOOKUP_SET",
           "NFTA_DYNSET_SET_NAME", "NFTA_LOG_PREFIX", "NFTA_VERDICT_CHAIN", "NFTA_GEN_PROC_NAME"}
MSG_NAMES = {v: k for k, v in E["nf_tables_msg_types"].items()} if False else E["nf_tables_msg_types"]

def hexline(b):
    return " ".join("%02x" % x for x in b)

def value_comment(name, d):
    if name in STRINGS:
        return '"%s"' % d.rstrip(b"\0").decode(errors="replace")
    if len(d) == 4 and name != "NFTA_DATA_VALUE":
        v = int.from_bytes(d, "big")
        return "be32 %d (0x%x)" % (v, v)
    if len(d) == 8 and name != "NFTA_DATA_VALUE":
        return "be64 %d" % int.from_bytes(d, "big")
    if len(d) == 2 and name not in ("NFTA_DATA_VALUE",):
        return "be16 %d" % int.from_bytes(d, "big")
    if len(d) == 1:
        return "u8 %d" % d[0]
    return "%d raw bytes" % len(d)

def attrs(b, ctx, ind, out, expr_name=None):
    i = 0
    while i + 4 <= len(b):
        l = int.from_bytes(b[i:i + 2], "little")
        t = int.from_bytes(b[i + 2:i + 4], "little")
        num = t & 0x3FFF
        d = b[i + 4:i + l]
        if isinstance(ctx, tuple):  # a list level: every member is a nest of ctx[1]
            name, child = "NFTA_LIST_ELEM" if num == 1 else "element nest %d" % num, ctx[1]
        elif ctx == "expr":
            name = E["nft_expr_attributes"].get(num, "unknown %d" % num)
            child = expr_ctx(expr_name) if name == "NFTA_EXPR_DATA" else None
        else:
            name = E.get(ctx, {}).get(num, "unknown attribute %d" % num)
            child = CHILD.get(name)
        flag = " | NLA_F_NESTED" if t & 0x8000 else ""
        out.append("%s%s  # %snla_len %d, nla_type %s%s" % ("", hexline(b[i:i + 4]), ind, l, name, flag))
        if child and len(d) >= 4:
            sub_expr = None
            if child == "expr":
                nm = re.search(rb"\x01\x00([a-z_]+)\x00", d)
                sub_expr = nm.group(1).decode() if nm else None
            attrs(d, child, ind + "  ", out, sub_expr)
        elif d:
            comment = value_comment(name, d)
            for j in range(0, len(d), 16):
                out.append("%s  # %s  %s" % (hexline(d[j:j + 16]), ind, comment if j == 0 else "..."))
        pad = ((l + 3) & ~3) - l
        if pad and i + l + pad <= len(b):
            out.append("%s  # %spadding" % (hexline(b[i + l:i + l + pad]), ind))
        if ctx == "expr" and name == "NFTA_EXPR_NAME":
            expr_name = d.rstrip(b"\0").decode()
        i += (l + 3) & ~3

def annotate(m):
    out = []
    ln, ty, fl = int.from_bytes(m[0:4], "little"), int.from_bytes(m[4:6], "little"), int.from_bytes(m[6:8], "little")
    sub, msg = ty >> 8, ty & 0xFF
    tname = {0x10: "NFNL_MSG_BATCH_BEGIN", 0x11: "NFNL_MSG_BATCH_END", 2: "NLMSG_ERROR", 3: "NLMSG_DONE"}.get(ty)
    if tname is None and sub == 10:
        tname = "NFNL_SUBSYS_NFTABLES << 8 | %s" % E["nf_tables_msg_types"].get(msg, msg)
    out.append("%s  # nlmsg_len %d" % (hexline(m[0:4]), ln))
    out.append("%s  # nlmsg_type %s" % (hexline(m[4:6]), tname or ty))
    out.append("%s  # nlmsg_flags 0x%x" % (hexline(m[6:8]), fl))
    out.append("%s  # nlmsg_seq %d" % (hexline(m[8:12]), int.from_bytes(m[8:12], "little")))
    out.append("%s  # nlmsg_pid %d" % (hexline(m[12:16]), int.from_bytes(m[12:16], "little")))
    if ty == 2:
        out.append("%s  # error %d" % (hexline(m[16:20]), int.from_bytes(m[16:20], "little", signed=True)))
        olen = int.from_bytes(m[20:24], "little")
        out.append("# echoed request (%d bytes):" % olen)
        for j in range(20, 20 + olen, 16):
            out.append("%s  # ..." % hexline(m[j:min(j + 16, 20 + olen)]))
        rest = m[20 + olen:]
        i = 0
        while i + 4 <= len(rest):
            l = int.from_bytes(rest[i:i + 2], "little"); t = int.from_bytes(rest[i + 2:i + 4], "little")
            out.append("%s  # nla_len %d, nla_type %s" % (hexline(rest[i:i + 4]), l, {1: "NLMSGERR_ATTR_MSG", 2: "NLMSGERR_ATTR_OFFS"}.get(t, t)))
            out.append("%s  # value" % hexline(rest[i + 4:i + l]))
            i += (l + 3) & ~3
        return out
    if ty == 3:
        out.append("%s  # error %d" % (hexline(m[16:20]), int.from_bytes(m[16:20], "little", signed=True)))
        return out
    fam, ver, res = m[16], m[17], int.from_bytes(m[18:20], "big")
    out.append("%s  # nfgenmsg family %d, version %d, res_id be16 %d" % (hexline(m[16:20]), fam, ver, res))
    ctx = MSG_CTX.get(msg, "nft_table_attributes")
    if ty in (0x10, 0x11):
        ctx = "batch"
    if ctx == "batch":
        for j in range(20, len(m), 4):
            out.append("%s  # NFNL_BATCH_GENID attribute" % hexline(m[j:j + 4]))
    else:
        if msg in (1, 4, 7, 10, 13, 16):  # GET* requests carry the NEW* attribute set
            ctx = MSG_CTX.get(msg - 1, ctx)
        attrs(m[20:], ctx, "", out)
    return out

def bufs(path, call):
    out, cur = [], None
    for line in open(path):
        m = re.match(r"\d+\s+(\w+)\(", line)
        if m:
            if cur is not None:
                out.append(bytes(cur))
            cur = bytearray() if m.group(1) == call else None
            continue
        m = re.match(r"\s*\| [0-9a-f]{5}  (.{49})", line)
        if m and cur is not None:
            cur += bytes.fromhex(m.group(1).replace(" ", ""))
    if cur is not None:
        out.append(bytes(cur))
    return [b for b in out if b]

def msgs(b):
    i, r = 0, []
    while i + 16 <= len(b):
        l = int.from_bytes(b[i:i + 4], "little")
        if l < 16:
            break
        r.append(b[i:i + l]); i += (l + 3) & ~3
    return r

def run(nft_file, commands, call):
    """Runs `commands` (shell, after loading nft_file) under strace in a new netns."""
    trace = tempfile.mktemp()
    inner = "nft -f %s >/dev/null 2>&1; " % nft_file if commands else ""
    target = commands or "nft -f %s" % nft_file
    sh = "%sstrace -f -e trace=sendmsg,sendto,recvmsg -e write=3 -e read=3 -s 0 -o %s %s" % (inner, trace, target)
    subprocess.run(["unshare", "-n", "sh", "-c", sh], check=False, capture_output=True)
    return [m for b in bufs(trace, call) for m in msgs(b)]

def write(name, header, messages):
    kernel = os.uname().release
    with open(os.path.join(HERE, name), "w") as f:
        for h in header:
            f.write("# %s\n" % h)
        f.write("# nft 1.0.6 (nftables v1.0.6), kernel %s, captured with strace -e write=3 -e read=3\n" % kernel)
        f.write("# seq and port id are exactly as on the wire\n")
        for m in messages:
            f.write("\n" + "\n".join(annotate(m)) + "\n")

def main():
    ruleset = os.path.join(HERE, "ruleset.nft")
    sent = run(ruleset, None, "sendmsg")
    batch = [m for m in sent if len(m) >= 16]
    names = ["batch_begin", "table", "chain_regular", "chain_base", "set_dynamic_timeout",
             "rule_return", "rule_iifname", "rule_tcp_flags", "rule_ct_state_tcp_dport",
             "rule_dynset_limit", "rule_limit_counter", "rule_log", "rule_reject_icmp",
             "rule_reject_tcp_reset", "set_anonymous_interval", "setelem_interval",
             "rule_lookup_anonymous", "rule_lookup_named", "rule_range_jump",
             "rule_goto_comment", "batch_end"]
    assert len(batch) == len(names), len(batch)
    os.makedirs(os.path.join(HERE, "send"), exist_ok=True)
    for n, m in zip(names, batch):
        write("send/%s.hex" % n, ["sent by: unshare -n nft -f test_data/ruleset.nft (message %d of the batch)" % names.index(n)], [m])
    requests = run(ruleset, "nft list ruleset", "sendto")
    os.makedirs(os.path.join(HERE, "dump"), exist_ok=True)
    write("dump/requests.hex", ["sent by: nft list ruleset, after nft -f test_data/ruleset.nft, in a fresh netns"], requests)
    replies = run(ruleset, "nft list ruleset", "recvmsg")
    write("dump/replies.hex", ["received by: nft list ruleset, after nft -f test_data/ruleset.nft, in a fresh netns"], replies)
    errs = run(os.path.join(HERE, "errors.nft"), "nft -f %s" % os.path.join(HERE, "errors.nft"), "recvmsg")
    errs = [m for m in errs if int.from_bytes(m[4:6], "little") == 2]
    printer = os.path.join(HERE, "printer.nft")
    replies = run(printer, "nft list ruleset", "recvmsg")
    write("dump/printer_replies.hex", ["received by: nft list ruleset, after nft -f test_data/printer.nft, in a fresh netns"], replies)
    for src, dst in ((ruleset, "ruleset.debug"), (printer, "printer.debug")):
        listing = subprocess.run(["unshare", "-n", "sh", "-c", "nft -f %s && nft --debug=netlink list ruleset" % src],
                                 check=True, capture_output=True, text=True).stdout
        with open(os.path.join(HERE, dst), "w") as f:
            f.write(listing)
    write("dump/errors.hex", ["received by: nft -f test_data/errors.nft (rules naming missing chains), in a fresh netns"], errs)

if __name__ == "__main__":
    main()
