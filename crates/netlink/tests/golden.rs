//! Golden tests over bytes captured from nft 1.0.6 and kernel 6.18 (see `test_data/`):
//! every sent message decodes to its typed value and that value encodes to the same bytes,
//! the whole batch rebuilds byte for byte, kernel dumps decode (unknown attributes kept) and
//! print exactly as `nft --debug=netlink list ruleset`, and no byte string makes it panic.
//!
//! Seq and port id are compared too: nft 1.0.6 numbers batch messages from 0 and sends port
//! id 0, so the typed values are encoded with the fixture's own seq. Captures are refreshed
//! by hand with `test_data/capture.py`; this file never runs nft.

use fwnet_netlink::consts::*;
use fwnet_netlink::*;
use std::path::Path;

/// Reads a `.hex` fixture: hex byte pairs, `#` starts a comment.
fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut bytes = Vec::new();
    for line in text.lines() {
        let data = line.split('#').next().unwrap_or("");
        for pair in data.split_whitespace() {
            let b =
                u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("{name}: bad hex {pair:?}"));
            bytes.push(b);
        }
    }
    bytes
}

fn read_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Splits a byte run into netlink messages (the fixture's own framing, trusted).
fn split(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 16 {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        out.push(&rest[..len]);
        rest = &rest[(len + 3) & !3..];
    }
    out
}

const IP: u8 = NFPROTO_IPV4;

fn s(v: &str) -> String {
    v.to_string()
}

fn meta(key: u32) -> Expr {
    Expr::Meta { key, dreg: 1 }
}

fn cmp(op: u32, data: &[u8]) -> Expr {
    Expr::Cmp {
        sreg: 1,
        op,
        data: data.to_vec(),
    }
}

fn payload(base: u32, offset: u32, len: u32) -> Expr {
    Expr::Payload {
        base,
        offset,
        len,
        dreg: 1,
    }
}

fn verdict(v: Verdict) -> Expr {
    Expr::Immediate {
        dreg: 0,
        data: ImmData::Verdict(v),
    }
}

fn rule(chain: &str, exprs: Vec<Expr>) -> Rule {
    Rule {
        family: IP,
        table: s("fw"),
        chain: s(chain),
        exprs,
        ..Rule::default()
    }
}

/// `meta l4proto P` as nft emits it for `tcp dport` and friends.
fn l4proto(p: u8) -> [Expr; 2] {
    [meta(NFT_META_L4PROTO), cmp(NFT_CMP_EQ, &[p])]
}

/// One typed value of a sent fixture.
enum Obj {
    Table(Table),
    Chain(Chain),
    Set(Set),
    Elems(SetElemList),
    Rule(Rule),
}

struct Case {
    file: &'static str,
    msg: u8,
    flags: u16,
    obj: Obj,
}

const CREATE: u16 = NLM_F_CREATE;
const APPEND: u16 = NLM_F_CREATE | NLM_F_APPEND;

/// The batch nft 1.0.6 sends for test_data/ruleset.nft, in order, BEGIN and END excluded.
fn cases() -> Vec<Case> {
    let tcp_dport = |rest: Vec<Expr>| {
        let mut v = l4proto(6).to_vec();
        v.push(payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2));
        v.extend(rest);
        v
    };
    let mut iifname = b"lo".to_vec();
    iifname.resize(16, 0);
    vec![
        Case {
            file: "send/table.hex",
            msg: NFT_MSG_NEWTABLE,
            flags: 0,
            obj: Obj::Table(Table {
                family: IP,
                name: s("fw"),
                flags: Some(0),
                ..Table::default()
            }),
        },
        Case {
            file: "send/chain_regular.hex",
            msg: NFT_MSG_NEWCHAIN,
            flags: CREATE,
            obj: Obj::Chain(Chain {
                family: IP,
                table: s("fw"),
                name: s("other"),
                ..Chain::default()
            }),
        },
        Case {
            file: "send/chain_base.hex",
            msg: NFT_MSG_NEWCHAIN,
            flags: CREATE,
            obj: Obj::Chain(Chain {
                family: IP,
                table: s("fw"),
                name: s("input"),
                chain_type: Some(s("filter")),
                policy: Some(NF_DROP as u32),
                hook: Some(Hook {
                    hooknum: NF_INET_LOCAL_IN,
                    priority: 0,
                    ..Hook::default()
                }),
                ..Chain::default()
            }),
        },
        Case {
            file: "send/set_dynamic_timeout.hex",
            msg: NFT_MSG_NEWSET,
            flags: CREATE,
            obj: Obj::Set(Set {
                family: IP,
                table: s("fw"),
                name: s("t_icmp"),
                flags: Some(NFT_SET_TIMEOUT | NFT_SET_EVAL),
                key_type: Some(7),
                key_len: Some(4),
                id: Some(1),
                desc: Some(SetDesc {
                    size: Some(65535),
                    ..SetDesc::default()
                }),
                timeout_ms: Some(120_000),
                // nft's TLV: key byte order (type 0, len 4) = 2, big endian.
                userdata: Some(vec![0, 4, 2, 0, 0, 0]),
                ..Set::default()
            }),
        },
        Case {
            file: "send/rule_return.hex",
            msg: NFT_MSG_NEWRULE,
            flags: APPEND,
            obj: Obj::Rule(rule("other", vec![verdict(Verdict::Return)])),
        },
        Case {
            file: "send/rule_iifname.hex",
            msg: NFT_MSG_NEWRULE,
            flags: APPEND,
            obj: Obj::Rule(rule(
                "input",
                vec![
                    meta(NFT_META_IIFNAME),
                    cmp(NFT_CMP_EQ, &iifname),
                    verdict(Verdict::Accept),
                ],
            )),
        },
        Case {
            file: "send/rule_tcp_flags.hex",
            msg: NFT_MSG_NEWRULE,
            flags: APPEND,
            obj: Obj::Rule(rule(
                "input",
                vec![
                    payload(NFT_PAYLOAD_NETWORK_HEADER, 9, 1),
                    cmp(NFT_CMP_EQ, &[6]),
                    payload(NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1),
                    Expr::Bitwise {
                        sreg: 1,
                        dreg: 1,
                        len: 1,
                        mask: vec![0x3f],
                        xor: vec![0],
                        op: Some(NFT_BITWISE_BOOL),
                    },
                    cmp(NFT_CMP_EQ, &[0]),
                    verdict(Verdict::Drop),
                ],
            )),
        },
        Case {
            file: "send/rule_ct_state_tcp_dport.hex",
            msg: NFT_MSG_NEWRULE,
            flags: APPEND,
            obj: Obj::Rule(rule("input", {
                let mut v = vec![
                    Expr::Ct {
                        key: NFT_CT_STATE,
                        dreg: 1,
                        dir: None,
                    },
                    Expr::Bitwise {
                        sreg: 1,
                        dreg: 1,
                        len: 4,
                        mask: NF_CT_STATE_NEW_BIT.to_ne_bytes().to_vec(),
                        xor: vec![0; 4],
                        op: None,
                    },
                    cmp(NFT_CMP_NEQ, &[0; 4]),
                ];
                v.extend(tcp_dport(vec![
                    cmp(NFT_CMP_EQ, &22u16.to_be_bytes()),
                    verdict(Verdict::Accept),
                ]));
                v
            })),
        },
        Case {
            file: "send/rule_dynset_limit.hex",
            msg: NFT_MSG_NEWRULE,
            flags: APPEND,
            obj: Obj::Rule(rule("input", {
                let mut v = l4proto(1).to_vec();
                v.extend([
                    payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1),
                    cmp(NFT_CMP_EQ, &[8]),
                    payload(NFT_PAYLOAD_NETWORK_HEADER, 12, 4),
                    Expr::Dynset {
                        op: NFT_DYNSET_OP_UPDATE,
                        sreg_key: 1,
                        set: s("t_icmp"),
                        set_id: Some(1),
                        timeout_ms: None,
                        exprs: vec![Expr::Limit {
                            rate: 1,
                            unit: 60,
                            burst: 10,
                            kind: NFT_LIMIT_PKTS,
                            flags: 0,
                        }],
                    },
                    verdict(Verdict::Accept),
                ]);
                v
            })),
        },
        Case {
            file: "send/rule_limit_counter.hex",
            msg: NFT_MSG_NEWRULE,
            flags: APPEND,
            obj: Obj::Rule(rule(
                "input",
                vec![
                    Expr::Limit {
                        rate: 5,
                        unit: 1,
                        burst: 5,
                        kind: NFT_LIMIT_PKTS,
                        flags: 0,
                    },
                    Expr::Counter {
                        packets: 3,
                        bytes: 4,
                    },
                ],
            )),
        },
        Case {
            file: "send/rule_log.hex",
            msg: NFT_MSG_NEWRULE,
            flags: APPEND,
            obj: Obj::Rule(rule(
                "input",
                vec![Expr::Log {
                    snaplen: None,
                    qthreshold: None,
                    prefix: Some(s("x: ")),
                    level: Some(6),
                    flags: Some(NF_LOG_TCPSEQ),
                    group: None,
                }],
            )),
        },
        Case {
            file: "send/rule_reject_icmp.hex",
            msg: NFT_MSG_NEWRULE,
            flags: APPEND,
            obj: Obj::Rule(rule(
                "input",
                vec![
                    payload(NFT_PAYLOAD_NETWORK_HEADER, 9, 1),
                    cmp(NFT_CMP_EQ, &[17]),
                    // host-prohibited
                    Expr::Reject {
                        kind: NFT_REJECT_ICMP_UNREACH,
                        code: 10,
                    },
                ],
            )),
        },
        Case {
            file: "send/rule_reject_tcp_reset.hex",
            msg: NFT_MSG_NEWRULE,
            flags: APPEND,
            obj: Obj::Rule(rule("input", {
                let mut v = l4proto(6).to_vec();
                v.push(Expr::Reject {
                    kind: NFT_REJECT_TCP_RST,
                    code: 0,
                });
                v
            })),
        },
        Case {
            file: "send/set_anonymous_interval.hex",
            msg: NFT_MSG_NEWSET,
            flags: CREATE,
            obj: Obj::Set(Set {
                family: IP,
                table: s("fw"),
                name: s("__set%d"),
                flags: Some(NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL),
                key_type: Some(13),
                key_len: Some(2),
                id: Some(2),
                desc: Some(SetDesc {
                    size: Some(5),
                    ..SetDesc::default()
                }),
                userdata: Some(vec![
                    0, 4, 2, 0, 0, 0, 2, 4, 1, 0, 0, 0, 3, 20, 0, 4, 7, 0, 0, 0, 1, 12, 0, 4, 8, 0,
                    0, 0, 1, 4, 2, 0, 0, 0,
                ]),
                ..Set::default()
            }),
        },
        Case {
            file: "send/setelem_interval.hex",
            msg: NFT_MSG_NEWSETELEM,
            flags: CREATE,
            obj: Obj::Elems(SetElemList {
                family: IP,
                table: s("fw"),
                set: s("__set%d"),
                set_id: Some(2),
                elements: [
                    (0u16, true),
                    (80, false),
                    (81, true),
                    (1000, false),
                    (2001, true),
                ]
                .into_iter()
                .map(|(port, end)| SetElem {
                    key: port.to_be_bytes().to_vec(),
                    flags: end.then_some(NFT_SET_ELEM_INTERVAL_END),
                    ..SetElem::default()
                })
                .collect(),
                ..SetElemList::default()
            }),
        },
        Case {
            file: "send/rule_lookup_anonymous.hex",
            msg: NFT_MSG_NEWRULE,
            flags: APPEND,
            obj: Obj::Rule(rule(
                "input",
                tcp_dport(vec![
                    Expr::Lookup {
                        sreg: 1,
                        set: s("__set%d"),
                        set_id: Some(2),
                        dreg: None,
                        flags: 0,
                    },
                    verdict(Verdict::Accept),
                ]),
            )),
        },
        Case {
            file: "send/rule_lookup_named.hex",
            msg: NFT_MSG_NEWRULE,
            flags: APPEND,
            obj: Obj::Rule(rule(
                "input",
                vec![
                    payload(NFT_PAYLOAD_NETWORK_HEADER, 12, 4),
                    Expr::Lookup {
                        sreg: 1,
                        set: s("t_icmp"),
                        set_id: Some(1),
                        dreg: None,
                        flags: 0,
                    },
                    verdict(Verdict::Drop),
                ],
            )),
        },
        Case {
            file: "send/rule_range_jump.hex",
            msg: NFT_MSG_NEWRULE,
            flags: APPEND,
            obj: Obj::Rule(rule(
                "input",
                tcp_dport(vec![
                    Expr::Range {
                        sreg: 1,
                        op: NFT_RANGE_NEQ,
                        from: 1000u16.to_be_bytes().to_vec(),
                        to: 2000u16.to_be_bytes().to_vec(),
                    },
                    verdict(Verdict::Jump(s("other"))),
                ]),
            )),
        },
        Case {
            file: "send/rule_goto_comment.hex",
            msg: NFT_MSG_NEWRULE,
            flags: APPEND,
            obj: Obj::Rule(Rule {
                userdata: Some(comment_userdata("dns")),
                ..rule("input", {
                    let mut v = l4proto(17).to_vec();
                    v.extend([
                        payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2),
                        cmp(NFT_CMP_EQ, &53u16.to_be_bytes()),
                        verdict(Verdict::Goto(s("other"))),
                    ]);
                    v
                })
            }),
        },
    ]
}

