//! Conntrack helpers as explicit nft `ct helper` objects: `-j CT --helper NAME` in the raw table,
//! and the helpers CentOS 6 assigned by port because `/etc/sysconfig/iptables-config` loaded
//! their modules (`IPTABLES_MODULES`, with `nf_conntrack_helper=1`, the old kernel default).
//!
//! Exactness, `-j CT --helper NAME`: xt_CT attaches a conntrack template holding the helper in
//! raw (priority -300); conntrack (-200) gives the helper to the packet's new connection unless
//! an expectation created it (a RELATED connection keeps the expectation's helper). nft's
//! `ct helper set` works only once the connection exists, so the rule moves to a base chain of
//! the same hook at priority -150 (after conntrack, before DNAT) and is guarded by
//! `ct status & expected == 0`; nft_ct.c then assigns the helper to an unconfirmed connection of
//! the helper's protocol that has none yet, as the template would have, and the first
//! assignment wins in both. The move is exact only when:
//! - no earlier rule of the raw chain can end its evaluation for a packet the helper rule sees
//!   (ACCEPT, RETURN, a jump or goto): such a rule is refused (DROP is fine: the packet never
//!   reaches -150);
//! - no `CT --zone` rule shares the chain (xt_CT's first template wins, nft would do both), and
//!   no `CT --notrack` / NOTRACK rule follows it (xt_CT's template would have stopped it), nor
//!   a jump or goto to a user chain that has one, directly or further down (found by `fwnet
//!   verify`, whose probes compare the zone and helper of each connection);
//! - the helper rule tests only what nothing between -300 and -150 changes: header fields,
//!   interfaces and the other packet properties below; a test on the mark, on conntrack or on a
//!   set, or a stateful statement (limit, recent ...) is refused;
//! - it is in a built-in chain (PREROUTING or OUTPUT), not in a user chain.
//!
//! Its counters count the packets reaching -150, so a packet that a later raw rule drops is
//! counted by iptables and not by nft; verdicts and helper assignment are the same.
//!
//! Exactness, iptables-config: CentOS 6's kernel gave a new connection that no expectation
//! created the helper registered for its reply tuple's source, i.e. the original destination
//! port and protocol, unless a template named one. The emitted rules (`tcp dport 21 ct status &
//! expected == 0 ct helper set "ftp-tcp"`, prerouting and output, after the explicit ones) do
//! the same for the helpers' default ports; module options that moved a helper to other ports
//! (`ports=`) are not read.
//!
//! This module does not create timeouts (`CT --timeout`) or expectation objects.

use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::{Command, Diagnostic};
use fwnet_nft::{
    self as nft, BaseChain, Chain, ChainKind, CmpOp, CtHelper, CtKey, Expr, Family, Field,
    HelperProto, Hook, Match, MetaKey, Origin, Policy, Rule, Stmt, Value,
};
use std::collections::BTreeSet;

/// IPS_EXPECTED: the connection was created by an expectation (it is RELATED).
const IPS_EXPECTED: u64 = 1;
/// The hook priority of the chains that assign helpers: after conntrack (-200), before DNAT.
const PRIORITY: i32 = -150;

/// A kernel conntrack helper, as nf_conntrack_*.c registers it.
struct Known {
    /// Its name, as `--helper` and nft `type "..."` take it.
    name: &'static str,
    /// Protocols and default ports it is registered for.
    ports: &'static [(HelperProto, u16)],
    /// Registered for IPv6 too.
    ipv6: bool,
    /// The module that registers it, in its nf_conntrack_ and CentOS 6 ip_conntrack_ spellings.
    modules: &'static [&'static str],
}

const TCP: HelperProto = HelperProto::Tcp;
const UDP: HelperProto = HelperProto::Udp;

