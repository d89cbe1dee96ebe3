//! One rule line: which extension each option belongs to, and the order of the result.
//!
//! Options are assigned the way iptables 1.4 assigns them: generic options (`-s`, `-p`, `-i`,
//! `-j` ...) first; after `-j`, the target's options; otherwise the first loaded match that
//! knows the option (a second `-m X` retires the first one's claim); failing that, the match
//! named by `-p` is loaded implicitly (`-p tcp --dport 22`). The order of the matches is the
//! order the kernel evaluates them in, which matters for `limit` and `hashlimit`: they spend a
//! token only when every match before them matched.
//!
//! The nft rule is: header tests (`-s -d -p -i -o`), then each match in load order, then a
//! counter (iptables always counts), then the target. This module does not know what any
//! extension's options mean.

use crate::chain::TableCx;
use crate::hashlimit::Registry;
use crate::{
    addrtype, comment, connmark, conntrack, frag, hashlimit, hbh, icmp, icmp6, ip, iprange, length,
    limit, log, mark, multiport, owner, pkttype, reject, rt, state, tcp, ttl, udp, IpFamily,
};
use fwnet_iptables::diag::Loc;
use fwnet_iptables::{self as ipt, Diagnostic, Opt, Word};
use fwnet_nft::{self as nft, Stmt, Verdict};

/// What an extension module needs from the rule it is in.
pub(crate) struct Cx<'r> {
    pub family: IpFamily,
    /// iptables table name.
    pub table: &'r str,
    /// The chain the rule is in, as written (`INPUT`, a user chain).
    pub chain: &'r str,
    /// `-p`, once read: protocol number and whether it is negated. `-p all` is `None`.
    pub protocol: Option<(u8, bool)>,
    pub diags: Vec<Diagnostic>,
    /// `--allow-approximate` was given (`Options::allow_approximate`).
    pub allow_approximate: bool,
    /// Set by a module that emitted an approximation: the marker put first in the rule's
    /// comment (`fwnet approximate: ...`).
    pub approximate: Option<String>,
    /// Set by a match that is an OR of two tests (`--ports`): the rule becomes two rules.
    pub either: Option<Either>,
    /// [`crate::Options::names`].
    pub names: Option<&'r dyn crate::Resolve>,
    /// [`crate::chain::Shared::negated_owner`].
    pub negated_owner: &'r std::cell::Cell<bool>,
}

/// A match that is an OR of two disjoint tests (no packet passes both): the rule is emitted
/// twice, once with each test at `at` in the match's statements. Each packet then meets the
/// rest of the rule at most once, so the split is exact unless the rule keeps state, which
/// would be split in two ([`check_either`]).
pub(crate) struct Either {
    pub loc: Loc,
    /// The option as written, for messages.
    pub what: String,
    pub alternatives: [Vec<Stmt>; 2],
    /// Where the test goes among the statements the match returned.
    pub at: usize,
}

impl Cx<'_> {
    pub fn error(
        &mut self,
        code: &'static str,
        loc: &Loc,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::error(code, loc, msg).with_help(help));
    }

    pub fn warn(
        &mut self,
        code: &'static str,
        loc: &Loc,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::warning(code, loc, msg).with_help(help));
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }

    /// The rule's protocol if it is one of `allowed` and not negated, as the kernel requires
    /// for protocol-specific matches; else an error naming `what`.
    pub fn require_protocol(&mut self, what: &str, loc: &Loc, allowed: &[u8]) -> Option<u8> {
        match self.protocol {
            Some((p, false)) if allowed.contains(&p) => Some(p),
            _ => {
                let names: Vec<&str> = allowed.iter().map(|p| ip::protocol_name(*p)).collect();
                self.error(
                    "translate/bad-value",
                    loc,
                    format!("{what} needs `-p {}` on the rule", names.join("` or `-p ")),
                    "the kernel refuses this rule otherwise; add the protocol match",
                );
                None
            }
        }
    }

    /// The single argument of `opt`, or an error.
    pub fn one_arg<'o>(&mut self, opt: &'o Opt) -> Option<&'o str> {
        if let [arg] = opt.args.as_slice() {
            return Some(arg);
        }
        self.error(
            "translate/bad-value",
            &opt.loc,
            format!(
                "`{}` takes one argument, found {}",
                opt.name,
                opt.args.len()
            ),
            if opt.args.iter().any(|a| a.starts_with('\'')) {
                "iptables-restore quotes with double quotes only (`'` is an ordinary character): \
                 write \"...\""
            } else {
                "quote an argument that contains spaces with \"...\""
            },
        );
        None
    }

    /// Checks that `opt` has no arguments.
    pub fn no_arg(&mut self, opt: &Opt) -> bool {
        if opt.args.is_empty() {
            return true;
        }
        self.error(
            "translate/bad-value",
            &opt.loc,
            format!(
                "`{}` takes no argument, found `{}`",
                opt.name,
                opt.args.join(" ")
            ),
            "remove the extra words",
        );
        false
    }

    /// Checks that `opt` is not negated.
    pub fn not_negated(&mut self, opt: &Opt) -> bool {
        if !opt.negated.is_negated() {
            return true;
        }
        self.error(
            "translate/bad-value",
            &opt.loc,
            format!("`{}` cannot be negated", opt.name),
            "remove the `!`",
        );
        false
    }

    pub fn bad_value(&mut self, opt: &Opt, value: &str, help: impl Into<String>) {
        self.error(
            "translate/bad-value",
            &opt.loc,
            format!("bad value `{value}` for `{}`", opt.name),
            help,
        );
    }

    /// A value of a known option that fwnet does not translate yet.
    pub fn unsupported_value(&mut self, opt: &Opt, what: &str, help: impl Into<String>) {
        self.error(
            "translate/unsupported-option",
            &opt.loc,
            format!("{what} in `{}` is not supported yet", opt.name),
            help,
        );
    }

    pub fn unsupported_option(&mut self, opt: &Opt, help: impl Into<String>) {
        self.error(
            "translate/unsupported-option",
            &opt.loc,
            format!("`{}` is not supported yet", opt.name),
            help,
        );
    }
}