/// decode(fixture) == value and encode(value) == fixture, with the fixture's seq.
fn check_both_ways<O: Object + PartialEq + std::fmt::Debug>(
    file: &str,
    msg: u8,
    flags: u16,
    value: &O,
) {
    let bytes = fixture(file);
    let header = Header::read(&bytes).expect("fixture header");
    assert_eq!(header.ty, nft_type(msg), "{file}: message type");
    assert_eq!(header.flags, flags | NLM_F_REQUEST, "{file}: flags");
    let decoded = O::decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(&decoded, value, "{file}: decode");
    assert_eq!(
        value.encode(msg, flags, header.seq),
        bytes,
        "{file}: encode"
    );
}

#[test]
fn sent_messages_round_trip_byte_exact() {
    for c in cases() {
        match &c.obj {
            Obj::Table(v) => check_both_ways(c.file, c.msg, c.flags, v),
            Obj::Chain(v) => check_both_ways(c.file, c.msg, c.flags, v),
            Obj::Set(v) => check_both_ways(c.file, c.msg, c.flags, v),
            Obj::Elems(v) => check_both_ways(c.file, c.msg, c.flags, v),
            Obj::Rule(v) => check_both_ways(c.file, c.msg, c.flags, v),
        }
    }
}

#[test]
fn batch_rebuilds_what_nft_sent() {
    let mut expected = fixture("send/batch_begin.hex");
    let mut batch = Batch::begin(0, 0, None);
    for (i, c) in cases().iter().enumerate() {
        expected.extend(fixture(c.file));
        let seq = match &c.obj {
            Obj::Table(v) => batch.push(c.msg, c.flags, v),
            Obj::Chain(v) => batch.push(c.msg, c.flags, v),
            Obj::Set(v) => batch.push(c.msg, c.flags, v),
            Obj::Elems(v) => batch.push(c.msg, c.flags, v),
            Obj::Rule(v) => batch.push(c.msg, c.flags, v),
        };
        assert_eq!(seq, i as u32 + 1);
    }
    let dry = batch.clone().end_without_commit();
    expected.extend(fixture("send/batch_end.hex"));
    let done = batch.end();
    assert_eq!(done.bytes, expected);
    assert_eq!(done.end_seq, Some(20));
    assert_eq!(dry.end_seq, None);
    assert_eq!(
        dry.bytes[..],
        expected[..expected.len() - 20],
        "dry run is the batch without END"
    );
    // seq 16 is the 16th message pushed: the anonymous-set lookup rule.
    assert_eq!(done.index_of_seq(16), Some(15));
    assert_eq!(done.index_of_seq(0), None, "BEGIN is not a pushed message");
    assert_eq!(done.index_of_seq(20), None, "END is not a pushed message");
}

#[test]
fn batch_begin_with_genid_and_ack() {
    let b = Batch::begin(7, NLM_F_ACK, Some(0x0cdf)).end();
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        28, 0, 0, 0,  0x10, 0,  0x05, 0,  7, 0, 0, 0,  0, 0, 0, 0,  // BEGIN, REQUEST|ACK, seq 7
        0, 0, 0, 10,                                                // AF_UNSPEC, v0, res_id be16 10
        8, 0, 1, 0,  0, 0, 0x0c, 0xdf,                              // NFNL_BATCH_GENID be32
        20, 0, 0, 0,  0x11, 0,  0x05, 0,  8, 0, 0, 0,  0, 0, 0, 0,  // END, seq 8
        0, 0, 0, 10,
    ];
    assert_eq!(b.bytes, expected);
}

#[test]
fn dump_requests_match_nft() {
    let bytes = fixture("dump/requests.hex");
    let msgs = split(&bytes);
    let ours = [
        (0, dump::get_gen(0)),
        (1, dump::get_tables(NFPROTO_UNSPEC, 0)),
        (2, dump::get_chains(NFPROTO_UNSPEC, 0)),
        (3, dump::get_sets(NFPROTO_UNSPEC, None, 0)),
        (5, dump::get_set_elems(IP, "fw", "t_icmp", 0)),
        (6, dump::get_set_elems(IP, "fw", "__set0", 0)),
        (8, dump::get_rules(IP, None, None, 0)),
    ];
    for (i, msg) in ours {
        assert_eq!(msgs[i], &msg[..], "request {i}");
    }
}

#[test]
fn dump_requests_filter_by_table() {
    let rules = dump::get_rules(IP, Some("fw"), None, 1);
    assert_eq!(&rules[20..], &[7, 0, 1, 0, b'f', b'w', 0, 0][..]);
    let sets = dump::get_sets(IP, Some("fw"), 1);
    assert_eq!(&sets[20..], &[7, 0, 1, 0, b'f', b'w', 0, 0][..]);
    assert_eq!(
        Header::read(&rules).map(|h| h.flags),
        Ok(NLM_F_REQUEST | NLM_F_DUMP)
    );
}