const KNOWN: &[Known] = &[
    Known {
        name: "ftp",
        ports: &[(TCP, 21)],
        ipv6: true,
        modules: &["nf_conntrack_ftp", "ip_conntrack_ftp"],
    },
    Known {
        name: "tftp",
        ports: &[(UDP, 69)],
        ipv6: true,
        modules: &["nf_conntrack_tftp", "ip_conntrack_tftp"],
    },
    Known {
        name: "sip",
        ports: &[(UDP, 5060), (TCP, 5060)],
        ipv6: true,
        modules: &["nf_conntrack_sip", "ip_conntrack_sip"],
    },
    Known {
        name: "irc",
        ports: &[(TCP, 6667)],
        ipv6: false,
        modules: &["nf_conntrack_irc", "ip_conntrack_irc"],
    },
    Known {
        name: "amanda",
        ports: &[(UDP, 10080)],
        ipv6: true,
        modules: &["nf_conntrack_amanda", "ip_conntrack_amanda"],
    },
    Known {
        name: "RAS",
        ports: &[(UDP, 1719)],
        ipv6: true,
        modules: &["nf_conntrack_h323", "ip_conntrack_h323"],
    },
    Known {
        name: "Q.931",
        ports: &[(TCP, 1720)],
        ipv6: true,
        modules: &["nf_conntrack_h323", "ip_conntrack_h323"],
    },
    Known {
        name: "pptp",
        ports: &[(TCP, 1723)],
        ipv6: false,
        modules: &["nf_conntrack_pptp", "ip_conntrack_pptp"],
    },
    Known {
        name: "sane",
        ports: &[(TCP, 6566)],
        ipv6: true,
        modules: &["nf_conntrack_sane", "ip_conntrack_sane"],
    },
    Known {
        name: "netbios-ns",
        ports: &[(UDP, 137)],
        ipv6: false,
        modules: &["nf_conntrack_netbios_ns", "ip_conntrack_netbios_ns"],
    },
    Known {
        name: "snmp",
        ports: &[(UDP, 161)],
        ipv6: false,
        modules: &["nf_conntrack_snmp", "ip_conntrack_snmp"],
    },
];

fn proto_number(p: HelperProto) -> u8 {
    match p {
        HelperProto::Tcp => 6,
        HelperProto::Udp => 17,
    }
}

fn proto_name(p: HelperProto) -> &'static str {
    match p {
        HelperProto::Tcp => "tcp",
        HelperProto::Udp => "udp",
    }
}

/// The object's name: the helper's, lowercase, then its protocol (`ftp-tcp`, `q.931-tcp`),
/// always an nft identifier.
fn object_name(helper: &str, p: HelperProto) -> String {
    format!("{}-{}", helper.to_ascii_lowercase(), proto_name(p))
}

/// The object a [`Stmt::CtHelperSet`] made by this module names.
fn object_for(name: &str, family: Family) -> Option<CtHelper> {
    KNOWN.iter().find_map(|k| {
        [TCP, UDP]
            .into_iter()
            .find(|p| object_name(k.name, *p) == name)
            .map(|p| CtHelper {
                name: name.to_string(),
                helper: k.name.to_string(),
                protocol: p,
                l3proto: family,
            })
    })
}

/// `ct status & expected == 0 ct helper set "NAME"`: the statements of a helper rule after its
/// matches.
fn assign(name: String) -> [Stmt; 2] {
    [
        Stmt::Match(Match::Flags {
            left: Expr::Ct(CtKey::Status),
            bits: IPS_EXPECTED,
            op: CmpOp::Ne,
        }),
        Stmt::CtHelperSet(name),
    ]
}