/// Whether packets in built-in chain `chain` lack an input interface (`input`) or an output
/// interface: locally generated packets have no input one (OUTPUT, POSTROUTING), packets not
/// yet routed no output one (PREROUTING, INPUT). iptables refuses interface tests there.
pub(crate) fn lacks_interface(chain: &str, input: bool) -> bool {
    let chains: &[&str] = if input {
        &["OUTPUT", "POSTROUTING"]
    } else {
        &["PREROUTING", "INPUT"]
    };
    chains.contains(&chain)
}

/// The match extensions fwnet translates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ext {
    Tcp,
    Udp,
    Icmp,
    Icmp6,
    State,
    Conntrack,
    Multiport,
    Limit,
    Hashlimit,
    Addrtype,
    Owner,
    Mark,
    Connmark,
    Comment,
    Pkttype,
    Ttl,
    Hl,
    Length,
    Iprange,
    Recent,
    Set,
    Rt,
    Hbh,
    Dst,
    Frag,
    Statistic,
    Policy,
    Rpfilter,
    Connlimit,
    /// Any other `-m`: already reported; it swallows options nobody else knows.
    Unsupported,
    Mac,
    Tcpmss,
    Dscp,
    Ecn,
    Tos,
    Time,
    U32,
}

impl Ext {
    fn by_name(name: &str, family: IpFamily) -> Option<Ext> {
        Some(match (name, family) {
            ("tcp", _) => Ext::Tcp,
            ("udp", _) => Ext::Udp,
            ("icmp", IpFamily::V4) => Ext::Icmp,
            // libxt_icmp6 registers itself under both names.
            ("icmp6" | "icmpv6", IpFamily::V6) => Ext::Icmp6,
            ("state", _) => Ext::State,
            ("conntrack", _) => Ext::Conntrack,
            ("multiport", _) => Ext::Multiport,
            ("limit", _) => Ext::Limit,
            ("hashlimit", _) => Ext::Hashlimit,
            ("addrtype", _) => Ext::Addrtype,
            ("owner", _) => Ext::Owner,
            ("mark", _) => Ext::Mark,
            ("connmark", _) => Ext::Connmark,
            ("comment", _) => Ext::Comment,
            ("pkttype", _) => Ext::Pkttype,
            ("ttl", IpFamily::V4) => Ext::Ttl,
            ("hl", IpFamily::V6) => Ext::Hl,
            ("length", _) => Ext::Length,
            ("iprange", _) => Ext::Iprange,
            ("recent", _) => Ext::Recent,
            ("set", _) => Ext::Set,
            ("rt", IpFamily::V6) => Ext::Rt,
            ("hbh", IpFamily::V6) => Ext::Hbh,
            ("dst", IpFamily::V6) => Ext::Dst,
            ("frag", IpFamily::V6) => Ext::Frag,
            ("statistic", _) => Ext::Statistic,
            ("policy", _) => Ext::Policy,
            ("rpfilter", _) => Ext::Rpfilter,
            ("connlimit", _) => Ext::Connlimit,
            ("mac", _) => Ext::Mac,
            ("tcpmss", _) => Ext::Tcpmss,
            ("dscp", _) => Ext::Dscp,
            ("ecn", _) => Ext::Ecn,
            ("tos", _) => Ext::Tos,
            ("time", _) => Ext::Time,
            ("u32", _) => Ext::U32,
            _ => return None,
        })
    }

    /// Option names, in groups of aliases (first is canonical).
    fn options(self) -> &'static [&'static [&'static str]] {
        match self {
            Ext::Tcp => tcp::OPTIONS,
            Ext::Udp => udp::OPTIONS,
            Ext::Icmp => icmp::OPTIONS,
            Ext::Icmp6 => icmp6::OPTIONS,
            Ext::State => state::OPTIONS,
            Ext::Conntrack => conntrack::OPTIONS,
            Ext::Multiport => multiport::OPTIONS,
            Ext::Limit => limit::OPTIONS,
            Ext::Hashlimit => hashlimit::OPTIONS,
            Ext::Addrtype => addrtype::OPTIONS,
            Ext::Owner => owner::OPTIONS,
            Ext::Mark => mark::OPTIONS,
            Ext::Connmark => connmark::OPTIONS,
            Ext::Comment => comment::OPTIONS,
            Ext::Pkttype => pkttype::OPTIONS,
            Ext::Ttl => ttl::TTL_OPTIONS,
            Ext::Hl => ttl::HL_OPTIONS,
            Ext::Length => length::OPTIONS,
            Ext::Iprange => iprange::OPTIONS,
            Ext::Recent => crate::recent::OPTIONS,
            Ext::Set => crate::set::OPTIONS,
            Ext::Rt => rt::OPTIONS,
            Ext::Hbh => hbh::HBH_OPTIONS,
            Ext::Dst => hbh::DST_OPTIONS,
            Ext::Frag => frag::OPTIONS,
            Ext::Statistic => crate::statistic::OPTIONS,
            Ext::Policy => crate::policy::OPTIONS,
            Ext::Rpfilter => crate::rpfilter::OPTIONS,
            Ext::Connlimit => crate::connlimit::OPTIONS,
            Ext::Unsupported => &[],
            Ext::Mac => crate::mac::OPTIONS,
            Ext::Tcpmss => crate::tcpmss::OPTIONS,
            Ext::Dscp => crate::dscp::OPTIONS,
            Ext::Ecn => crate::ecn::OPTIONS,
            Ext::Tos => crate::tos::OPTIONS,
            Ext::Time => crate::time::OPTIONS,
            Ext::U32 => crate::u32::OPTIONS,
        }
    }

    fn knows(self, opt: &str) -> bool {
        self.options().iter().any(|group| group.contains(&opt))
    }

    /// The match `-p NUM` loads implicitly.
    fn for_protocol(p: u8, family: IpFamily) -> Option<Ext> {
        match (p, family) {
            (6, _) => Some(Ext::Tcp),
            (17, _) => Some(Ext::Udp),
            (1, IpFamily::V4) => Some(Ext::Icmp),
            (58, IpFamily::V6) => Some(Ext::Icmp6),
            _ => None,
        }
    }
}