fn replies(file: &str) -> Vec<Reply> {
    let bytes = fixture(file);
    parse_replies(&bytes)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn kernel_dump_decodes_and_keeps_unknown_attributes() {
    let all = replies("dump/replies.hex");
    let mut sets = Vec::new();
    let (mut rules, mut tables, mut chains, mut dones, mut gens) = (0, 0, 0, 0, 0);
    for r in &all {
        match &r.body {
            ReplyBody::Set(s) => sets.push(s.clone()),
            ReplyBody::Rule(rule) => {
                rules += 1;
                assert!(rule.handle.is_some() && rule.other.is_empty());
                for e in &rule.exprs {
                    assert!(!matches!(e, Expr::Other { .. }), "undecoded {e}");
                }
            }
            ReplyBody::Table(t) => {
                tables += 1;
                assert_eq!(
                    (t.name.as_str(), t.use_count, t.handle, t.flags),
                    ("fw", Some(3), Some(1), Some(0))
                );
            }
            ReplyBody::Chain(c) => {
                chains += 1;
                if c.name == "input" {
                    assert_eq!(c.policy, Some(NF_DROP as u32));
                    assert_eq!(c.flags, Some(NFT_CHAIN_BASE));
                    assert_eq!(
                        c.hook.as_ref().map(|h| (h.hooknum, h.priority)),
                        Some((1, 0))
                    );
                }
            }
            ReplyBody::Done { error } => {
                dones += 1;
                assert_eq!(*error, 0);
            }
            ReplyBody::Gen(g) => {
                gens += 1;
                assert_eq!(g.proc_name.as_deref(), Some("nft"));
            }
            _ => {}
        }
    }
    assert_eq!((tables, chains, rules, gens), (1, 2, 13, 2));
    assert!(dones >= 5);
    let t_icmp = sets
        .iter()
        .find(|s| s.name == "t_icmp")
        .expect("set t_icmp dumped");
    assert_eq!(t_icmp.timeout_ms, Some(120_000));
    assert_eq!(t_icmp.desc.as_ref().and_then(|d| d.size), Some(65535));
    // Kernel 6.18 adds set attributes 19 and 20, newer than the 6.1 uapi header: kept raw.
    let kept: Vec<u16> = t_icmp.other.iter().map(|(ty, _)| *ty).collect();
    assert_eq!(kept, vec![19, 20]);
    // And sent back unchanged when re-encoded.
    let again = Set::decode(&t_icmp.encode(NFT_MSG_NEWSET, 0, 0)).expect("re-decode");
    assert_eq!(&again, t_icmp);
}

#[test]
fn kernel_dump_of_interval_set_elements() {
    let all = replies("dump/replies.hex");
    let elems = all
        .iter()
        .find_map(|r| match &r.body {
            ReplyBody::SetElems(l) if l.set == "__set0" && !l.elements.is_empty() => Some(l),
            _ => None,
        })
        .expect("__set0 elements dumped");
    let got: Vec<(Vec<u8>, Option<u32>)> = elems
        .elements
        .iter()
        .map(|e| (e.key.clone(), e.flags))
        .collect();
    let end = Some(NFT_SET_ELEM_INTERVAL_END);
    let expected = vec![
        (vec![0x07, 0xd1], end),
        (vec![0x03, 0xe8], None),
        (vec![0x00, 0x51], end),
        (vec![0x00, 0x50], None),
        (vec![0x00, 0x00], end),
    ];
    assert_eq!(got, expected);
}

/// The `[ ... ]` lines of each rule in an `nft --debug=netlink list ruleset` listing.
fn nft_listing(text: &str) -> Vec<Vec<String>> {
    let mut rules = Vec::new();
    for block in text.split("\n\n") {
        let lines: Vec<String> = block
            .lines()
            .filter(|l| l.starts_with("  ["))
            .map(|l| l.trim().to_string())
            .collect();
        if !lines.is_empty() {
            rules.push(lines);
        }
    }
    rules
}

fn printed_rules(file: &str) -> Vec<Vec<String>> {
    replies(file)
        .into_iter()
        .filter_map(|r| match r.body {
            ReplyBody::Rule(rule) => Some(rule.exprs.iter().map(|e| e.to_string()).collect()),
            _ => None,
        })
        .collect()
}

#[test]
fn printer_matches_nft_debug_netlink() {
    for (dump, listing) in [
        ("dump/replies.hex", "ruleset.debug"),
        ("dump/printer_replies.hex", "printer.debug"),
    ] {
        let ours = printed_rules(dump);
        let nft = nft_listing(&read_text(listing));
        assert_eq!(ours.len(), nft.len(), "{dump}: rule count");
        for (o, n) in ours.iter().zip(&nft) {
            assert_eq!(o, n, "{dump}");
        }
    }
}

#[test]
fn printer_on_sent_expressions() {
    // What lowering produces prints the same before the kernel fills in defaults.
    let Obj::Rule(r) = &cases()[8].obj else {
        panic!("case 8 is the dynset rule")
    };
    let printed: Vec<String> = r.exprs.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        printed[5],
        "[ dynset update reg_key 1 set t_icmp timeout 0ms expr [ limit rate 1/minute burst 10 type packets flags 0x0 ] ]"
    );
    let other = Expr::Other {
        name: s("fib"),
        data: vec![0; 8],
    };
    assert_eq!(other.to_string(), "[ fib <8 bytes not decoded> ]");
}

#[test]
fn extended_ack_errors_name_the_failing_message() {
    let errs = replies("dump/errors.hex");
    let got: Vec<(u32, i32, u16, Option<u32>)> = errs
        .iter()
        .map(|r| match &r.body {
            ReplyBody::Error(e) => (e.request.seq, e.errno(), e.request.ty, e.offset),
            other => panic!("expected an error, got {other:?}"),
        })
        .collect();
    // ENOENT for the two rules (batch seq 3 and 4); the offsets point into the echoed request:
    // at NFTA_RULE_CHAIN (missing chain) and at the first NFTA_LIST_ELEM of
    // NFTA_RULE_EXPRESSIONS (the immediate jumping to a missing chain).
    let newrule = nft_type(NFT_MSG_NEWRULE);
    assert_eq!(
        got,
        vec![(3, 2, newrule, Some(28)), (4, 2, newrule, Some(44))]
    );
}

#[test]
fn rule_comment_userdata() {
    assert_eq!(comment_userdata("dns"), vec![0, 4, b'd', b'n', b's', 0]);
    assert_eq!(
        userdata_comment(&comment_userdata("dns")).as_deref(),
        Some("dns")
    );
    assert_eq!(userdata_comment(&[0, 9, b'x']), None, "truncated TLV");
}

/// Every fixture, cut at every length and with every byte set to 0xff, must decode to
/// something or to an error, never panic; cuts of a single message must be errors.
#[test]
fn truncated_and_garbled_bytes_never_panic() {
    let mut files: Vec<&str> = cases().iter().map(|c| c.file).collect();
    files.extend([
        "dump/replies.hex",
        "dump/errors.hex",
        "dump/printer_replies.hex",
    ]);
    for file in files {
        let bytes = fixture(file);
        for cut in 1..bytes.len() {
            let part = &bytes[..cut];
            let results: Vec<_> = parse_replies(part).collect();
            if file.starts_with("send/") {
                assert!(Rule::decode(part).is_err(), "{file} cut at {cut}");
                assert!(
                    results.iter().any(|r| r.is_err()),
                    "{file} cut at {cut}: no error"
                );
            }
        }
        for i in 0..bytes.len() {
            let mut garbled = bytes.clone();
            garbled[i] = 0xff;
            let _ = parse_replies(&garbled).count();
            let _ = Rule::decode(&garbled);
            let _ = Set::decode(&garbled);
            let _ = SetElemList::decode(&garbled);
            let _ = Chain::decode(&garbled);
        }
    }
}

#[test]
fn wrong_message_type_is_an_error() {
    let table = fixture("send/table.hex");
    assert!(matches!(
        Rule::decode(&table),
        Err(DecodeError::WrongType { .. })
    ));
}

#[test]
fn unmodelled_expression_attributes_decode_to_other_losslessly() {
    // `meta` with NFTA_META_KEY and both NFTA_META_DREG and NFTA_META_SREG, which neither
    // Expr::Meta nor Expr::MetaSet can hold.
    let data = vec![
        8, 0, 2, 0, 0, 0, 0, 3, 8, 0, 1, 0, 0, 0, 0, 1, 8, 0, 3, 0, 0, 0, 0, 1,
    ];
    let r = rule(
        "input",
        vec![Expr::Other {
            name: s("meta"),
            data: data.clone(),
        }],
    );
    let back = Rule::decode(&r.encode(NFT_MSG_NEWRULE, APPEND, 1)).expect("decode");
    assert_eq!(
        back.exprs,
        vec![Expr::Other {
            name: s("meta"),
            data
        }]
    );
}

// --- match and target expressions (test_data/matches.nft, captured by capture_matches.py) ---