/// `-j CT --helper NAME` with the rule's protocol `proto` (`-p`, not negated, as xt_CT
/// requires): the statements, or an error message and help.
pub(crate) fn helper_target(
    name: &str,
    proto: Option<(u8, bool)>,
    family: IpFamily,
) -> Result<Vec<Stmt>, (String, String)> {
    let Some(k) = KNOWN.iter().find(|k| k.name == name) else {
        let help = if name.eq_ignore_ascii_case("h323") {
            "the kernel's H.323 helpers are `RAS` (udp 1719) and `Q.931` (tcp 1720)".to_string()
        } else {
            let names: Vec<&str> = KNOWN.iter().map(|k| k.name).collect();
            format!("the kernel's conntrack helpers are {}", names.join(", "))
        };
        return Err((format!("unknown conntrack helper `{name}`"), help));
    };
    if family == IpFamily::V6 && !k.ipv6 {
        return Err((
            format!("the `{name}` conntrack helper exists for IPv4 only"),
            "the kernel refuses the rule in ip6tables; remove it".into(),
        ));
    }
    let protos: Vec<HelperProto> = k.ports.iter().map(|(p, _)| *p).collect();
    let found = match proto {
        Some((p, false)) => protos.into_iter().find(|hp| proto_number(*hp) == p),
        _ => None,
    };
    let Some(p) = found else {
        let want: Vec<&str> = k.ports.iter().map(|(p, _)| proto_name(*p)).collect();
        return Err((
            format!("`--helper {name}` needs `-p {}`", want.join("` or `-p ")),
            "xt_CT refuses a helper without its protocol (or with a negated one): add the protocol match".into(),
        ));
    };
    Ok(assign(object_name(k.name, p)).to_vec())
}

/// The statements of a helper rule before the two [`assign`] adds.
fn own_tests(r: &Rule) -> &[Stmt] {
    let n = r.stmts.len().saturating_sub(2);
    &r.stmts[..n]
}

fn is_helper_rule(r: &Rule) -> bool {
    r.stmts.iter().any(|s| matches!(s, Stmt::CtHelperSet(_)))
}

fn loc_of(r: &Rule) -> Loc {
    let o = r.origin.clone().unwrap_or(Origin {
        file: "".into(),
        line: 0,
    });
    Loc {
        file: fwnet_iptables::FileName::new(&o.file),
        line: o.line,
        column: 1,
    }
}

fn line_of(r: &Rule) -> String {
    r.origin
        .as_ref()
        .map(|o| format!("line {}", o.line))
        .unwrap_or_else(|| "an earlier rule".into())
}

/// Whether nothing between raw (-300) and -150 can change what this statement of a helper
/// rule sees or does.
fn stable(s: &Stmt) -> bool {
    match s {
        Stmt::Match(Match::Cmp { left, .. })
        | Stmt::Match(Match::Masked { left, .. })
        | Stmt::Match(Match::Order { left, .. }) => stable_expr(left),
        Stmt::Match(Match::Flags { left, .. }) => stable_expr(left),
        Stmt::Counter(_) | Stmt::Log(_) | Stmt::CtHelperSet(_) => true,
        _ => false,
    }
}

fn stable_expr(e: &Expr) -> bool {
    match e {
        Expr::Payload(_) | Expr::Exthdr(_) | Expr::Fib(_) | Expr::FibOif(_) => true,
        Expr::NhWord(_) => true,
        Expr::Meta(m) => !matches!(m, MetaKey::Mark),
        Expr::Ct(_) | Expr::Rt(_) => false,
    }
}

