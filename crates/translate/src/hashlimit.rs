//! `-m hashlimit`: a token bucket per key (source address, destination port ...), as one named
//! dynamic nft set with `update @set { key limit rate ... }`.
//!
//! xt_hashlimit looks its table up by `--hashlimit-name`: every rule naming the same table
//! shares its buckets and the table keeps the parameters of the rule that created it (the
//! first one); only `upto`/`above` stays per rule. So every rule with one name updates one
//! set, built from the first rule's rate, burst, mode, expiry and size, and a later rule whose
//! own parameters differ gets a warning saying they are ignored. The set's timeout is
//! `--hashlimit-htable-expire` (default 10000 ms, also at the default per-second unit) and its
//! size is `--hashlimit-htable-max` (default 65535).
//!
//! Without `--hashlimit-mode` there is one bucket: a plain `limit` is exact when one rule uses
//! the name and the bucket refills completely before its entry expires (otherwise the kernel
//! restarts it full after expiry, which `limit` does not); other cases are refused for now.
//! `--hashlimit-srcmask` / `--hashlimit-dstmask` key an address by its prefix (`ip saddr &
//! 255.255.255.0` in the key), as xt_hashlimit masks it before hashing. Refused too: byte
//! rates, port modes without `-p tcp` or `-p udp`, one name in two tables, revision 3 options. Not reproduced: the kernel
//! removes expired entries only when its garbage collector runs (every
//! `--hashlimit-htable-gcinterval`, default 1 s), nft when the entry is next looked up.

use crate::chain::TableCx;
use crate::limit::{parse_burst, parse_rate};
use crate::rule::Cx;
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::{Diagnostic, Opt};
use fwnet_nft::{DataType, Expr, Field, Limit, Set, SetFlags, Stmt, TimeUnit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--hashlimit-upto", "--hashlimit"],
    &["--hashlimit-above"],
    &["--hashlimit-burst"],
    &["--hashlimit-mode"],
    &["--hashlimit-name"],
    &["--hashlimit-htable-size"],
    &["--hashlimit-htable-max"],
    &["--hashlimit-htable-expire"],
    &["--hashlimit-htable-gcinterval"],
    &["--hashlimit-srcmask"],
    &["--hashlimit-dstmask"],
    &["--hashlimit-rate-match"],
    &["--hashlimit-rate-interval"],
];

const DEFAULT_EXPIRE_MS: u64 = 10_000;
const DEFAULT_MAX: u32 = 65_535;
const DEFAULT_BURST: u32 = 5;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Mode {
    src_ip: bool,
    dst_ip: bool,
    src_port: bool,
    dst_port: bool,
}