/// The rules nft 1.0.6 sends for test_data/matches.nft, in order (`send/matches_NN.hex`).
fn matches_cases() -> Vec<Rule> {
    let fib = |flags: u32| Expr::Fib {
        flags,
        result: NFT_FIB_RESULT_ADDRTYPE,
        dreg: 1,
    };
    vec![
        // fib daddr type local accept
        rule(
            "input",
            vec![
                fib(NFTA_FIB_F_DADDR),
                cmp(NFT_CMP_EQ, &2u32.to_ne_bytes()),
                verdict(Verdict::Accept),
            ],
        ),
        // fib saddr . iif type != broadcast
        rule(
            "input",
            vec![
                fib(NFTA_FIB_F_SADDR | NFTA_FIB_F_IIF),
                cmp(NFT_CMP_NEQ, &3u32.to_ne_bytes()),
            ],
        ),
        // meta mark set 0x1
        rule(
            "input",
            vec![
                Expr::Immediate {
                    dreg: 1,
                    data: ImmData::Value(1u32.to_ne_bytes().to_vec()),
                },
                meta_set(NFT_META_MARK),
            ],
        ),
        // meta mark set meta mark & 0xffffff00 ^ 0x1
        rule(
            "input",
            vec![
                meta(NFT_META_MARK),
                mark_bitwise(0xffff_ff00, 1),
                meta_set(NFT_META_MARK),
            ],
        ),
        // ct mark set ct mark & 0xffffff00 ^ 0x1
        rule(
            "input",
            vec![
                ct(NFT_CT_MARK),
                mark_bitwise(0xffff_ff00, 1),
                ct_set(NFT_CT_MARK),
            ],
        ),
        // ct mark set meta mark & 0xff
        rule(
            "input",
            vec![
                meta(NFT_META_MARK),
                mark_bitwise(0xff, 0),
                ct_set(NFT_CT_MARK),
            ],
        ),
        // meta mark set ct mark
        rule("input", vec![ct(NFT_CT_MARK), meta_set(NFT_META_MARK)]),
        // ip ttl < 5
        rule(
            "input",
            vec![
                payload(NFT_PAYLOAD_NETWORK_HEADER, 8, 1),
                cmp(NFT_CMP_LT, &[5]),
            ],
        ),
        // log prefix "nf: " group 5 snaplen 100 queue-threshold 1
        rule(
            "input",
            vec![Expr::Log {
                prefix: Some(s("nf: ")),
                level: None,
                flags: None,
                group: Some(5),
                snaplen: Some(100),
                qthreshold: Some(1),
            }],
        ),
        // log group 0 queue-threshold 1
        rule(
            "input",
            vec![Expr::Log {
                prefix: None,
                level: None,
                flags: None,
                group: Some(0),
                snaplen: None,
                qthreshold: Some(1),
            }],
        ),
    ]
}

fn meta_set(key: u32) -> Expr {
    Expr::MetaSet { key, sreg: 1 }
}

fn ct(key: u32) -> Expr {
    Expr::Ct {
        key,
        dreg: 1,
        dir: None,
    }
}

fn ct_set(key: u32) -> Expr {
    Expr::CtSet {
        key,
        sreg: 1,
        dir: None,
    }
}

/// `bitwise reg 1 = (reg 1 & mask) ^ xor` on a host-order 32-bit mark, with the BOOL op nft
/// sends.
fn mark_bitwise(mask: u32, xor: u32) -> Expr {
    Expr::Bitwise {
        sreg: 1,
        dreg: 1,
        len: 4,
        mask: mask.to_ne_bytes().to_vec(),
        xor: xor.to_ne_bytes().to_vec(),
        op: Some(NFT_BITWISE_BOOL),
    }
}

#[test]
fn match_expressions_round_trip_byte_exact() {
    for (i, r) in matches_cases().iter().enumerate() {
        let file = format!("send/matches_{:02}.hex", i + 1);
        check_both_ways(&file, NFT_MSG_NEWRULE, APPEND, r);
    }
}

#[test]
fn match_expressions_print_as_nft_debug_netlink() {
    let ours = printed_rules("dump/matches_replies.hex");
    let nft = nft_listing(&read_text("matches.debug"));
    assert_eq!(ours.len(), nft.len(), "rule count");
    assert_eq!(
        ours.len(),
        matches_cases().len(),
        "every captured rule is a case"
    );
    for (o, n) in ours.iter().zip(&nft) {
        assert_eq!(o, n);
    }
}

// --- NAT expressions (test_data/nat.nft, captured by capture_nat.py) ---

/// The rules nft 1.0.6 sends for test_data/nat.nft, in order (`send/nat_NN.hex`).
fn nat_cases() -> Vec<Rule> {
    let imm = |dreg: u32, v: &[u8]| Expr::Immediate {
        dreg,
        data: ImmData::Value(v.to_vec()),
    };
    let proto = |p: u8| {
        [
            payload(NFT_PAYLOAD_NETWORK_HEADER, 9, 1),
            cmp(NFT_CMP_EQ, &[p]),
        ]
    };
    let nat = |kind: u32, regs: NatRegs| Expr::Nat {
        kind,
        family: u32::from(NFPROTO_IPV4),
        regs,
    };
    let random = NF_NAT_RANGE_PROTO_RANDOM;
    let ports = NF_NAT_RANGE_PROTO_SPECIFIED;
    let mut v = vec![
        // masquerade
        rule("post", vec![Expr::Masq(PortRegs::default())]),
        // ip protocol tcp masquerade to :1024-65535 random
        rule(
            "post",
            [
                &proto(6)[..],
                &[
                    imm(1, &1024u16.to_be_bytes()),
                    imm(2, &65535u16.to_be_bytes()),
                    Expr::Masq(PortRegs {
                        proto_min: Some(1),
                        proto_max: Some(2),
                        flags: Some(ports | random),
                    }),
                ],
            ]
            .concat(),
        ),
        // masquerade fully-random,persistent
        rule(
            "post",
            vec![Expr::Masq(PortRegs {
                flags: Some(NF_NAT_RANGE_PROTO_RANDOM_FULLY | NF_NAT_RANGE_PERSISTENT),
                ..PortRegs::default()
            })],
        ),
        // snat to 1.2.3.4
        rule(
            "post",
            vec![
                imm(1, &[1, 2, 3, 4]),
                nat(
                    NFT_NAT_SNAT,
                    NatRegs {
                        addr_min: Some(1),
                        ..NatRegs::default()
                    },
                ),
            ],
        ),
    ];
    // ip protocol tcp snat to 1.2.3.4-1.2.3.6:1000-2000 persistent
    v.push(rule(
        "post",
        [
            &proto(6)[..],
            &[
                imm(1, &[1, 2, 3, 4]),
                imm(2, &[1, 2, 3, 6]),
                imm(3, &1000u16.to_be_bytes()),
                imm(4, &2000u16.to_be_bytes()),
                nat(
                    NFT_NAT_SNAT,
                    NatRegs {
                        addr_min: Some(1),
                        addr_max: Some(2),
                        proto_min: Some(3),
                        proto_max: Some(4),
                        flags: Some(ports | NF_NAT_RANGE_PERSISTENT),
                    },
                ),
            ],
        ]
        .concat(),
    ));
    // snat prefix to 10.0.0.0/24
    v.push(rule(
        "post",
        vec![
            imm(1, &[10, 0, 0, 0]),
            imm(2, &[10, 0, 0, 255]),
            nat(
                NFT_NAT_SNAT,
                NatRegs {
                    addr_min: Some(1),
                    addr_max: Some(2),
                    flags: Some(NF_NAT_RANGE_NETMAP),
                    ..NatRegs::default()
                },
            ),
        ],
    ));
    // ip protocol tcp dnat to :8080
    v.push(rule(
        "pre",
        [
            &proto(6)[..],
            &[
                imm(1, &8080u16.to_be_bytes()),
                nat(
                    NFT_NAT_DNAT,
                    NatRegs {
                        proto_min: Some(1),
                        flags: Some(ports),
                        ..NatRegs::default()
                    },
                ),
            ],
        ]
        .concat(),
    ));
    // ip protocol udp dnat to 10.0.0.1:53 random
    v.push(rule(
        "pre",
        [
            &proto(17)[..],
            &[
                imm(1, &[10, 0, 0, 1]),
                imm(2, &53u16.to_be_bytes()),
                nat(
                    NFT_NAT_DNAT,
                    NatRegs {
                        addr_min: Some(1),
                        proto_min: Some(2),
                        flags: Some(ports | random),
                        ..NatRegs::default()
                    },
                ),
            ],
        ]
        .concat(),
    ));
    // redirect
    v.push(rule("pre", vec![Expr::Redir(PortRegs::default())]));
    // ip protocol tcp redirect to :8080-8090 random
    v.push(rule(
        "pre",
        [
            &proto(6)[..],
            &[
                imm(1, &8080u16.to_be_bytes()),
                imm(2, &8090u16.to_be_bytes()),
                Expr::Redir(PortRegs {
                    proto_min: Some(1),
                    proto_max: Some(2),
                    flags: Some(ports | random),
                }),
            ],
        ]
        .concat(),
    ));
    v
}

#[test]
fn nat_expressions_round_trip_byte_exact() {
    for (i, r) in nat_cases().iter().enumerate() {
        let file = format!("send/nat_{:02}.hex", i + 1);
        check_both_ways(&file, NFT_MSG_NEWRULE, APPEND, r);
    }
}

#[test]
fn nat_expressions_print_as_nft_debug_netlink() {
    let ours = printed_rules("dump/nat_replies.hex");
    let nft = nft_listing(&read_text("nat.debug"));
    assert_eq!(ours.len(), nft.len(), "rule count");
    assert_eq!(
        ours.len(),
        nat_cases().len(),
        "every captured rule is a case"
    );
    for (o, n) in ours.iter().zip(&nft) {
        assert_eq!(o, n);
    }
}