/// Moves the raw table's helper rules into base chains at priority -150 and declares the
/// objects they use; refuses (with an error, returning how many) those it cannot move exactly.
pub(crate) fn finish(table: &mut nft::Table, diags: &mut Vec<Diagnostic>) -> usize {
    // No helper rule: nothing to move, and no object to declare.
    if !table
        .chains
        .iter()
        .any(|c| c.rules.iter().any(is_helper_rule))
    {
        return 0;
    }
    let mut refused = 0;
    // A zone or NOTRACK rule may sit in a user chain the helper rule's chain jumps to.
    let zoning = chains_that(table, sets_zone);
    let untracking = chains_that(table, untracks);
    let mut moved: Vec<(Hook, Vec<Rule>)> = Vec::new();
    for chain in &mut table.chains {
        if !chain.rules.iter().any(is_helper_rule) {
            continue;
        }
        let Some(hook) = chain.base.as_ref().map(|b| b.hook) else {
            chain.rules.retain(|r| {
                if !is_helper_rule(r) {
                    return true;
                }
                refused += 1;
                diags.push(
                    Diagnostic::error(
                        "translate/unsupported-target",
                        &loc_of(r),
                        format!("`-j CT --helper` in user chain {}", chain.name),
                    )
                    .with_help("nft assigns helpers after conntrack, in a chain of its own; fwnet moves only rules of the built-in PREROUTING and OUTPUT chains there: move the rule into one of them"),
                );
                false
            });
            continue;
        };
        let rules = std::mem::take(&mut chain.rules);
        let zone = rules
            .iter()
            .find(|r| {
                r.stmts
                    .iter()
                    .any(|s| sets_zone(s) || jumps_into(s, &zoning))
            })
            .map(|r| match r.stmts.iter().any(sets_zone) {
                true => line_of(r),
                false => format!("{}, through the chain it jumps to", line_of(r)),
            });
        let mut keep = Vec::new();
        let mut out = Vec::new();
        let mut ender: Option<String> = None;
        for (i, r) in rules.iter().enumerate() {
            if !is_helper_rule(r) {
                if r.stmts.iter().any(|s| {
                    matches!(
                        s,
                        Stmt::Verdict(
                            nft::Verdict::Accept
                                | nft::Verdict::Return
                                | nft::Verdict::Jump(_)
                                | nft::Verdict::Goto(_)
                        )
                    )
                }) && ender.is_none()
                {
                    ender = Some(line_of(r));
                }
                keep.push(r.clone());
                continue;
            }
            let notrack_after = rules[i + 1..]
                .iter()
                .find(|l| {
                    l.stmts
                        .iter()
                        .any(|s| untracks(s) || jumps_into(s, &untracking))
                })
                .map(|l| match l.stmts.iter().any(untracks) {
                    true => (line_of(l), ""),
                    false => (line_of(l), " (through the chain it jumps to)"),
                });
            let why = if let Some(l) = &ender {
                Some((
                    format!("{l} of chain {} can end the chain before this `-j CT --helper` rule", chain.name),
                    "nft assigns helpers after conntrack, in a chain of its own that the earlier rule's verdict does not stop; move the helper rule before it".to_string(),
                ))
            } else if let Some(l) = &zone {
                Some((
                    format!("chain {} also sets a conntrack zone ({l})", chain.name),
                    "xt_CT keeps only the first template a packet gets, nft would apply both; set zones and helpers in different built-in chains (PREROUTING, OUTPUT), not through a jump from the helper's chain, or drop one".to_string(),
                ))
            } else if let Some((l, via)) = notrack_after {
                Some((
                    format!("{l} of chain {} untracks packets after this `-j CT --helper` rule{via}", chain.name),
                    "with xt_CT the helper's template stops the later NOTRACK, in nft the untracking comes first; put the NOTRACK rule (or the jump to it) before the helper rule".to_string(),
                ))
            } else if !own_tests(r).iter().all(stable) {
                Some((
                    "this `-j CT --helper` rule tests something that may change between raw and the helper assignment in nft".to_string(),
                    "nft assigns helpers after conntrack (priority -150), where marks, conntrack state and sets may differ from raw; keep only header, interface and address tests in the rule".to_string(),
                ))
            } else {
                None
            };
            match why {
                Some((msg, help)) => {
                    refused += 1;
                    diags.push(
                        Diagnostic::error("translate/unsupported-target", &loc_of(r), msg)
                            .with_help(help),
                    );
                }
                None => out.push(r.clone()),
            }
        }
        chain.rules = keep;
        if !out.is_empty() {
            moved.push((hook, out));
        }
    }
    for (hook, rules) in moved {
        helper_chain(table, hook).rules.extend(rules);
    }
    declare_objects(table);
    refused
}