/// Matches iptables knows but fwnet does not translate yet, with what to do instead.
fn unsupported_match_help(name: &str, family: IpFamily) -> String {
    match (name, family) {
        ("icmp6" | "icmpv6", IpFamily::V4) => return "icmp6 is an ip6tables match and this is an IPv4 ruleset; use `-p icmp --icmp-type`".into(),
        ("icmp", IpFamily::V6) => return "icmp is an iptables (IPv4) match and this is an IPv6 ruleset; use `-p icmpv6 --icmpv6-type`".into(),
        ("ttl", IpFamily::V6) => return "ttl is an iptables (IPv4) match and this is an IPv6 ruleset; use `-m hl`".into(),
        ("hl", IpFamily::V4) => return "hl is an ip6tables match and this is an IPv4 ruleset; use `-m ttl`".into(),
        ("rt" | "hbh" | "dst" | "frag" | "ipv6header", IpFamily::V4) => return format!("{name} matches IPv6 extension headers and this is an IPv4 ruleset; move the rule to the ip6tables file"),
        _ => {}
    }
    match name {
        "ipv6header" => "xt_ipv6header walks the header chain itself (past the fragment header of a non-first fragment too) and compares the whole set of headers it saw; nft's `exthdr X exists` uses the kernel's header search, which stops at a non-first fragment, and cannot say that no other header is present; write the headers you need as `-m rt`, `-m hbh`, `-m dst` matches, or remove the match".into(),
        _ => format!("fwnet does not translate `-m {name}` yet; rewrite the rule without it or remove it"),
    }
}

/// Why a known target is not translated, and what to do instead.
fn unsupported_target_help(name: &str) -> String {
    match name {
        // nft_exthdr.c `nft_exthdr_tcp_strip_eval` against xt_TCPOPTSTRIP.c
        // `tcpoptstrip_mangle_packet` (kernel 6.18).
        "TCPOPTSTRIP" => "nft's `reset tcp option` is not exact: it blanks only the first option of its kind where xt_TCPOPTSTRIP blanks every one, drops a packet whose matching option runs past the TCP header where xt leaves it alone, and lets a packet with a TCP header shorter than 20 bytes (or cut short) go on where xt drops it; every mainstream TCP stack sends each option once in a well-formed header, so `reset tcp option NAME` per option in a native nft file is the nearest form".into(),
        _ => format!("fwnet does not translate {name} yet; remove the rule or handle it outside fwnet"),
    }
}

/// Targets iptables has that fwnet does not translate yet; any other unknown `-j NAME` is
/// taken to be a chain.
const KNOWN_TARGETS: &[&str] = &[
    "AUDIT",
    "CHECKSUM",
    "CLASSIFY",
    "CLUSTERIP",
    "CONNMARK",
    "CONNSECMARK",
    "CT",
    "DNAT",
    "DNPT",
    "DSCP",
    "ECN",
    "HL",
    "HMARK",
    "IDLETIMER",
    "LED",
    "MARK",
    "MASQUERADE",
    "MIRROR",
    "NETMAP",
    "NFLOG",
    "NFQUEUE",
    "NOTRACK",
    "QUEUE",
    "RATEEST",
    "REDIRECT",
    "SAME",
    "SECMARK",
    "SET",
    "SNAT",
    "SNPT",
    "SYNPROXY",
    "TCPMSS",
    "TCPOPTSTRIP",
    "TEE",
    "TOS",
    "TPROXY",
    "TRACE",
    "TTL",
    "ULOG",
];

struct Loaded<'o> {
    ext: Ext,
    loc: Loc,
    opts: Vec<&'o Opt>,
    /// A later `-m` of the same name took over.
    completed: bool,
}

enum TargetKind {
    Accept,
    Drop,
    Return,
    Jump(String),
    Goto(String),
    Log,
    Reject,
    Nat(crate::nat::Target),
    /// `-j MARK`: `meta mark set`, not final.
    Mark,
    /// `-j CONNMARK`: `ct mark set` or `meta mark set ct mark`, not final.
    Connmark,
    /// `-j NFLOG`: `log group`, not final.
    Nflog,
    /// `-j CHECKSUM`: dropped with a warning.
    Checksum,
    /// `-j SET`: `add @set` / `delete @set`, not final.
    Set,
    /// `-j NOTRACK`: `notrack`, not final.
    Notrack,
    /// `-j CT`: `notrack` for `--notrack`, not final; other options refused.
    Ct,
    /// Reported already; swallows options nobody else knows.
    Unsupported,
    /// `-j CLASSIFY`: `meta priority set`, not final.
    Classify,
    /// `-j TTL` (false) / `-j HL` (true): `ip ttl set` / `ip6 hoplimit set`, not final.
    Ttl(bool),
    /// `-j TCPMSS`: `tcp option maxseg size set`, only as an approximation; not final.
    Tcpmss,
    /// `-j DSCP`: `ip dscp set` / `ip6 dscp set`, not final.
    Dscp,
    /// `-j TOS`: refused, with the `-j DSCP` equivalent when there is one.
    Tos,
    /// `-j SYNPROXY`: `synproxy`, not final.
    Synproxy,
    /// `-j TPROXY`: `tproxy ... accept`, then a second rule that drops.
    Tproxy,
}

struct Target<'o> {
    kind: TargetKind,
    /// Where `-j` is.
    loc: Loc,
    opts: Vec<&'o Opt>,
}