/// The kernel adds NF_NAT_RANGE_MAP_IPS and dumps both registers of each pair; that decodes
/// as it is, not as what nft sent.
#[test]
fn nat_kernel_dump_keeps_kernel_flags() {
    let dumped: Vec<Expr> = replies("dump/nat_replies.hex")
        .into_iter()
        .filter_map(|r| match r.body {
            ReplyBody::Rule(rule) => rule.exprs.last().cloned(),
            _ => None,
        })
        .collect();
    assert_eq!(
        dumped[3],
        Expr::Nat {
            kind: NFT_NAT_SNAT,
            family: u32::from(NFPROTO_IPV4),
            regs: NatRegs {
                addr_min: Some(1),
                addr_max: Some(1),
                proto_min: None,
                proto_max: None,
                flags: Some(NF_NAT_RANGE_MAP_IPS),
            },
        }
    );
}

// --- exthdr expressions (test_data/exthdr.nft, captured by capture_exthdr.py) ---

/// `exthdr load OP 1b @ TYPE + OFFSET [present] => reg 1`.
fn exthdr(op: u32, kind: u8, offset: u32, flags: u32) -> Expr {
    Expr::Exthdr {
        op,
        kind,
        offset,
        len: 1,
        flags,
        dreg: 1,
    }
}

/// The rules nft 1.0.6 sends for test_data/exthdr.nft, in order (`send/exthdr_NN.hex`).
fn exthdr_cases() -> Vec<Rule> {
    let v6 = |exprs| Rule {
        family: NFPROTO_IPV6,
        ..rule("input", exprs)
    };
    let rt = |offset| exthdr(NFT_EXTHDR_OP_IPV6, 43, offset, 0);
    let rt_present = exthdr(NFT_EXTHDR_OP_IPV6, 43, 0, NFT_EXTHDR_F_PRESENT);
    vec![
        // rt type 0 drop
        v6(vec![rt(2), cmp(NFT_CMP_EQ, &[0]), verdict(Verdict::Drop)]),
        // rt type != 0
        v6(vec![rt(2), cmp(NFT_CMP_NEQ, &[0])]),
        // exthdr rt exists
        v6(vec![rt_present.clone(), cmp(NFT_CMP_EQ, &[1])]),
        // exthdr rt missing
        v6(vec![rt_present, cmp(NFT_CMP_EQ, &[0])]),
        // rt seg-left 1-5
        v6(vec![rt(3), cmp(NFT_CMP_GTE, &[1]), cmp(NFT_CMP_LTE, &[5])]),
        // rt hdrlength 2
        v6(vec![rt(1), cmp(NFT_CMP_EQ, &[2])]),
        // hbh hdrlength 1
        v6(vec![
            exthdr(NFT_EXTHDR_OP_IPV6, 0, 1, 0),
            cmp(NFT_CMP_EQ, &[1]),
        ]),
        // meta l4proto tcp tcp option 64 exists drop
        rule(
            "input",
            [
                l4proto(6).to_vec(),
                vec![
                    exthdr(NFT_EXTHDR_OP_TCPOPT, 64, 0, NFT_EXTHDR_F_PRESENT),
                    cmp(NFT_CMP_EQ, &[1]),
                    verdict(Verdict::Drop),
                ],
            ]
            .concat(),
        ),
    ]
}

#[test]
fn exthdr_expressions_round_trip_byte_exact() {
    for (i, r) in exthdr_cases().iter().enumerate() {
        let file = format!("send/exthdr_{:02}.hex", i + 1);
        check_both_ways(&file, NFT_MSG_NEWRULE, APPEND, r);
    }
}

#[test]
fn exthdr_expressions_print_as_nft_debug_netlink() {
    let ours = printed_rules("dump/exthdr_replies.hex");
    let nft = nft_listing(&read_text("exthdr.debug"));
    assert_eq!(ours.len(), nft.len(), "rule count");
    assert_eq!(
        ours.len(),
        exthdr_cases().len(),
        "every captured rule is a case"
    );
    for (o, n) in ours.iter().zip(&nft) {
        assert_eq!(o, n);
    }
}

/// The kernel dumps NFTA_EXTHDR_FLAGS 0 and puts it before OP; both decode to the same value
/// nft sent.
#[test]
fn exthdr_kernel_dump_decodes_to_what_nft_sent() {
    let dumped: Vec<Vec<Expr>> = replies("dump/exthdr_replies.hex")
        .into_iter()
        .filter_map(|r| match r.body {
            ReplyBody::Rule(rule) => Some(rule.exprs),
            _ => None,
        })
        .collect();
    let sent: Vec<Vec<Expr>> = exthdr_cases().into_iter().map(|r| r.exprs).collect();
    assert_eq!(dumped, sent);
}

#[test]
fn exthdr_write_without_offset_len_or_op_stays_other() {
    // NFTA_EXTHDR_SREG 1, NFTA_EXTHDR_TYPE 2 (maxseg) and nothing else: an incomplete write.
    let data = vec![8, 0, 7, 0, 0, 0, 0, 1, 5, 0, 2, 0, 2, 0, 0, 0];
    let mut out = Vec::new();
    let r = Rule {
        exprs: vec![Expr::Other {
            name: s("exthdr"),
            data: data.clone(),
        }],
        ..rule("input", vec![])
    };
    out.extend(r.encode(NFT_MSG_NEWRULE, APPEND, 1));
    let back = Rule::decode(&out).expect("decodes");
    assert_eq!(
        back.exprs,
        vec![Expr::Other {
            name: s("exthdr"),
            data
        }]
    );
}

// --- notrack, numgen, byteorder, meta secpath, rt (test_data/raw.nft, capture_raw.py) ---

/// The rules nft 1.0.6 sends for test_data/raw.nft, in order (`send/raw_NN.hex`).
fn raw_cases() -> Vec<Rule> {
    let numgen = |modulus: u32, kind: u32| Expr::Numgen {
        dreg: 1,
        modulus,
        kind,
        offset: 0,
    };
    vec![
        // notrack
        rule("pre", vec![Expr::Notrack]),
        // ip protocol tcp counter notrack
        rule(
            "pre",
            vec![
                payload(NFT_PAYLOAD_NETWORK_HEADER, 9, 1),
                cmp(NFT_CMP_EQ, &[6]),
                Expr::Counter {
                    packets: 0,
                    bytes: 0,
                },
                Expr::Notrack,
            ],
        ),
        // numgen inc mod 2 0
        rule(
            "pre",
            vec![
                numgen(2, NFT_NG_INCREMENTAL),
                cmp(NFT_CMP_EQ, &0u32.to_ne_bytes()),
            ],
        ),
        // numgen inc mod 3 != 1
        rule(
            "pre",
            vec![
                numgen(3, NFT_NG_INCREMENTAL),
                cmp(NFT_CMP_NEQ, &1u32.to_ne_bytes()),
            ],
        ),
        // numgen random mod 2147483648 < 107374182: host order, so nft converts before `lt`
        rule(
            "pre",
            vec![
                numgen(1 << 31, NFT_NG_RANDOM),
                Expr::Byteorder {
                    sreg: 1,
                    dreg: 1,
                    op: NFT_BYTEORDER_HTON,
                    len: 4,
                    size: 4,
                },
                cmp(NFT_CMP_LT, &107374182u32.to_be_bytes()),
            ],
        ),
        // meta ipsec missing
        rule("pre", vec![meta(NFT_META_SECPATH), cmp(NFT_CMP_EQ, &[0])]),
        // meta ipsec exists
        rule("pre", vec![meta(NFT_META_SECPATH), cmp(NFT_CMP_EQ, &[1])]),
        // ct state != untracked ct zone set 1: the zone is a 2-byte host-order immediate
        rule(
            "zone",
            vec![
                Expr::Ct {
                    key: NFT_CT_STATE,
                    dreg: 1,
                    dir: None,
                },
                cmp(NFT_CMP_NEQ, &64u32.to_ne_bytes()),
                Expr::Immediate {
                    dreg: 1,
                    data: ImmData::Value(1u16.to_ne_bytes().to_vec()),
                },
                Expr::CtSet {
                    key: NFT_CT_ZONE,
                    sreg: 1,
                    dir: None,
                },
            ],
        ),
        // rt ipsec missing
        rule(
            "post",
            vec![
                Expr::Rt {
                    key: NFT_RT_XFRM,
                    dreg: 1,
                },
                cmp(NFT_CMP_EQ, &[0]),
            ],
        ),
    ]
}

#[test]
fn raw_expressions_round_trip_byte_exact() {
    for (i, r) in raw_cases().iter().enumerate() {
        let file = format!("send/raw_{:02}.hex", i + 1);
        check_both_ways(&file, NFT_MSG_NEWRULE, APPEND, r);
    }
}

#[test]
fn raw_expressions_print_as_nft_debug_netlink() {
    let ours = printed_rules("dump/raw_replies.hex");
    let nft = nft_listing(&read_text("raw.debug"));
    assert_eq!(ours.len(), nft.len(), "rule count");
    assert_eq!(
        ours.len(),
        raw_cases().len(),
        "every captured rule is a case"
    );
    for (o, n) in ours.iter().zip(&nft) {
        assert_eq!(o, n);
    }
}

// --- payload writes (test_data/payload.nft, captured by capture_payload.py) ---