/// The chains of `table` where a rule has a statement `pick` picks, or jumps or goes to a
/// chain that does (directly or further down).
fn chains_that(table: &nft::Table, pick: impl Fn(&Stmt) -> bool) -> BTreeSet<String> {
    fn stmts(c: &Chain) -> impl Iterator<Item = &Stmt> {
        c.rules.iter().flat_map(|r| &r.stmts)
    }
    let mut found: BTreeSet<String> = (table.chains.iter())
        .filter(|c| stmts(c).any(&pick))
        .map(|c| c.name.clone())
        .collect();
    loop {
        let more: Vec<String> = (table.chains.iter())
            .filter(|c| !found.contains(&c.name))
            .filter(|c| stmts(c).any(|s| jumps_into(s, &found)))
            .map(|c| c.name.clone())
            .collect();
        if more.is_empty() {
            return found;
        }
        found.extend(more);
    }
}

/// Whether `s` is a jump or goto into one of the chains `found`, also from a verdict map.
fn jumps_into(s: &Stmt, found: &BTreeSet<String>) -> bool {
    let into = |v: &nft::Verdict| matches!(v, nft::Verdict::Jump(n) | nft::Verdict::Goto(n) if found.contains(n));
    match s {
        Stmt::Verdict(v) => into(v),
        Stmt::Vmap { map, .. } => map.iter().any(|e| into(&e.verdict)),
        _ => false,
    }
}

fn sets_zone(s: &Stmt) -> bool {
    matches!(s, Stmt::CtZoneSet(_) | Stmt::CtDirZoneSet { .. })
}

fn untracks(s: &Stmt) -> bool {
    matches!(s, Stmt::Notrack)
}