impl Target<'_> {
    fn knows(&self, opt: &str) -> bool {
        match self.kind {
            TargetKind::Log => log::OPTIONS.contains(&opt),
            TargetKind::Reject => reject::OPTIONS.contains(&opt),
            TargetKind::Nat(t) => t.knows(opt),
            TargetKind::Mark => mark::XMARK_OPTIONS.contains(&opt),
            TargetKind::Nflog => crate::nflog::OPTIONS.contains(&opt),
            TargetKind::Checksum => crate::checksum::OPTIONS.contains(&opt),
            TargetKind::Set => crate::set::TARGET_OPTIONS.contains(&opt),
            TargetKind::Ct => crate::ct::OPTIONS.contains(&opt),
            TargetKind::Classify => crate::classify::OPTIONS.contains(&opt),
            TargetKind::Ttl(false) => ttl::TTL_TARGET_OPTIONS.contains(&opt),
            TargetKind::Ttl(true) => ttl::HL_TARGET_OPTIONS.contains(&opt),
            TargetKind::Tcpmss => crate::tcpmss::TARGET_OPTIONS.contains(&opt),
            TargetKind::Dscp => crate::dscp::TARGET_OPTIONS.contains(&opt),
            TargetKind::Tos => crate::tos::TARGET_OPTIONS.contains(&opt),
            TargetKind::Synproxy => crate::synproxy::TARGET_OPTIONS.contains(&opt),
            TargetKind::Tproxy => crate::tproxy::TARGET_OPTIONS.contains(&opt),
            TargetKind::Connmark => {
                mark::XMARK_OPTIONS.contains(&opt) || connmark::TARGET_OPTIONS.contains(&opt)
            }
            _ => false,
        }
    }
}