/// The rules nft 1.0.6 sends for test_data/payload.nft, in order (`send/payload_NN.hex`).
fn payload_cases() -> Vec<Rule> {
    let write = |offset: u32, len: u32, csum: Option<(u32, u32)>| {
        Expr::PayloadSet(PayloadWrite {
            base: NFT_PAYLOAD_NETWORK_HEADER,
            offset,
            len,
            sreg: 1,
            csum_type: csum.map(|(t, _)| t),
            csum_offset: csum.map(|(_, o)| o),
            csum_flags: None,
        })
    };
    vec![
        // ip ttl set 65: the TTL and protocol bytes, the TTL replaced, the IPv4 header
        // checksum (NFT_PAYLOAD_CSUM_INET at offset 10) fixed
        rule(
            "post",
            vec![
                payload(NFT_PAYLOAD_NETWORK_HEADER, 8, 2),
                Expr::Bitwise {
                    sreg: 1,
                    dreg: 1,
                    len: 2,
                    mask: vec![0x00, 0xff],
                    xor: vec![0x41, 0x00],
                    op: Some(NFT_BITWISE_BOOL),
                },
                write(8, 2, Some((1, 10))),
            ],
        ),
        // ip6 hoplimit set 64: no checksum, so no checksum attributes
        Rule {
            family: NFPROTO_IPV6,
            ..rule(
                "post",
                vec![
                    Expr::Immediate {
                        dreg: 1,
                        data: ImmData::Value(vec![64]),
                    },
                    write(7, 1, None),
                ],
            )
        },
    ]
}

#[test]
fn payload_writes_round_trip_byte_exact() {
    for (i, r) in payload_cases().iter().enumerate() {
        let file = format!("send/payload_{:02}.hex", i + 1);
        check_both_ways(&file, NFT_MSG_NEWRULE, APPEND, r);
    }
}

#[test]
fn payload_writes_print_as_nft_debug_netlink() {
    let ours = printed_rules("dump/payload_replies.hex");
    let nft = nft_listing(&read_text("payload.debug"));
    assert_eq!(
        ours.len(),
        payload_cases().len(),
        "every captured rule is a case"
    );
    assert_eq!(ours, nft);
}

// --- ct helper objects and objref (test_data/helper.nft, capture_helper.py) ---

/// The codec's stateful object (this file's own `Obj` names a case's typed value).
use fwnet_netlink::Obj as NftObj;

/// The objects nft 1.0.6 sends for test_data/helper.nft, in order (`send/helper_obj_NN.hex`).
fn helper_objects() -> Vec<NftObj> {
    let helper = |name: &str, helper: &str, l4proto: u8| NftObj {
        family: IP,
        table: s("fw"),
        name: s(name),
        kind: NFT_OBJECT_CT_HELPER,
        data: Some(ObjData::CtHelper(CtHelper {
            name: s(helper),
            l3proto: Some(u16::from(NFPROTO_IPV4)),
            l4proto: Some(l4proto),
            other: Vec::new(),
        })),
        ..NftObj::default()
    };
    vec![helper("ftp-21", "ftp", 6), helper("tftp-69", "tftp", 17)]
}

/// The rules nft 1.0.6 sends for test_data/helper.nft (`send/helper_rule_NN.hex`).
fn helper_rules() -> Vec<Rule> {
    let assign = |proto: u8, port: u16, name: &str| {
        let mut v = l4proto(proto).to_vec();
        v.push(payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2));
        v.push(cmp(NFT_CMP_EQ, &port.to_be_bytes()));
        v.push(Expr::Objref {
            kind: NFT_OBJECT_CT_HELPER,
            name: s(name),
        });
        rule("pre", v)
    };
    vec![
        // tcp dport 21 ct helper set "ftp-21"
        assign(6, 21, "ftp-21"),
        // udp dport 69 ct helper set "tftp-69"
        assign(17, 69, "tftp-69"),
    ]
}

#[test]
fn ct_helper_objects_round_trip_byte_exact() {
    for (i, o) in helper_objects().iter().enumerate() {
        let file = format!("send/helper_obj_{:02}.hex", i + 1);
        check_both_ways(&file, NFT_MSG_NEWOBJ, CREATE, o);
    }
    for (i, r) in helper_rules().iter().enumerate() {
        let file = format!("send/helper_rule_{:02}.hex", i + 1);
        check_both_ways(&file, NFT_MSG_NEWRULE, APPEND, r);
    }
}

#[test]
fn ct_helper_dump_request_matches_nft() {
    let bytes = fixture("dump/helper_requests.hex");
    assert_eq!(bytes, dump::get_objs(IP, Some("fw"), 0));
}

#[test]
fn ct_helper_kernel_dump_decodes_to_what_nft_sent() {
    let all = replies("dump/helper_replies.hex");
    let objs: Vec<NftObj> = all
        .iter()
        .filter_map(|r| match &r.body {
            ReplyBody::Obj(o) => Some(o.clone()),
            _ => None,
        })
        .collect();
    // The kernel adds a handle and a use count (one rule refers to each).
    let expected: Vec<NftObj> = helper_objects()
        .into_iter()
        .zip([2, 3])
        .map(|(o, handle)| NftObj {
            handle: Some(handle),
            use_count: Some(1),
            ..o
        })
        .collect();
    assert_eq!(objs, expected);
    let rules: Vec<Vec<Expr>> = all
        .into_iter()
        .filter_map(|r| match r.body {
            ReplyBody::Rule(rule) => Some(rule.exprs),
            _ => None,
        })
        .collect();
    let sent: Vec<Vec<Expr>> = helper_rules().into_iter().map(|r| r.exprs).collect();
    assert_eq!(rules, sent);
}

#[test]
fn ct_helper_rules_print_as_nft_debug_netlink() {
    let ours = printed_rules("dump/helper_replies.hex");
    let nft = nft_listing(&read_text("helper.debug"));
    assert_eq!(ours.len(), 2, "rule count");
    assert_eq!(ours, nft);
}

#[test]
fn other_object_types_keep_their_data() {
    let counter = NftObj {
        family: IP,
        table: s("fw"),
        name: s("c"),
        kind: 1,
        data: Some(ObjData::Other(vec![12, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 7])),
        ..NftObj::default()
    };
    let bytes = counter.encode(NFT_MSG_NEWOBJ, CREATE, 1);
    assert_eq!(NftObj::decode(&bytes), Ok(counter));
    let del = NftObj {
        family: IP,
        table: s("fw"),
        name: s("ftp-21"),
        kind: NFT_OBJECT_CT_HELPER,
        ..NftObj::default()
    };
    assert_eq!(NftObj::decode(&del.encode(NFT_MSG_DELOBJ, 0, 2)), Ok(del));
}

// --- TCP option writes of TCPMSS (test_data/tcpmss.nft, captured by capture_tcpmss.py) ---

/// `exthdr write tcpopt reg 1 => 2b @ 2 + 2`: the MSS option's value, FLAGS as given.
fn maxseg_write(flags: Option<u32>) -> Expr {
    Expr::ExthdrSet(ExthdrWrite {
        op: NFT_EXTHDR_OP_TCPOPT,
        kind: 2,
        offset: 2,
        len: 2,
        sreg: 1,
        flags,
    })
}

/// The rules nft 1.0.6 sends for test_data/tcpmss.nft, in order (`send/tcpmss_NN.hex`), or with
/// `dumped` as the kernel dumps them: the writes' FLAGS 0 and the bitwise op (nft sends
/// neither).
fn tcpmss_cases(dumped: bool) -> Vec<Rule> {
    let flags = dumped.then_some(0);
    // tcp flags syn: l4proto tcp, the flags byte & 0x02 != 0
    let syn = || {
        [
            l4proto(6).to_vec(),
            vec![
                payload(NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1),
                Expr::Bitwise {
                    sreg: 1,
                    dreg: 1,
                    len: 1,
                    mask: vec![2],
                    xor: vec![0],
                    op: dumped.then_some(NFT_BITWISE_BOOL),
                },
                cmp(NFT_CMP_NEQ, &[0]),
            ],
        ]
        .concat()
    };
    let rt_mtu = [
        Expr::Rt {
            key: NFT_RT_TCPMSS,
            dreg: 1,
        },
        Expr::Byteorder {
            sreg: 1,
            dreg: 1,
            op: NFT_BYTEORDER_HTON,
            len: 2,
            size: 2,
        },
        maxseg_write(flags),
    ];
    vec![
        // tcp flags syn tcp option maxseg size set rt mtu
        rule("mss", [syn(), rt_mtu.to_vec()].concat()),
        // tcp flags syn tcp option maxseg size set 1400
        rule(
            "mss",
            [
                syn(),
                vec![
                    Expr::Immediate {
                        dreg: 1,
                        data: ImmData::Value(1400u16.to_be_bytes().to_vec()),
                    },
                    maxseg_write(flags),
                ],
            ]
            .concat(),
        ),
        // tcp option maxseg size 1400-1500
        rule(
            "mss",
            vec![
                Expr::Exthdr {
                    op: NFT_EXTHDR_OP_TCPOPT,
                    kind: 2,
                    offset: 2,
                    len: 2,
                    flags: 0,
                    dreg: 1,
                },
                cmp(NFT_CMP_GTE, &1400u16.to_be_bytes()),
                cmp(NFT_CMP_LTE, &1500u16.to_be_bytes()),
            ],
        ),
        // ip6: tcp option maxseg size set rt mtu
        Rule {
            family: NFPROTO_IPV6,
            ..rule("mss", rt_mtu.to_vec())
        },
    ]
}