impl Mode {
    fn is_empty(self) -> bool {
        self == Mode::default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Params {
    rate: u64,
    unit: TimeUnit,
    burst: u32,
    mode: Mode,
    expire_ms: u64,
    max: u32,
    /// `--hashlimit-srcmask` / `--hashlimit-dstmask`: the prefix length an address is keyed by
    /// (the full length when not given).
    src_mask: u8,
    dst_mask: u8,
}

/// Every hashlimit table seen so far, by family and name.
#[derive(Default)]
pub(crate) struct Registry {
    entries: Vec<Entry>,
}

struct Entry {
    family: IpFamily,
    name: String,
    /// iptables table of the first rule.
    table: String,
    /// The nft set, when there is a mode.
    set: Option<String>,
    params: Params,
    first: Loc,
    uses: Vec<Loc>,
}

pub(crate) fn translate(
    opts: &[&Opt],
    loc: &Loc,
    cx: &mut Cx,
    tcx: &mut TableCx,
    registry: &mut Registry,
) -> Vec<Stmt> {
    let Some((name, params, over)) = read(opts, loc, cx) else {
        return Vec::new();
    };

    let existing = registry
        .entries
        .iter()
        .position(|e| e.family == cx.family && e.name == name);
    let index = match existing {
        Some(i) => {
            let e = &registry.entries[i];
            if e.table != cx.table {
                cx.error(
                    "translate/unsupported-match",
                    loc,
                    format!("hashlimit `{name}` is also used in table {} ({}); the kernel shares it across tables, nft sets cannot be", e.table, e.first),
                    "give the rules in each table their own --hashlimit-name",
                );
                return Vec::new();
            }
            if e.params != params {
                let first = e.first.clone();
                cx.warn(
                    "translate/hashlimit-shared",
                    loc,
                    format!("hashlimit `{name}` was created by the rule at {first}; its rate, burst, mode and table sizes apply here, this rule's differ and are ignored (as in the kernel)"),
                    "give this rule its own --hashlimit-name if it needs its own parameters",
                );
            }
            i
        }
        None => {
            let set = (!params.mode.is_empty()).then(|| set_name(&name, tcx));
            registry.entries.push(Entry {
                family: cx.family,
                name: name.clone(),
                table: cx.table.to_string(),
                set,
                params,
                first: loc.clone(),
                uses: Vec::new(),
            });
            registry.entries.len() - 1
        }
    };
    let entry = &mut registry.entries[index];
    entry.uses.push(loc.clone());
    let p = entry.params;
    let limit = Limit {
        rate: p.rate,
        unit: p.unit,
        burst: p.burst,
        over,
    };

    let Some(set) = entry.set.clone() else {
        let refill_ms = (u64::from(p.burst) * p.unit.seconds() * 1000).div_ceil(p.rate);
        if p.expire_ms < refill_ms {
            cx.error(
                "translate/unsupported-match",
                loc,
                format!("hashlimit `{name}` has no --hashlimit-mode and its entry expires ({} ms) before its bucket refills ({refill_ms} ms); the kernel then restarts it full, which a plain limit does not", p.expire_ms),
                format!("set --hashlimit-htable-expire to at least {refill_ms}, or use -m limit"),
            );
            return Vec::new();
        }
        return vec![Stmt::Limit(limit)];
    };

    let mut key = Vec::new();
    let mut types = Vec::new();
    let (saddr, daddr, addr_type) = match cx.family {
        IpFamily::V4 => (Field::IpSaddr, Field::IpDaddr, DataType::Ipv4Addr),
        IpFamily::V6 => (Field::Ip6Saddr, Field::Ip6Daddr, DataType::Ipv6Addr),
    };
    let mut masks = Vec::new();
    if p.mode.src_ip {
        key.push(Expr::Payload(saddr));
        types.push(addr_type);
        masks.push(prefix_mask(cx.family, p.src_mask));
    }
    if p.mode.dst_ip {
        key.push(Expr::Payload(daddr));
        types.push(addr_type);
        masks.push(prefix_mask(cx.family, p.dst_mask));
    }
    if p.mode.src_port || p.mode.dst_port {
        let Some(proto) = cx.require_protocol("a hashlimit mode with ports", loc, &[6, 17]) else {
            return Vec::new();
        };
        let (sport, dport) = if proto == 6 {
            (Field::TcpSport, Field::TcpDport)
        } else {
            (Field::UdpSport, Field::UdpDport)
        };
        for (on, field) in [(p.mode.src_port, sport), (p.mode.dst_port, dport)] {
            if on {
                key.push(Expr::Payload(field));
                types.push(DataType::InetService);
            }
        }
    }
    if !tcx.sets.iter().any(|s| s.name == set) {
        tcx.sets.push(Set {
            name: set.clone(),
            key: types,
            flags: SetFlags {
                dynamic: true,
                timeout: true,
                ..SetFlags::default()
            },
            timeout_ms: Some(p.expire_ms),
            size: Some(p.max),
            elements: Vec::new(),
            typeof_key: Vec::new(),
        });
    }
    // Only address parts can be masked; the ports after them never are.
    masks.resize(key.len(), None);
    if masks.iter().all(Option::is_none) {
        masks.clear();
    }
    vec![Stmt::SetUpdate {
        set: set.into(),
        key: key.into(),
        limit: Some(Box::new(limit)),
        masks: masks.into(),
    }]
}

/// The length of an address of `family`, in bits.
fn full_len(family: IpFamily) -> u8 {
    match family {
        IpFamily::V4 => 32,
        IpFamily::V6 => 128,
    }
}

/// The mask of a `len`-bit prefix, or `None` for a whole address (no mask is applied then).
fn prefix_mask(family: IpFamily, len: u8) -> Option<IpAddr> {
    match family {
        IpFamily::V4 if len < 32 => Some(IpAddr::V4(Ipv4Addr::from(
            u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0),
        ))),
        IpFamily::V6 if len < 128 => Some(IpAddr::V6(Ipv6Addr::from(
            u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0),
        ))),
        _ => None,
    }
}