/// The base chain at priority -150 that assigns helpers on `hook`, created when missing.
fn helper_chain(table: &mut nft::Table, hook: Hook) -> &mut Chain {
    let base = match hook {
        Hook::Output => "OUTPUT_HELPER",
        _ => "PREROUTING_HELPER",
    };
    let is_it = |c: &Chain| {
        c.base
            .as_ref()
            .is_some_and(|b| b.hook == hook && b.priority == PRIORITY)
    };
    if let Some(i) = table.chains.iter().position(is_it) {
        return &mut table.chains[i];
    }
    let mut name = base.to_string();
    let mut n = 2;
    while table.chains.iter().any(|c| c.name == name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    table.chains.push(Chain {
        name,
        base: Some(BaseChain {
            kind: ChainKind::Filter,
            hook,
            priority: PRIORITY,
            policy: Policy::Accept,
            counters: None,
        }),
        rules: Vec::new(),
        family: None,
    });
    let last = table.chains.len() - 1;
    &mut table.chains[last]
}

/// Declares every helper object the table's rules assign, in order of first use.
fn declare_objects(table: &mut nft::Table) {
    let names: Vec<String> = table
        .chains
        .iter()
        .flat_map(|c| &c.rules)
        .flat_map(|r| &r.stmts)
        .filter_map(|s| match s {
            Stmt::CtHelperSet(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    for n in names {
        if table.ct_helpers.iter().any(|h| h.name == n) {
            continue;
        }
        if let Some(h) = object_for(&n, table.family) {
            table.ct_helpers.push(h);
        }
    }
}

/// The conntrack helper modules an `iptables-config` file loads (`IPTABLES_MODULES="..."`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IptablesConfig {
    /// Where `IPTABLES_MODULES` is, for the emitted rules' origin.
    pub origin: Option<Origin>,
    /// The modules listed, in order.
    pub modules: Vec<String>,
}

/// Reads `IPTABLES_MODULES` from the text of an `/etc/sysconfig/iptables-config` file (a shell
/// fragment: `KEY="value"`, `#` comments); the last assignment wins, as when the shell reads it.
/// Modules that register no conntrack helper (`ip_nat_ftp`, `nf_nat_ftp` ...) are kept; they
/// are ignored when the rules are made.
pub fn parse_iptables_config(file: &str, text: &str) -> IptablesConfig {
    let mut cfg = IptablesConfig::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let Some(value) = line.strip_prefix("IPTABLES_MODULES=") else {
            continue;
        };
        let value = value.split('#').next().unwrap_or("").trim();
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        cfg.modules = value.split_whitespace().map(str::to_string).collect();
        cfg.origin = Some(Origin {
            file: file.into(),
            line: u32::try_from(i + 1).unwrap_or(u32::MAX),
        });
    }
    cfg
}

/// The helpers `cfg` loads, each once, in the order of [`KNOWN`].
fn loaded(cfg: &IptablesConfig) -> Vec<&'static Known> {
    KNOWN
        .iter()
        .filter(|k| k.modules.iter().any(|m| cfg.modules.iter().any(|c| c == m)))
        .collect()
}

/// Adds, to the IPv4 raw table (created if missing), the rules that assign each loaded helper
/// on its default ports, in prerouting and output, after the `-j CT --helper` rules.
pub(crate) fn assign_by_port(rs: &mut nft::Ruleset, cfg: &IptablesConfig) {
    let helpers = loaded(cfg);
    if helpers.is_empty() {
        return;
    }
    let i = match rs
        .tables
        .iter()
        .position(|t| t.family == Family::Ip && t.name == "fwnet_raw")
    {
        Some(i) => i,
        None => {
            rs.tables.push(nft::Table {
                family: Family::Ip,
                name: "fwnet_raw".into(),
                sets: Vec::new(),
                chains: Vec::new(),
                ct_helpers: Vec::new(),
            });
            rs.tables.len() - 1
        }
    };
    let table = &mut rs.tables[i];
    for hook in [Hook::Prerouting, Hook::Output] {
        let chain = helper_chain(table, hook);
        for k in &helpers {
            for (p, port) in k.ports {
                let field = match p {
                    HelperProto::Tcp => Field::TcpDport,
                    HelperProto::Udp => Field::UdpDport,
                };
                // `ip protocol tcp`, as the translation of `-p tcp` writes it.
                let mut stmts = vec![Stmt::Match(Match::Cmp {
                    left: Expr::Payload(Field::IpProtocol),
                    op: CmpOp::Eq,
                    right: Value::Num(u64::from(proto_number(*p))),
                })];
                stmts.push(Stmt::Match(Match::Cmp {
                    left: Expr::Payload(field),
                    op: CmpOp::Eq,
                    right: Value::Num(u64::from(*port)),
                }));
                stmts.extend(assign(object_name(k.name, *p)));
                chain.rules.push(Rule {
                    stmts,
                    comment: None,
                    origin: cfg.origin.clone(),
                    merged: Vec::new(),
                });
            }
        }
    }
    declare_objects(table);
}

/// A rule that names a helper's default port in a ruleset that accepts RELATED: a warning
/// unless the translation assigns that helper ([`warn_unassigned`]). Found before translation,
/// which releases each rule's syntax as it goes.
pub(crate) struct Unassigned {
    known: &'static Known,
    loc: fwnet_iptables::diag::Loc,
    port: u16,
    family: IpFamily,
}

/// The rules of one file that would need a helper CentOS 6 assigned automatically: the file
/// accepts RELATED somewhere, and a rule names a helper's default port (`--dport 21`).
pub(crate) fn unassigned_candidates(
    rs: &fwnet_iptables::Ruleset,
    family: IpFamily,
) -> Vec<Unassigned> {
    let rules: Vec<&fwnet_iptables::Rule> = rs
        .tables
        .iter()
        .flat_map(|t| &t.commands)
        .filter_map(|c| match c {
            Command::Append(r) | Command::Insert { rule: r, .. } => Some(r),
            _ => None,
        })
        .collect();
    if !rules.iter().any(|r| related(r)) {
        return Vec::new();
    }
    // These two only track broadcast answers (NetBIOS name service, SNMP traps) and CentOS 6
    // loaded them only on request; a rule for their port is no sign of reliance, and warning
    // on every file that opens 137 or 161 drowns the real cases.
    let wanted =
        |k: &Known| (family == IpFamily::V4 || k.ipv6) && !matches!(k.name, "netbios-ns" | "snmp");
    // Per helper, the first rule (in file order) naming one of its ports, and the port. Each
    // rule's ports are checked against every helper's port at once; the few rules that reach
    // one are read again and checked helper by helper.
    let mut first: Vec<Option<(&fwnet_iptables::Rule, u16)>> = vec![None; KNOWN.len()];
    let mut unfound = KNOWN.iter().filter(|k| wanted(k)).count();
    // Every helper's ports, sorted: a rule's ranges are checked against them by bisection.
    let mut ports: Vec<u16> = KNOWN
        .iter()
        .flat_map(|k| k.ports)
        .map(|&(_, n)| n)
        .collect();
    ports.sort_unstable();
    for r in rules {
        if unfound == 0 {
            break;
        }
        // Most ports are no helper's: the protocols are read only for a rule with one.
        let any = dport_ranges(r).any(|(lo, hi)| {
            let at = ports.partition_point(|&p| p < lo);
            ports.get(at).is_some_and(|&p| p <= hi)
        });
        if !any {
            continue;
        }
        let ranges: Vec<(u16, u16)> = dport_ranges(r).collect();
        let covers = |port: u16| ranges.iter().any(|&(lo, hi)| lo <= port && port <= hi);
        let (tcp, udp) = (protocol_allows(r, TCP), protocol_allows(r, UDP));
        for (k, slot) in KNOWN.iter().zip(first.iter_mut()) {
            if slot.is_some() || !wanted(k) {
                continue;
            }
            let named = k.ports.iter().find(|(p, n)| {
                (match p {
                    HelperProto::Tcp => tcp,
                    HelperProto::Udp => udp,
                }) && covers(*n)
            });
            if let Some(&(_, port)) = named {
                *slot = Some((r, port));
                unfound -= 1;
            }
        }
    }
    KNOWN
        .iter()
        .zip(first)
        .filter_map(|(k, found)| {
            found.map(|(r, port)| Unassigned {
                known: k,
                loc: r.loc.clone(),
                port,
                family,
            })
        })
        .collect()
}

/// Warnings for rulesets that relied on CentOS 6's automatic helper assignment: each candidate
/// whose helper no `-j CT --helper` of the translation assigns.
pub(crate) fn warn_unassigned(
    candidates: &[Unassigned],
    rs: &nft::Ruleset,
    diags: &mut Vec<Diagnostic>,
) {
    for c in candidates {
        let (k, port) = (c.known, c.port);
        let assigned = rs
            .tables
            .iter()
            .flat_map(|t| &t.ct_helpers)
            .any(|h| h.helper == k.name);
        if assigned {
            continue;
        }
        diags.push(
            Diagnostic::warning(
                "translate/ct-helper-not-assigned",
                &c.loc,
                format!(
                    "port {port} is the `{}` conntrack helper's and the ruleset matches RELATED connections: CentOS 6 assigned that helper automatically when its module was loaded, current kernels do not, so its data connections would not be RELATED",
                    k.name
                ),
            )
            .with_help(match c.family {
                IpFamily::V4 => format!(
                    "pass `--iptables-config /etc/sysconfig/iptables-config` to `fwnet import` so that the helpers its IPTABLES_MODULES loads (`{}`) are assigned explicitly, or add `-t raw -A PREROUTING -p {} --dport {port} -j CT --helper {}`",
                    k.modules[0],
                    proto_name(k.ports[0].0),
                    k.name
                ),
                // `--iptables-config` assigns helpers to IPv4 only.
                IpFamily::V6 => format!(
                    "add `-t raw -A PREROUTING -p {} --dport {port} -j CT --helper {}` to the ip6tables file",
                    proto_name(k.ports[0].0),
                    k.name
                ),
            }),
        );
    }
}

/// Whether the rule matches RELATED (`--state` / `--ctstate` naming it).
fn related(r: &fwnet_iptables::Rule) -> bool {
    r.opts.iter().any(|o| {
        matches!(o.name.as_str(), "--state" | "--ctstate")
            && o.args.iter().any(|a| a.split(',').any(|s| s == "RELATED"))
    })
}

fn is_dport_option(name: &str) -> bool {
    matches!(
        name,
        "--dport" | "--destination-port" | "--dports" | "--destination-ports" | "--ports"
    )
}

/// Whether the rule's protocol options (`-p`) allow `p`: a rule without one allows every
/// protocol.
fn protocol_allows(r: &fwnet_iptables::Rule, p: HelperProto) -> bool {
    r.opts
        .iter()
        .filter(|o| matches!(o.name.as_str(), "-p" | "--protocol"))
        .all(|o| {
            o.args.iter().all(|a| {
                a.eq_ignore_ascii_case(proto_name(p)) || a.parse::<u8>() == Ok(proto_number(p))
            })
        })
}

/// The port ranges (inclusive) of the rule's destination port options (`--dport`, `--dports`)
/// that are not negated. An open end (`:80`, `1024:`) or one that is not a number reaches to
/// 0 or 65535; an item without a number names nothing.
fn dport_ranges(r: &fwnet_iptables::Rule) -> impl Iterator<Item = (u16, u16)> + '_ {
    r.opts
        .iter()
        .filter(|o| is_dport_option(&o.name) && o.negated == fwnet_iptables::Negation::None)
        .flat_map(|o| o.args.iter().flat_map(|a| a.split(',')))
        .filter_map(|item| {
            let mut ends = item.splitn(2, ':').map(|s| s.trim().parse::<u16>().ok());
            match (ends.next().flatten(), ends.next()) {
                (Some(lo), None) => Some((lo, lo)),
                (Some(lo), Some(hi)) => Some((lo, hi.unwrap_or(u16::MAX))),
                (None, Some(hi)) => Some((0, hi.unwrap_or(u16::MAX))),
                (None, None) => None,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The (rule, port) pairs warned for, rules numbered from 1 after a RELATED rule.
    fn warned(rules: &[String]) -> Vec<(usize, u16)> {
        let mut text = String::from("*filter\n:INPUT DROP [0:0]\n");
        text.push_str("-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n");
        for r in rules {
            text.push_str(r);
            text.push('\n');
        }
        text.push_str("COMMIT\n");
        let (rs, diags) = fwnet_iptables::parse("t.rules", &text);
        assert!(diags.is_empty(), "{diags:?}");
        let mut found: Vec<(usize, u16)> = unassigned_candidates(&rs, IpFamily::V4)
            .iter()
            .map(|u| (u.loc.line as usize - 3, u.port))
            .collect();
        found.sort();
        found
    }

    fn ports(proto: &str, list: &str) -> String {
        format!("-A INPUT -p {proto} -m multiport --dports {list} -j ACCEPT")
    }

    #[test]
    fn a_range_names_the_helper_ports_it_reaches_and_none_beside_them() {
        // TCP helper ports: 21, 1720, 1723, 5060, 6566, 6667; UDP: 69, 137, 161, 1719, 5060,
        // 10080.
        let beside = [
            ports("tcp", "22:1719"),
            ports("tcp", "1721:1722"),
            ports("tcp", "1724:5059"),
            ports("tcp", "6668:"),
            ports("udp", "5061:10079"),
            ports("udp", "10081:"),
        ];
        assert_eq!(
            warned(&beside),
            vec![],
            "UDP ports in a TCP range do not count either"
        );
        assert_eq!(warned(&[ports("tcp", ":21")]), vec![(1, 21)]);
        assert_eq!(warned(&[ports("tcp", "1723:1723")]), vec![(1, 1723)]);
        assert_eq!(warned(&[ports("udp", "10080:")]), vec![(1, 10080)]);
        assert_eq!(
            warned(&[ports("tcp", "5000:5060,21")]),
            vec![(1, 21), (1, 5060)],
            "each item of a list"
        );
    }
}