#[test]
fn tcp_option_writes_round_trip_byte_exact() {
    for (i, r) in tcpmss_cases(false).iter().enumerate() {
        let file = format!("send/tcpmss_{:02}.hex", i + 1);
        check_both_ways(&file, NFT_MSG_NEWRULE, APPEND, r);
    }
}

#[test]
fn tcp_option_writes_print_as_nft_debug_netlink() {
    let ours = printed_rules("dump/tcpmss_replies.hex");
    let nft = nft_listing(&read_text("tcpmss.debug"));
    assert_eq!(
        ours.len(),
        tcpmss_cases(false).len(),
        "every captured rule is a case"
    );
    assert_eq!(ours, nft);
}

/// The kernel dumps NFTA_EXTHDR_FLAGS 0 between LEN and OP of a write; it is kept, and
/// re-encodes in that place.
#[test]
fn tcp_option_write_kernel_dump_keeps_flags() {
    let dumped: Vec<Vec<Expr>> = replies("dump/tcpmss_replies.hex")
        .into_iter()
        .filter_map(|r| match r.body {
            ReplyBody::Rule(rule) => Some(rule.exprs),
            _ => None,
        })
        .collect();
    let sent: Vec<Vec<Expr>> = tcpmss_cases(true).into_iter().map(|r| r.exprs).collect();
    assert_eq!(dumped, sent);
    let mut bytes = Vec::new();
    let w = Rule {
        exprs: vec![maxseg_write(Some(0))],
        ..rule("mss", vec![])
    };
    bytes.extend(w.encode(NFT_MSG_NEWRULE, APPEND, 1));
    let back = Rule::decode(&bytes).expect("decodes");
    assert_eq!(back.exprs, vec![maxseg_write(Some(0))]);
}

// --- connlimit (test_data/connlimit.nft, captured by capture_connlimit.py) ---

fn connlimit(count: u32, flags: u32) -> Expr {
    Expr::Connlimit { count, flags }
}

/// The rules nft 1.0.6 sends for test_data/connlimit.nft, in order (`send/connlimit_NN.hex`);
/// with `dumped`, as the kernel dumps them (the dynset with TIMEOUT 0 and without the set's
/// batch id).
fn connlimit_cases(dumped: bool) -> Vec<Rule> {
    vec![
        // ct count over 2 drop
        rule(
            "input",
            vec![connlimit(2, NFT_CONNLIMIT_F_INV), verdict(Verdict::Drop)],
        ),
        // ct count 3: FLAGS 0 is sent by nft, left out of the kernel's dump
        rule("input", vec![connlimit(3, 0)]),
        // add @cl { ip saddr & 255.255.255.0 ct count over 5 } drop
        rule(
            "input",
            vec![
                payload(NFT_PAYLOAD_NETWORK_HEADER, 12, 4),
                Expr::Bitwise {
                    sreg: 1,
                    dreg: 1,
                    len: 4,
                    mask: vec![255, 255, 255, 0],
                    xor: vec![0; 4],
                    op: Some(NFT_BITWISE_BOOL),
                },
                Expr::Dynset {
                    op: NFT_DYNSET_OP_ADD,
                    sreg_key: 1,
                    set: s("cl"),
                    set_id: (!dumped).then_some(1),
                    timeout_ms: dumped.then_some(0),
                    exprs: vec![connlimit(5, NFT_CONNLIMIT_F_INV)],
                },
                verdict(Verdict::Drop),
            ],
        ),
    ]
}

#[test]
fn connlimit_round_trips_byte_exact() {
    for (i, r) in connlimit_cases(false).iter().enumerate() {
        let file = format!("send/connlimit_{:02}.hex", i + 1);
        check_both_ways(&file, NFT_MSG_NEWRULE, APPEND, r);
    }
}

#[test]
fn connlimit_prints_as_nft_debug_netlink() {
    let ours = printed_rules("dump/connlimit_replies.hex");
    let nft = nft_listing(&read_text("connlimit.debug"));
    assert_eq!(
        ours.len(),
        connlimit_cases(false).len(),
        "every captured rule is a case"
    );
    assert_eq!(ours, nft);
}

/// The kernel leaves out NFTA_CONNLIMIT_FLAGS 0 (decoded as the 0 nft sent) and adds
/// NFTA_DYNSET_FLAGS 0 (dropped) and NFTA_DYNSET_TIMEOUT 0 (kept).
#[test]
fn connlimit_kernel_dump_decodes_to_what_nft_sent() {
    let dumped: Vec<Vec<Expr>> = replies("dump/connlimit_replies.hex")
        .into_iter()
        .filter_map(|r| match r.body {
            ReplyBody::Rule(rule) => Some(rule.exprs),
            _ => None,
        })
        .collect();
    let sent: Vec<Vec<Expr>> = connlimit_cases(true).into_iter().map(|r| r.exprs).collect();
    assert_eq!(dumped, sent);
}

// --- synproxy (test_data/synproxy.nft, captured by capture_synproxy.py) ---

fn synproxy(mss: u16, wscale: u8, flags: u32) -> Expr {
    Expr::Synproxy { mss, wscale, flags }
}

/// The rules nft 1.0.6 sends for test_data/synproxy.nft, in order (`send/synproxy_NN.hex`);
/// the kernel dumps them unchanged.
fn synproxy_cases() -> Vec<Rule> {
    let (mss, ws, sack, ts) = (
        NF_SYNPROXY_OPT_MSS,
        NF_SYNPROXY_OPT_WSCALE,
        NF_SYNPROXY_OPT_SACK_PERM,
        NF_SYNPROXY_OPT_TIMESTAMP,
    );
    vec![
        // synproxy mss 1460 wscale 7 timestamp sack-perm
        rule("input", vec![synproxy(1460, 7, mss | ws | sack | ts)]),
        // synproxy: every attribute sent, as zeros
        rule("input", vec![synproxy(0, 0, 0)]),
        // synproxy mss 536
        rule("input", vec![synproxy(536, 0, mss)]),
        // synproxy wscale 14 timestamp
        rule("input", vec![synproxy(0, 14, ws | ts)]),
    ]
}

#[test]
fn synproxy_round_trips_byte_exact() {
    for (i, r) in synproxy_cases().iter().enumerate() {
        let file = format!("send/synproxy_{:02}.hex", i + 1);
        check_both_ways(&file, NFT_MSG_NEWRULE, APPEND, r);
    }
}

/// nft prints neither the flags nor which of MSS and window scale were given.
#[test]
fn synproxy_prints_as_nft_debug_netlink() {
    let ours = printed_rules("dump/synproxy_replies.hex");
    let nft = nft_listing(&read_text("synproxy.debug"));
    assert_eq!(
        ours.len(),
        synproxy_cases().len(),
        "every captured rule is a case"
    );
    assert_eq!(ours, nft);
}

#[test]
fn synproxy_kernel_dump_decodes_to_what_nft_sent() {
    let dumped: Vec<Vec<Expr>> = replies("dump/synproxy_replies.hex")
        .into_iter()
        .filter_map(|r| match r.body {
            ReplyBody::Rule(rule) => Some(rule.exprs),
            _ => None,
        })
        .collect();
    let sent: Vec<Vec<Expr>> = synproxy_cases().into_iter().map(|r| r.exprs).collect();
    assert_eq!(dumped, sent);
}

// --- tproxy (test_data/tproxy.nft, captured by capture_tproxy.py) ---

/// The rules nft 1.0.6 sends for test_data/tproxy.nft, in order (`send/tproxy_NN.hex`);
/// the kernel dumps them unchanged.
fn tproxy_cases() -> Vec<Rule> {
    let imm = |dreg: u32, v: &[u8]| Expr::Immediate {
        dreg,
        data: ImmData::Value(v.to_vec()),
    };
    let tproxy = |family: u8, addr: Option<u32>, port: Option<u32>| Expr::Tproxy {
        family: u32::from(family),
        addr,
        port,
    };
    let in_family = |family: u8, exprs: Vec<Expr>| Rule {
        family,
        ..rule("prerouting", exprs)
    };
    let v6: [u8; 16] = "2001:db8::1"
        .parse::<std::net::Ipv6Addr>()
        .expect("address")
        .octets();
    let tcp = l4proto(6);
    vec![
        // tproxy to 1.2.3.4:8080
        rule(
            "prerouting",
            [
                tcp.to_vec(),
                vec![
                    imm(1, &[1, 2, 3, 4]),
                    imm(2, &8080u16.to_be_bytes()),
                    tproxy(IP, Some(1), Some(2)),
                ],
            ]
            .concat(),
        ),
        // tproxy to :53 (udp): the family is sent even without an address
        rule(
            "prerouting",
            [
                l4proto(17).to_vec(),
                vec![imm(1, &53u16.to_be_bytes()), tproxy(IP, None, Some(1))],
            ]
            .concat(),
        ),
        // tproxy to 10.0.0.1: no port register
        rule(
            "prerouting",
            [
                tcp.to_vec(),
                vec![imm(1, &[10, 0, 0, 1]), tproxy(IP, Some(1), None)],
            ]
            .concat(),
        ),
        // ip6: tproxy to [2001:db8::1]:3128
        in_family(
            NFPROTO_IPV6,
            [
                tcp.to_vec(),
                vec![
                    imm(1, &v6),
                    imm(2, &3128u16.to_be_bytes()),
                    tproxy(NFPROTO_IPV6, Some(1), Some(2)),
                ],
            ]
            .concat(),
        ),
        // inet: tproxy to :8080, family 0
        in_family(
            NFPROTO_INET,
            [
                tcp.to_vec(),
                vec![imm(1, &8080u16.to_be_bytes()), tproxy(0, None, Some(1))],
            ]
            .concat(),
        ),
    ]
}