/// Reads one rule's hashlimit options: the table name, its parameters and `above`.
fn read(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Option<(String, Params, bool)> {
    let mut name = None;
    let mut rate = None;
    let mut over = false;
    let mut p = Params {
        rate: 0,
        unit: TimeUnit::Second,
        burst: DEFAULT_BURST,
        mode: Mode::default(),
        expire_ms: DEFAULT_EXPIRE_MS,
        max: DEFAULT_MAX,
        src_mask: full_len(cx.family),
        dst_mask: full_len(cx.family),
    };
    let errors_before = cx.diags.iter().filter(|d| d.is_error()).count();
    for opt in opts {
        if matches!(
            opt.name.as_str(),
            "--hashlimit-rate-match" | "--hashlimit-rate-interval"
        ) {
            cx.unsupported_option(opt, "hashlimit revision 3 options are not translated yet");
            continue;
        }
        if !cx.not_negated(opt) {
            continue;
        }
        let Some(arg) = cx.one_arg(opt) else { continue };
        match opt.name.as_str() {
            "--hashlimit-upto" | "--hashlimit" | "--hashlimit-above" => {
                if rate.is_some() {
                    cx.bad_value(
                        opt,
                        arg,
                        "give one of --hashlimit-upto and --hashlimit-above",
                    );
                    continue;
                }
                over = opt.name == "--hashlimit-above";
                let number = arg.split('/').next().unwrap_or(arg);
                if number.to_ascii_lowercase().ends_with('b') {
                    cx.unsupported_value(opt, "a byte rate", "use a packet rate");
                    continue;
                }
                match parse_rate(arg) {
                    Ok(r) => rate = Some(r),
                    Err(help) => cx.bad_value(opt, arg, help),
                }
            }
            "--hashlimit-burst" => match parse_burst(arg) {
                Some(b) => p.burst = b,
                None => cx.bad_value(opt, arg, "the burst is a number from 1 to 10000"),
            },
            "--hashlimit-mode" => match parse_mode(arg) {
                Some(m) => p.mode = m,
                None => cx.bad_value(
                    opt,
                    arg,
                    "the mode is a comma-separated list of srcip, dstip, srcport, dstport",
                ),
            },
            "--hashlimit-name" => {
                if arg.is_empty() {
                    cx.bad_value(opt, arg, "the name cannot be empty");
                } else {
                    name = Some(arg.to_string());
                }
            }
            "--hashlimit-htable-expire" => match arg.parse::<u64>() {
                Ok(ms) if ms > 0 => p.expire_ms = ms,
                _ => cx.bad_value(opt, arg, "the expiry is a positive number of milliseconds"),
            },
            "--hashlimit-htable-max" => match arg.parse::<u32>() {
                Ok(n) if n > 0 => p.max = n,
                _ => cx.bad_value(opt, arg, "the table size is a positive number of entries"),
            },
            "--hashlimit-htable-size" | "--hashlimit-htable-gcinterval" => {
                // Hash buckets and garbage-collection period: no effect on which packets match.
                if arg.parse::<u32>().is_err() {
                    cx.bad_value(opt, arg, "expected a number");
                }
            }
            "--hashlimit-srcmask" | "--hashlimit-dstmask" => {
                let full = full_len(cx.family);
                match arg.parse::<u8>() {
                    Ok(len) if len <= full => {
                        if opt.name == "--hashlimit-srcmask" {
                            p.src_mask = len;
                        } else {
                            p.dst_mask = len;
                        }
                    }
                    _ => cx.bad_value(
                        opt,
                        arg,
                        format!("the mask is a prefix length from 0 to {full}"),
                    ),
                }
            }
            _ => cx.unsupported_option(opt, "this hashlimit option is not translated yet"),
        }
    }
    let errors_after = cx.diags.iter().filter(|d| d.is_error()).count();
    let missing = |cx: &mut Cx, what: &str| {
        cx.error(
            "translate/bad-value",
            loc,
            format!("hashlimit needs {what}"),
            "iptables refuses a hashlimit match without it",
        );
    };
    match (name, rate) {
        (Some(name), Some((r, unit))) if errors_after == errors_before => {
            p.rate = r;
            p.unit = unit;
            Some((name, p, over))
        }
        (name, rate) => {
            if name.is_none() {
                missing(cx, "--hashlimit-name");
            }
            if rate.is_none() && errors_after == errors_before {
                missing(cx, "--hashlimit-upto or --hashlimit-above");
            }
            None
        }
    }
}

fn parse_mode(s: &str) -> Option<Mode> {
    let mut m = Mode::default();
    for word in s.split(',') {
        match word {
            "srcip" => m.src_ip = true,
            "dstip" => m.dst_ip = true,
            "srcport" => m.src_port = true,
            "dstport" => m.dst_port = true,
            _ => return None,
        }
    }
    Some(m)
}

/// An nft set name for a hashlimit name: unusable characters become `_`, a name nft 1.0.6
/// would not read gets an `hl_` prefix, and a clash with another set gets a number.
fn set_name(name: &str, tcx: &TableCx) -> String {
    let clean = crate::chain::identifier(name);
    if fwnet_nft::print::needs_quoting(&clean) {
        tcx.unused_set_name(&format!("hl_{clean}"))
    } else {
        tcx.unused_set_name(&clean)
    }
}

/// After every table: a name without a mode shared by several rules is one bucket for all of
/// them, which per-rule `limit` statements cannot express.
pub(crate) fn finish(registry: &Registry, diags: &mut Vec<Diagnostic>) {
    for e in &registry.entries {
        if e.set.is_none() && e.uses.len() > 1 {
            for at in &e.uses {
                diags.push(
                    Diagnostic::error(
                        "translate/unsupported-match",
                        at,
                        format!("hashlimit `{}` without --hashlimit-mode is one bucket shared by {} rules; not translated yet", e.name, e.uses.len()),
                    )
                    .with_help("give each rule its own --hashlimit-name, or add --hashlimit-mode"),
                );
            }
        }
    }
}