/// Translates one rule into the kernel rules iptables-restore makes of it (several for an
/// address list, see [`ip::combinations`]); `None` (with errors in `diags`) when any part of
/// it cannot be.
pub(crate) fn translate(
    r: &ipt::Rule,
    tcx: &mut TableCx,
    registry: &mut Registry,
    recents: &mut crate::recent::Registry,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<nft::Rule>> {
    let mut cx = Cx {
        family: tcx.family,
        table: tcx.table,
        chain: r.chain.as_str(),
        protocol: None,
        diags: Vec::new(),
        allow_approximate: recents.allow_approximate,
        approximate: None,
        either: None,
        names: tcx.names,
        negated_owner: tcx.negated_owner,
    };
    // Sized for nearly every rule: allocated once each, never grown.
    let mut header: Vec<&Opt> = Vec::with_capacity(4);
    let mut loaded: Vec<Loaded> = Vec::with_capacity(4);
    let mut target: Option<Target> = None;

    for opt in &r.opts {
        match generic(&opt.name) {
            Some(Generic::Match) => load_match(opt, &mut cx, &mut loaded),
            Some(Generic::Jump | Generic::Goto) if target.is_some() => cx.error(
                "translate/bad-value",
                &opt.loc,
                "a rule has at most one target",
                "split the rule in two",
            ),
            Some(g @ (Generic::Jump | Generic::Goto)) => {
                target = target_of(opt, g == Generic::Goto, tcx, &mut cx);
            }
            Some(Generic::Header(canonical)) => {
                if header
                    .iter()
                    .any(|h| generic(&h.name) == Some(Generic::Header(canonical)))
                {
                    cx.error(
                        "translate/bad-value",
                        &opt.loc,
                        format!("`{}` given twice", opt.name),
                        "iptables allows one of each; use a separate rule or a multiport/set match",
                    );
                    continue;
                }
                if canonical == "-p" {
                    cx.protocol = ip::read_protocol(opt, &mut cx);
                }
                header.push(opt);
            }
            None => assign(opt, &mut cx, &mut loaded, target.as_mut()),
        }
    }

    // `-f` in a user chain: whether it can ever match depends on where the chain is reached
    // from, known once the table is read (`fragments::warn_input_only`).
    if cx.family == IpFamily::V4 && cx.chain != "INPUT" {
        let fragment =
            |o: &&Opt| matches!(o.name.as_str(), "-f" | "--fragment") && !o.negated.is_negated();
        if let Some(f) = header.iter().copied().find(fragment) {
            tcx.fragment_locs.push(f.loc.clone());
        }
    }
    let mut stmts: Vec<Stmt> = Vec::new();
    let heads = ip::combinations(&header, r.chain.as_str(), &mut cx);
    let mut comments = Vec::new();
    let mut either: Option<Either> = None;
    // What keeps a non-first fragment away from a match that reads the TCP header without
    // checking the fragment offset (xt_tcpmss, xt_ecn): a conntrack test in the rule (both
    // kernels then reassemble first), or a tcp match with an option among `tcp_before` (xt_tcp
    // fails on such fragments). xt_tcpmss may drop a packet whose options it cannot read, so for
    // it only tcp matches before it count; xt_ecn drops nothing, so any in the rule does.
    let defrag = loaded
        .iter()
        .any(|m| matches!(m.ext, Ext::State | Ext::Conntrack) && !m.opts.is_empty());
    let fragments = |tcp_before: &[Loaded]| {
        if defrag {
            crate::tcpmss::Fragments::Reassembled
        } else if tcp_before
            .iter()
            .any(|x| x.ext == Ext::Tcp && !x.opts.is_empty())
        {
            crate::tcpmss::Fragments::TcpTested
        } else {
            crate::tcpmss::Fragments::Possible
        }
    };
    for m in &loaded {
        check_duplicates(m, &mut cx);
        let base = stmts.len();
        let mut s = match m.ext {
            Ext::Tcp => tcp::translate(&m.opts, &m.loc, &mut cx),
            Ext::Udp => udp::translate(&m.opts, &m.loc, &mut cx),
            Ext::Icmp => icmp::translate(&m.opts, &m.loc, &mut cx),
            Ext::Icmp6 => icmp6::translate(&m.opts, &m.loc, &mut cx),
            Ext::State => state::translate(&m.opts, &m.loc, &mut cx),
            Ext::Conntrack => conntrack::translate(&m.opts, &m.loc, &mut cx),
            Ext::Multiport => multiport::translate(&m.opts, &m.loc, &mut cx),
            Ext::Limit => limit::translate(&m.opts, &m.loc, &mut cx),
            Ext::Hashlimit => hashlimit::translate(&m.opts, &m.loc, &mut cx, tcx, registry),
            Ext::Addrtype => addrtype::translate(&m.opts, &m.loc, &mut cx),
            Ext::Owner => owner::translate(&m.opts, &m.loc, &mut cx),
            Ext::Mark => mark::translate(&m.opts, &m.loc, &mut cx),
            Ext::Connmark => connmark::translate(&m.opts, &m.loc, &mut cx),
            Ext::Pkttype => pkttype::translate(&m.opts, &m.loc, &mut cx),
            Ext::Ttl => ttl::translate(&m.opts, &m.loc, false, &mut cx),
            Ext::Hl => ttl::translate(&m.opts, &m.loc, true, &mut cx),
            Ext::Length => length::translate(&m.opts, &m.loc, &mut cx),
            Ext::Iprange => iprange::translate(&m.opts, &m.loc, &mut cx),
            Ext::Recent => crate::recent::translate(&m.opts, &m.loc, &mut cx, tcx, recents),
            Ext::Set => crate::set::translate(&m.opts, &m.loc, &mut cx, tcx.ipsets, &mut tcx.sets),
            Ext::Statistic => crate::statistic::translate(&m.opts, &m.loc, &mut cx),
            Ext::Policy => crate::policy::translate(&m.opts, &m.loc, &mut cx),
            Ext::Rpfilter => crate::rpfilter::translate(&m.opts, &m.loc, &mut cx),
            Ext::Connlimit => crate::connlimit::translate(&m.opts, &m.loc, &mut cx, tcx),
            Ext::Comment => {
                comments.extend(comment::translate(&m.opts, &m.loc, &mut cx));
                Vec::new()
            }
            Ext::Rt => rt::translate(&m.opts, &m.loc, &mut cx),
            Ext::Hbh => hbh::translate(&m.opts, &m.loc, nft::Ipv6Ext::Hbh, &mut cx),
            Ext::Dst => hbh::translate(&m.opts, &m.loc, nft::Ipv6Ext::Dst, &mut cx),
            Ext::Frag => frag::translate(&m.opts, &m.loc, &mut cx),
            Ext::Unsupported => Vec::new(),
            Ext::Mac => crate::mac::translate(&m.opts, &m.loc, &mut cx),
            Ext::Tcpmss => {
                let at = loaded.iter().position(|x| std::ptr::eq(x, m)).unwrap_or(0);
                let frags = fragments(&loaded[..at]);
                crate::tcpmss::translate(&m.opts, &m.loc, frags, &mut cx)
            }
            Ext::Dscp => crate::dscp::translate(&m.opts, &m.loc, &mut cx),
            Ext::Ecn => {
                let frags = fragments(&loaded);
                crate::ecn::translate(&m.opts, &m.loc, frags, &mut cx)
            }
            Ext::Tos => crate::tos::translate(&m.opts, &m.loc, &mut cx),
            Ext::Time => crate::time::translate(&m.opts, &mut cx),
            Ext::U32 => crate::u32::translate(&m.opts, &m.loc, &mut cx),
        };
        if stmts.is_empty() {
            stmts = s;
        } else {
            stmts.append(&mut s);
        }
        if let Some(mut e) = cx.either.take() {
            e.at += base;
            if let Some(first) = &either {
                cx.error(
                    "translate/unsupported-option",
                    &e.loc,
                    format!("{} after {} in one rule", e.what, first.what),
                    "each makes fwnet write the rule as two nft rules, and it splits a rule once; move one of them to a user chain the rule jumps to",
                );
            }
            either = Some(e);
        }
    }
    // An alternative the rule's own `ct state` test contradicts matches no packet: without it
    // the rule is not split at all (`--ctstate NEW -m connlimit` needs no rule for packets
    // without a conntrack entry).
    if let Some(e) = either.take() {
        let Either {
            alternatives: [first, second],
            at,
            ..
        } = &e;
        let at = (*at).min(stmts.len());
        match (contradicted(first, &stmts), contradicted(second, &stmts)) {
            (true, false) => drop(stmts.splice(at..at, second.iter().cloned())),
            (false, true) => drop(stmts.splice(at..at, first.iter().cloned())),
            _ => {
                check_either(&e, &loaded, &mut cx);
                either = Some(e);
            }
        }
    }
    crate::statistic::check_order(&stmts, &r.loc, &mut cx);
    let counters = r.counters.unwrap_or_default();
    stmts.push(Stmt::Counter(nft::Counters {
        packets: counters.packets,
        bytes: counters.bytes,
    }));
    if let Some(t) = &target {
        if let TargetKind::Set = t.kind {
            let (ipsets, sets) = (tcx.ipsets, &mut tcx.sets);
            stmts.extend(crate::set::target(&t.opts, &t.loc, &mut cx, ipsets, sets));
        } else if let TargetKind::Tcpmss = t.kind {
            let syn = loaded
                .iter()
                .any(|m| m.ext == Ext::Tcp && crate::tcpmss::tests_syn(&m.opts));
            stmts.extend(crate::tcpmss::target(&t.opts, &t.loc, syn, &mut cx));
        } else if let TargetKind::Tproxy = t.kind {
            let stateful = loaded
                .iter()
                .find(|m| {
                    matches!(
                        m.ext,
                        Ext::Limit | Ext::Hashlimit | Ext::Recent | Ext::Connlimit | Ext::Statistic
                    )
                })
                .map(|m| (ext_name(m.ext), &m.loc));
            stmts.extend(crate::tproxy::target(&t.opts, &t.loc, stateful, &mut cx));
            tcx.tproxy_locs.push(t.loc.clone());
        } else {
            target_stmts(t, &mut cx, &mut stmts);
        }
        if matches!(t.kind, TargetKind::Nat(_)) {
            tcx.nat_locs.push(t.loc.clone());
        }
        if matches!(t.kind, TargetKind::Synproxy) {
            tcx.synproxy_locs.push(t.loc.clone());
        }
    }
    let comment = comment::join(comments, &mut cx);
    let comment = match cx.approximate.take() {
        Some(what) => Some(approximate_comment(&what, comment.as_deref())),
        None => comment,
    };

    let ok = !cx.has_errors();
    let tproxy = matches!(target.as_ref().map(|t| &t.kind), Some(TargetKind::Tproxy));
    diags.append(&mut cx.diags);
    let rule = |stmts: Vec<Stmt>| nft::Rule {
        stmts,
        comment: comment.clone(),
        origin: Some(nft::Origin::new(&r.loc.file, r.loc.line)),
        merged: Vec::new(),
    };
    let rules = ok.then(|| {
        let mut heads = heads;
        if let (None, [_]) = (&either, heads.as_slice()) {
            // Nearly every rule: one head, and `stmts` the one tail, moved rather than copied:
            // onto the head when it has the room (`ip::combinations` leaves two places, enough
            // for a counter and a verdict), else into a vector of the exact size, which
            // `add_rule`'s `shrink_to_fit` then leaves alone.
            let mut head = heads.pop().unwrap_or_default();
            if head.capacity() - head.len() >= stmts.len() {
                head.append(&mut stmts);
                return vec![rule(head)];
            }
            let mut all = Vec::with_capacity(head.len() + stmts.len());
            all.extend(head);
            all.extend(stmts);
            return vec![rule(all)];
        }
        let tails: Vec<Vec<Stmt>> = match either {
            None => vec![stmts],
            Some(e) => e
                .alternatives
                .into_iter()
                .map(|alt| {
                    let at = e.at.min(stmts.len());
                    let mut tail = stmts[..at].to_vec();
                    tail.extend(alt);
                    tail.extend(stmts[at..].iter().cloned());
                    tail
                })
                .collect(),
        };
        heads
            .iter()
            .flat_map(|head| {
                tails
                    .iter()
                    .map(|tail| rule(head.iter().chain(tail).cloned().collect()))
            })
            .collect()
    });
    match rules {
        Some(rules) if tproxy => Some(
            rules
                .into_iter()
                .flat_map(|r| {
                    let second = crate::tproxy::second_rule(&r);
                    [r, second]
                })
                .collect(),
        ),
        other => other,
    }
}

/// Whether `alternative` tests `ct state` for states none of which the rule's `ct state` tests
/// in `stmts` allow (a connection has one state, so both tests cannot pass).
fn contradicted(alternative: &[Stmt], stmts: &[Stmt]) -> bool {
    let states = |list: &[Stmt]| -> Vec<u64> {
        list.iter()
            .filter_map(|s| match s {
                Stmt::Match(nft::Match::Flags {
                    left: nft::Expr::Ct(nft::CtKey::State),
                    bits,
                    op: nft::CmpOp::Eq,
                }) => Some(*bits),
                _ => None,
            })
            .collect()
    };
    let rule = states(stmts);
    states(alternative)
        .iter()
        .any(|a| rule.iter().any(|r| a & r == 0))
}

/// A rule split in two for an OR ([`Either`]) acts as the one iptables rule only when no
/// match keeps state: a `limit` would have two token buckets, and a packet could spend a
/// shared `hashlimit`/`recent` entry in both halves when that match comes before the split.
/// The `connlimit` that made the split is not such a match: each packet meets its count in
/// one half only ([`crate::connlimit`]).
fn check_either(e: &Either, loaded: &[Loaded], cx: &mut Cx) {
    let stateful = loaded.iter().find(|m| {
        let splitter = m.ext == Ext::Connlimit && m.loc == e.loc;
        !splitter
            && matches!(
                m.ext,
                Ext::Limit | Ext::Hashlimit | Ext::Recent | Ext::Connlimit
            )
    });
    if let Some(m) = stateful {
        cx.error(
            "translate/unsupported-option",
            &e.loc,
            format!("{} with `-m {}` in the same rule", e.what, ext_name(m.ext)),
            format!("{} becomes two nft rules, which would split or spend the `-m {}` state twice; nearest exact form: jump from this rule to a user chain holding the `-m {}` test and the target", e.what, ext_name(m.ext), ext_name(m.ext)),
        );
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Generic {
    Match,
    Jump,
    Goto,
    /// A test on the IP header, by canonical short name (`-s`, `-d`, `-p`, `-i`, `-o`, `-f`).
    Header(&'static str),
}

fn generic(name: &str) -> Option<Generic> {
    Some(match name {
        "-m" | "--match" => Generic::Match,
        "-j" | "--jump" => Generic::Jump,
        "-g" | "--goto" => Generic::Goto,
        "-s" | "--source" | "--src" => Generic::Header("-s"),
        "-d" | "--destination" | "--dst" => Generic::Header("-d"),
        "-p" | "--protocol" => Generic::Header("-p"),
        "-i" | "--in-interface" => Generic::Header("-i"),
        "-o" | "--out-interface" => Generic::Header("-o"),
        "-f" | "--fragment" => Generic::Header("-f"),
        _ => return None,
    })
}

fn load_match(opt: &Opt, cx: &mut Cx, loaded: &mut Vec<Loaded>) {
    if !cx.not_negated(opt) {
        return;
    }
    let name = match opt.args.as_slice() {
        [name, stray @ ..] if !stray.is_empty() && Ext::by_name(name, cx.family).is_some() => {
            stray_match_value(opt, name, stray, cx);
            name
        }
        _ => match cx.one_arg(opt) {
            Some(name) => name,
            None => return,
        },
    };
    let ext = match Ext::by_name(name, cx.family) {
        Some(ext) => ext,
        None => {
            let help = unsupported_match_help(name, cx.family);
            cx.error(
                "translate/unsupported-match",
                &opt.loc,
                format!("match `-m {name}` is not supported"),
                help,
            );
            Ext::Unsupported
        }
    };
    for m in loaded.iter_mut().filter(|m| m.ext == ext) {
        m.completed = true;
    }
    loaded.push(Loaded {
        ext,
        loc: opt.loc.clone(),
        // Room for the options of nearly every match, allocated at once.
        opts: Vec::with_capacity(4),
        completed: false,
    });
}

/// `-m state NEW,ESTABLISHED`: a value written without its option, which iptables refuses as a
/// bad argument. Says which option it needs rather than only counting arguments.
fn stray_match_value(opt: &Opt, name: &str, stray: &[Word], cx: &mut Cx) {
    let value = stray.iter().map(Word::as_str).collect::<Vec<_>>().join(" ");
    let help = match Ext::by_name(name, cx.family).map_or(&[][..], Ext::options) {
        [only] => {
            let quoted = if value.contains(' ') {
                format!("\"{value}\"")
            } else {
                value.clone()
            };
            format!(
                "write its option before it: `-m {name} {} {quoted}`",
                only[0]
            )
        }
        groups => {
            let names: Vec<&str> = groups.iter().map(|g| g[0]).collect();
            format!(
                "write one of the options of `-m {name}` before it: `{}`",
                names.join("`, `")
            )
        }
    };
    cx.error(
        "translate/bad-value",
        &opt.loc,
        format!("`-m {name}` is followed by `{value}`, which is not the value of any option"),
        help,
    );
}

/// Gives a non-generic option to the target, a loaded match, or an implicitly loaded
/// protocol match, as iptables does.
fn assign<'o>(
    opt: &'o Opt,
    cx: &mut Cx,
    loaded: &mut Vec<Loaded<'o>>,
    target: Option<&mut Target<'o>>,
) {
    if let Some(t) = target {
        if t.knows(&opt.name) {
            t.opts.push(opt);
            return;
        }
        if let Some(m) = loaded
            .iter_mut()
            .find(|m| !m.completed && m.ext.knows(&opt.name))
        {
            m.opts.push(opt);
            return;
        }
        if matches!(t.kind, TargetKind::Unsupported) {
            return;
        }
    } else if let Some(m) = loaded
        .iter_mut()
        .find(|m| !m.completed && m.ext.knows(&opt.name))
    {
        m.opts.push(opt);
        return;
    }
    if let Some((p, false)) = cx.protocol {
        if let Some(ext) = Ext::for_protocol(p, cx.family) {
            let already = loaded.iter().any(|m| m.ext == ext);
            if !already && ext.knows(&opt.name) {
                loaded.push(Loaded {
                    ext,
                    loc: opt.loc.clone(),
                    opts: vec![opt],
                    completed: false,
                });
                return;
            }
        }
    }
    if loaded.iter().any(|m| m.ext == Ext::Unsupported) {
        return;
    }
    let owner = [
        Ext::Tcp,
        Ext::Udp,
        Ext::Icmp,
        Ext::Icmp6,
        Ext::State,
        Ext::Conntrack,
        Ext::Multiport,
        Ext::Limit,
        Ext::Hashlimit,
        Ext::Addrtype,
        Ext::Owner,
        Ext::Mark,
        Ext::Connmark,
        Ext::Comment,
        Ext::Pkttype,
        Ext::Ttl,
        Ext::Hl,
        Ext::Length,
        Ext::Iprange,
        Ext::Recent,
        Ext::Set,
        Ext::Statistic,
        Ext::Policy,
        Ext::Rpfilter,
        Ext::Connlimit,
        Ext::Mac,
        Ext::Tcpmss,
        Ext::Dscp,
        Ext::Ecn,
        Ext::Tos,
        Ext::U32,
    ]
    .into_iter()
    .find(|e| e.knows(&opt.name));
    let help = match owner {
        Some(e @ (Ext::Tcp | Ext::Udp)) => format!(
            "`{}` belongs to the {} match: add `-p {}` before it",
            opt.name,
            ext_name(e),
            ext_name(e)
        ),
        Some(Ext::Icmp) => format!(
            "`{}` belongs to the icmp match: add `-p icmp` before it",
            opt.name
        ),
        Some(Ext::Icmp6) => format!(
            "`{}` belongs to the icmp6 match: add `-p icmpv6` before it",
            opt.name
        ),
        Some(e) => format!(
            "`{}` belongs to `-m {}`: add it before the option",
            opt.name,
            ext_name(e)
        ),
        None if reject::OPTIONS.contains(&opt.name.as_str()) => {
            format!("`{}` belongs to `-j REJECT`", opt.name)
        }
        None if log::OPTIONS.contains(&opt.name.as_str()) => {
            format!("`{}` belongs to `-j LOG`", opt.name)
        }
        None => "check the spelling; fwnet knows the options iptables-save writes".to_string(),
    };
    cx.error(
        "translate/unknown-option",
        &opt.loc,
        format!("unknown option `{}`", opt.name),
        help,
    );
}

fn ext_name(e: Ext) -> &'static str {
    match e {
        Ext::Tcp => "tcp",
        Ext::Udp => "udp",
        Ext::Icmp => "icmp",
        Ext::Icmp6 => "icmp6",
        Ext::State => "state",
        Ext::Conntrack => "conntrack",
        Ext::Multiport => "multiport",
        Ext::Limit => "limit",
        Ext::Hashlimit => "hashlimit",
        Ext::Addrtype => "addrtype",
        Ext::Owner => "owner",
        Ext::Mark => "mark",
        Ext::Connmark => "connmark",
        Ext::Comment => "comment",
        Ext::Pkttype => "pkttype",
        Ext::Ttl => "ttl",
        Ext::Hl => "hl",
        Ext::Length => "length",
        Ext::Iprange => "iprange",
        Ext::Recent => "recent",
        Ext::Set => "set",
        Ext::Rt => "rt",
        Ext::Hbh => "hbh",
        Ext::Dst => "dst",
        Ext::Frag => "frag",
        Ext::Statistic => "statistic",
        Ext::Policy => "policy",
        Ext::Rpfilter => "rpfilter",
        Ext::Connlimit => "connlimit",
        Ext::Unsupported => "?",
        Ext::Mac => "mac",
        Ext::Tcpmss => "tcpmss",
        Ext::Dscp => "dscp",
        Ext::Ecn => "ecn",
        Ext::Tos => "tos",
        Ext::Time => "time",
        Ext::U32 => "u32",
    }
}

/// An option given twice to one match is an error in iptables.
fn check_duplicates(m: &Loaded, cx: &mut Cx) {
    let groups = m.ext.options();
    for (i, opt) in m.opts.iter().enumerate() {
        let group = groups.iter().find(|g| g.contains(&opt.name.as_str()));
        let dup = m.opts[..i]
            .iter()
            .any(|o| group.is_some_and(|g| g.contains(&o.name.as_str())));
        if dup {
            cx.error(
                "translate/bad-value",
                &opt.loc,
                format!(
                    "`{}` given twice in one `{}` match",
                    opt.name,
                    ext_name(m.ext)
                ),
                "iptables refuses this; keep one",
            );
        }
    }
}

fn target_of<'o>(opt: &'o Opt, goto: bool, tcx: &TableCx, cx: &mut Cx) -> Option<Target<'o>> {
    if !cx.not_negated(opt) {
        return None;
    }
    let name = cx.one_arg(opt)?;
    let kind = if tcx.has_chain(name) && tcx.builtin(name).is_none() {
        if goto {
            TargetKind::Goto(name.to_string())
        } else {
            TargetKind::Jump(name.to_string())
        }
    } else if tcx.builtin(name).is_some() {
        cx.error(
            "translate/bad-value",
            &opt.loc,
            format!("cannot jump to built-in chain `{name}`"),
            "move the rules into a user chain and jump to that",
        );
        return None;
    } else if goto {
        undeclared(opt, name, cx);
        return None;
    } else {
        match name {
            "ACCEPT" => TargetKind::Accept,
            "DROP" if tcx.table == "nat" => {
                crate::nat::drop_in_nat(&opt.loc, cx);
                TargetKind::Unsupported
            }
            "DROP" => TargetKind::Drop,
            "RETURN" => TargetKind::Return,
            _ if crate::nat::Target::by_name(name).is_some() => {
                TargetKind::Nat(crate::nat::Target::by_name(name)?)
            }
            "LOG" => TargetKind::Log,
            "REJECT" => TargetKind::Reject,
            "MARK" => TargetKind::Mark,
            "CONNMARK" => TargetKind::Connmark,
            "NFLOG" => TargetKind::Nflog,
            "CHECKSUM" => TargetKind::Checksum,
            "SET" => TargetKind::Set,
            "NOTRACK" => TargetKind::Notrack,
            "CT" => TargetKind::Ct,
            "CLASSIFY" => TargetKind::Classify,
            "TTL" if tcx.family == IpFamily::V4 => TargetKind::Ttl(false),
            "HL" if tcx.family == IpFamily::V6 => TargetKind::Ttl(true),
            "TCPMSS" => TargetKind::Tcpmss,
            "DSCP" => TargetKind::Dscp,
            "TOS" => TargetKind::Tos,
            "SYNPROXY" => TargetKind::Synproxy,
            "TPROXY" => TargetKind::Tproxy,
            _ if KNOWN_TARGETS.contains(&name) => {
                cx.error(
                    "translate/unsupported-target",
                    &opt.loc,
                    format!("target `-j {name}` is not supported"),
                    unsupported_target_help(name),
                );
                TargetKind::Unsupported
            }
            _ => {
                undeclared(opt, name, cx);
                TargetKind::Unsupported
            }
        }
    };
    Some(Target {
        kind,
        loc: opt.loc.clone(),
        opts: Vec::new(),
    })
}