#[test]
fn tproxy_round_trips_byte_exact() {
    for (i, r) in tproxy_cases().iter().enumerate() {
        let file = format!("send/tproxy_{:02}.hex", i + 1);
        check_both_ways(&file, NFT_MSG_NEWRULE, APPEND, r);
    }
}

#[test]
fn tproxy_prints_as_nft_debug_netlink() {
    let ours = printed_rules("dump/tproxy_replies.hex");
    let nft = nft_listing(&read_text("tproxy.debug"));
    assert_eq!(
        ours.len(),
        tproxy_cases().len(),
        "every captured rule is a case"
    );
    assert_eq!(ours, nft);
}

#[test]
fn tproxy_kernel_dump_decodes_to_what_nft_sent() {
    let dumped: Vec<Vec<Expr>> = replies("dump/tproxy_replies.hex")
        .into_iter()
        .filter_map(|r| match r.body {
            ReplyBody::Rule(rule) => Some(rule.exprs),
            _ => None,
        })
        .collect();
    let sent: Vec<Vec<Expr>> = tproxy_cases().into_iter().map(|r| r.exprs).collect();
    assert_eq!(dumped, sent);
}

// --- the clock (test_data/time.nft, captured by capture_time.py) ---

/// The rules nft 1.0.6 sends for test_data/time.nft, in order (`send/time_NN.hex`); the kernel
/// dumps them unchanged.
fn time_cases() -> Vec<Rule> {
    let hton = |size: u32| Expr::Byteorder {
        sreg: 1,
        dreg: 1,
        op: NFT_BYTEORDER_HTON,
        len: size,
        size,
    };
    // Seconds as the nanoseconds `meta time` holds, big-endian after the byteorder.
    let ns = |secs: u64| (secs * 1_000_000_000).to_be_bytes();
    vec![
        // meta time >= 1704153600 meta time < 1709528768: nanoseconds, 8 bytes
        rule(
            "input",
            vec![
                meta(NFT_META_TIME_NS),
                hton(8),
                cmp(NFT_CMP_GTE, &ns(1_704_153_600)),
                meta(NFT_META_TIME_NS),
                hton(8),
                cmp(NFT_CMP_LT, &ns(1_709_528_768)),
            ],
        ),
        // meta hour "28800"-"61230": one load, two compares
        rule(
            "input",
            vec![
                meta(NFT_META_TIME_HOUR),
                hton(4),
                cmp(NFT_CMP_GTE, &28_800u32.to_be_bytes()),
                cmp(NFT_CMP_LTE, &61_230u32.to_be_bytes()),
            ],
        ),
        // meta hour != "21601"-"79199"
        rule(
            "input",
            vec![
                meta(NFT_META_TIME_HOUR),
                hton(4),
                Expr::Range {
                    sreg: 1,
                    op: NFT_RANGE_NEQ,
                    from: 21_601u32.to_be_bytes().to_vec(),
                    to: 79_199u32.to_be_bytes().to_vec(),
                },
            ],
        ),
        // meta day 1: one byte, no byteorder
        rule(
            "input",
            vec![meta(NFT_META_TIME_DAY), cmp(NFT_CMP_EQ, &[1])],
        ),
    ]
}

#[test]
fn time_round_trips_byte_exact() {
    for (i, r) in time_cases().iter().enumerate() {
        let file = format!("send/time_{:02}.hex", i + 1);
        check_both_ways(&file, NFT_MSG_NEWRULE, APPEND, r);
    }
}

#[test]
fn time_prints_as_nft_debug_netlink() {
    let ours = printed_rules("dump/time_replies.hex");
    let nft = nft_listing(&read_text("time.debug"));
    assert_eq!(
        ours.len(),
        time_cases().len(),
        "every captured rule is a case"
    );
    assert_eq!(ours, nft);
}

#[test]
fn time_kernel_dump_decodes_to_what_nft_sent() {
    let dumped: Vec<Vec<Expr>> = replies("dump/time_replies.hex")
        .into_iter()
        .filter_map(|r| match r.body {
            ReplyBody::Rule(rule) => Some(rule.exprs),
            _ => None,
        })
        .collect();
    let sent: Vec<Vec<Expr>> = time_cases().into_iter().map(|r| r.exprs).collect();
    assert_eq!(dumped, sent);
}

// --- verdict maps (test_data/vmap.nft, captured by capture_vmap.py) ---

/// `send/vmap_NN.hex`: what each message nft 1.0.6 sends for test_data/vmap.nft is.
#[derive(Clone, Copy)]
enum VmapMsg {
    Set,
    Elems,
    Rule,
}

const VMAP_MSGS: [VmapMsg; 8] = [
    VmapMsg::Set,
    VmapMsg::Elems,
    VmapMsg::Set,
    VmapMsg::Elems,
    VmapMsg::Rule,
    VmapMsg::Set,
    VmapMsg::Elems,
    VmapMsg::Rule,
];

fn vmap_file(n: usize) -> String {
    format!("send/vmap_{n:02}.hex")
}

#[test]
fn verdict_map_messages_round_trip_byte_exact() {
    for (i, kind) in VMAP_MSGS.iter().enumerate() {
        let file = vmap_file(i + 1);
        let bytes = fixture(&file);
        let seq = Header::read(&bytes).expect("fixture header").seq;
        let again = match kind {
            VmapMsg::Set => Set::decode(&bytes)
                .map(|v| v.encode(NFT_MSG_NEWSET, CREATE, seq))
                .unwrap_or_else(|e| panic!("{file}: {e}")),
            VmapMsg::Elems => SetElemList::decode(&bytes)
                .map(|v| v.encode(NFT_MSG_NEWSETELEM, CREATE, seq))
                .unwrap_or_else(|e| panic!("{file}: {e}")),
            VmapMsg::Rule => Rule::decode(&bytes)
                .map(|v| v.encode(NFT_MSG_NEWRULE, APPEND, seq))
                .unwrap_or_else(|e| panic!("{file}: {e}")),
        };
        assert_eq!(again, bytes, "{file}");
    }
}

#[test]
fn verdict_map_decodes_to_typed_data() {
    // The interval map of ports: its flags and data type.
    let map = Set::decode(&fixture(&vmap_file(3))).expect("map");
    assert_eq!(map.name, "__map%d");
    assert_eq!(
        map.flags,
        Some(NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL | NFT_SET_MAP)
    );
    assert_eq!(
        (map.data_type, map.data_len),
        (Some(NFT_DATA_VERDICT), Some(0))
    );
    // Its elements: each interval start carries its verdict, the end markers none.
    let elems = SetElemList::decode(&fixture(&vmap_file(4))).expect("map elements");
    let got: Vec<(u16, Option<ImmData>)> = elems
        .elements
        .iter()
        .map(|e| {
            let key = u16::from_be_bytes([e.key[0], e.key[1]]);
            (key, e.data.clone())
        })
        .collect();
    let v = |v: Verdict| Some(ImmData::Verdict(v));
    assert_eq!(
        got,
        [
            (0, None),
            (22, v(Verdict::Accept)),
            (23, None),
            (80, v(Verdict::Jump(s("c")))),
            (91, None),
        ]
    );
    assert!(elems.elements.iter().all(|e| e.other.is_empty()));
    // The rule: a lookup into the map with the verdict register as destination.
    let rule = Rule::decode(&fixture(&vmap_file(5))).expect("rule");
    assert_eq!(
        rule.exprs.last(),
        Some(&Expr::Lookup {
            sreg: 1,
            set: s("__map%d"),
            set_id: Some(2),
            dreg: Some(0),
            flags: 0,
        })
    );
    // The hash map of addresses: drop and goto.
    let elems = SetElemList::decode(&fixture(&vmap_file(7))).expect("hash map elements");
    let data: Vec<Option<ImmData>> = elems.elements.iter().map(|e| e.data.clone()).collect();
    assert_eq!(data, [v(Verdict::Drop), v(Verdict::Goto(s("c")))]);
}

#[test]
fn verdict_map_prints_as_nft_debug_netlink() {
    assert_eq!(
        printed_rules("dump/vmap_replies.hex"),
        nft_listing(&read_text("vmap.debug"))
    );
}

#[test]
fn verdict_map_kernel_dump_keeps_the_verdicts() {
    let mut data = Vec::new();
    for r in replies("dump/vmap_replies.hex") {
        if let ReplyBody::SetElems(l) = r.body {
            data.extend(l.elements.into_iter().filter_map(|e| e.data));
        }
    }
    let v = ImmData::Verdict;
    // The kernel lists the elements of each set last to first.
    assert_eq!(
        data,
        [
            v(Verdict::Jump(s("c"))),
            v(Verdict::Accept),
            v(Verdict::Goto(s("c"))),
            v(Verdict::Drop),
        ]
    );
}