/// `fwnet approximate: WHAT`, then the rule's own comment, cut to nft's 128 bytes.
fn approximate_comment(what: &str, comment: Option<&str>) -> String {
    let mut text = format!("fwnet approximate: {what}");
    if let Some(c) = comment {
        text.push_str("; ");
        text.push_str(c);
    }
    while text.len() > 128 {
        text.pop();
    }
    text
}

fn undeclared(opt: &Opt, name: &str, cx: &mut Cx) {
    cx.error(
        "translate/undeclared-chain",
        &opt.loc,
        format!(
            "`{} {name}`: no chain `{name}` in table {} at this point",
            opt.name, cx.table
        ),
        format!("declare it with `:{name} - [0:0]` at the top of the table"),
    );
}

/// Appends the target's statements to `stmts`.
fn target_stmts(t: &Target, cx: &mut Cx, stmts: &mut Vec<Stmt>) {
    // A verdict, as nearly every rule ends, is pushed without a vector of its own.
    let extension = match &t.kind {
        TargetKind::Accept => return stmts.push(Stmt::Verdict(Verdict::Accept)),
        TargetKind::Drop => return stmts.push(Stmt::Verdict(Verdict::Drop)),
        TargetKind::Return => return stmts.push(Stmt::Verdict(Verdict::Return)),
        TargetKind::Jump(c) => return stmts.push(Stmt::Verdict(Verdict::Jump(c.clone()))),
        TargetKind::Goto(c) => return stmts.push(Stmt::Verdict(Verdict::Goto(c.clone()))),
        TargetKind::Log => log::translate(&t.opts, cx),
        TargetKind::Reject => reject::translate(&t.opts, &t.loc, cx),
        TargetKind::Nat(n) => crate::nat::translate(*n, &t.opts, &t.loc, cx),
        TargetKind::Mark => mark::target(&t.opts, &t.loc, cx),
        TargetKind::Connmark => connmark::target(&t.opts, &t.loc, cx),
        TargetKind::Nflog => crate::nflog::translate(&t.opts, cx),
        TargetKind::Checksum => crate::checksum::translate(&t.opts, &t.loc, cx),
        TargetKind::Notrack => crate::notrack::translate(&t.opts, &t.loc, cx),
        TargetKind::Ct => crate::ct::translate(&t.opts, &t.loc, cx),
        TargetKind::Set | TargetKind::Unsupported => Vec::new(),
        TargetKind::Classify => crate::classify::translate(&t.opts, &t.loc, cx),
        TargetKind::Ttl(hl) => ttl::target(&t.opts, &t.loc, *hl, cx),
        // Needs the rule's matches: done by `translate`.
        TargetKind::Tcpmss => Vec::new(),
        TargetKind::Dscp => crate::dscp::target(&t.opts, &t.loc, cx),
        TargetKind::Tos => crate::tos::target(&t.opts, &t.loc, cx),
        TargetKind::Synproxy => crate::synproxy::target(&t.opts, &t.loc, cx),
        // Needs the rule's matches: done by `translate`.
        TargetKind::Tproxy => Vec::new(),
    };
    stmts.extend(extension);
}
