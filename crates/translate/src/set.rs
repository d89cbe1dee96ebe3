//! `-m set --match-set NAME src|dst[,...]`: an ipset lookup, as a named nft set built from the
//! set's `ipset save` definition (`ip saddr @NAME`, `!=` when negated).
//!
//! Exactness: xt_set tests the packet's address against the set's members. `hash:ip` holds
//! single addresses; `hash:net` holds prefixes, and a lookup finds the address in any of them,
//! which is what an nft interval set of the same prefixes answers. A prefix nested in another
//! adds nothing to membership, so it is left out (nft refuses overlapping intervals). A set
//! with a default `timeout` keeps it; elements with another remaining lifetime are refused, as
//! nft would give them the default.
//!
//! Not translated, refused with a reason: other set types (`hash:ip,port` and the other
//! concatenations, `bitmap:*`, `hash:mac`, `list:set`), `nomatch` elements, `netmask`,
//! address ranges in elements, `--return-nomatch`, the counter options.
//!
//! `-j SET --add-set|--del-set NAME FLAGS` becomes `add @NAME { key }` / `delete @NAME { key }`
//! (`update` for `--exist` on a set with a timeout); `--timeout` other than the set's, both
//! operations in one rule, sets with prefixes and the `--map-*` options are refused. A
//! `hash:net` set of single addresses (or none) that a rule adds to is a plain set: the kernel
//! adds the packet's address with the longest prefix the set holds, the full length when it
//! holds no prefix, so it only ever holds addresses. The set is
//! copied into each nft table that uses it: exact while rules only read it, so a set that a
//! rule changes must be used in one table only ([`finish`]).

use crate::rule::Cx;
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::ipset::{IpsetFile, SetDef};
use fwnet_iptables::{Diagnostic, Opt};
use fwnet_nft::{CmpOp, DataType, Expr, Field, Masks, Match, Set, SetFlags, Stmt, Value};
use std::net::IpAddr;

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--match-set", "--set"],
    &["--return-nomatch"],
    &["--update-counters"],
    &["--update-subcounters"],
    &["--packets-eq"],
    &["--packets-lt"],
    &["--packets-gt"],
    &["--bytes-eq"],
    &["--bytes-lt"],
    &["--bytes-gt"],
];

pub(crate) fn translate(
    opts: &[&Opt],
    loc: &Loc,
    cx: &mut Cx,
    ipsets: &[IpsetFile],
    sets: &mut Vec<Set>,
) -> Vec<Stmt> {
    let mut stmts = Vec::new();
    let mut seen = false;
    for opt in opts {
        if opt.name == "--match-set" || opt.name == "--set" {
            seen = true;
            stmts.extend(lookup(opt, cx, ipsets, sets));
        } else {
            cx.error(
                "translate/unsupported-option",
                &opt.loc,
                format!("`-m set {}` is not supported", opt.name),
                "nft set lookups have no per-element counters or nomatch return; drop the option or keep this rule in iptables",
            );
        }
    }
    if !seen {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m set` needs `--match-set NAME src|dst`",
            "iptables refuses the match without one",
        );
    }
    stmts
}

fn lookup(opt: &Opt, cx: &mut Cx, ipsets: &[IpsetFile], sets: &mut Vec<Set>) -> Option<Stmt> {
    let (name, key) = resolve(opt, cx, ipsets, sets, false)?;
    Some(Stmt::Match(Match::Lookup {
        key: Box::new([key]),
        set: name.into(),
        op: if opt.negated.is_negated() {
            CmpOp::Ne
        } else {
            CmpOp::Eq
        },
    }))
}

/// `-j SET` options; the `--map-*` ones are refused.
pub(crate) const TARGET_OPTIONS: &[&str] = &[
    "--add-set",
    "--del-set",
    "--exist",
    "--timeout",
    "--map-set",
    "--map-mark",
    "--map-prio",
    "--map-queue",
];

/// `-j SET --add-set NAME FLAGS [--exist] [--timeout N]` as `add @NAME { key }` (`update` with
/// `--exist` on a set with a timeout, which restarts the element's timeout as ipset does), or
/// `--del-set NAME FLAGS` as `delete @NAME { key }`. The set becomes `dynamic`.
pub(crate) fn target(
    opts: &[&Opt],
    loc: &Loc,
    cx: &mut Cx,
    ipsets: &[IpsetFile],
    sets: &mut Vec<Set>,
) -> Vec<Stmt> {
    let mut exist = false;
    let mut timeout = None;
    let mut ops = Vec::new();
    for opt in opts {
        match opt.name.as_str() {
            "--add-set" | "--del-set" => ops.push(*opt),
            "--exist" => exist = cx.no_arg(opt),
            "--timeout" => {
                if let Some(arg) = cx.one_arg(opt) {
                    match arg.parse::<u32>() {
                        Ok(t) => timeout = Some((*opt, t)),
                        Err(_) => cx.bad_value(opt, arg, "expected seconds"),
                    }
                }
            }
            other => cx.error(
                "translate/unsupported-option",
                &opt.loc,
                format!("`-j SET {other}` is not supported"),
                "nft has no statement that sets packet fields from set elements",
            ),
        }
    }
    match ops.as_slice() {
        [] => {
            cx.error(
                "translate/bad-value",
                loc,
                "`-j SET` needs `--add-set` or `--del-set`",
                "iptables refuses the target without one",
            );
            Vec::new()
        }
        [_, second, ..] => {
            cx.error(
                "translate/unsupported-target",
                &second.loc,
                "`-j SET` with both `--add-set` and `--del-set` is not translated",
                "nft stops the rule when the add fails on a full set while ipset still deletes; split it into two rules",
            );
            Vec::new()
        }
        [opt] => {
            let Some((name, key)) = resolve(opt, cx, ipsets, sets, true) else {
                return Vec::new();
            };
            let set_timeout = sets
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| s.timeout_ms);
            if opt.name == "--del-set" {
                return vec![Stmt::SetDelete {
                    set: name.into(),
                    key: Box::new([key]),
                }];
            }
            if let Some((t_opt, t)) = timeout {
                if set_timeout != Some(u64::from(t) * 1000) {
                    cx.error(
                        "translate/unsupported-option",
                        &t_opt.loc,
                        format!("`--timeout {t}` differs from the timeout of ipset `{name}`"),
                        "nft adds elements with the set's timeout here; drop `--timeout` or make it the set's",
                    );
                    return Vec::new();
                }
            }
            if exist && set_timeout.is_some() {
                vec![Stmt::SetUpdate {
                    set: name.into(),
                    key: Box::new([key]),
                    limit: None,
                    masks: Masks::default(),
                }]
            } else {
                vec![Stmt::SetAdd {
                    set: name.into(),
                    key: Box::new([key]),
                }]
            }
        }
    }
}

/// Finds the ipset `NAME` of `--match-set NAME FLAGS` (or `--add-set`, `--del-set`), puts its
/// nft set in the table (`dynamic` when a rule changes it) and gives the key to test or store.
fn resolve(
    opt: &Opt,
    cx: &mut Cx,
    ipsets: &[IpsetFile],
    sets: &mut Vec<Set>,
    dynamic: bool,
) -> Option<(String, Expr)> {
    let [name, dirs] = opt.args.as_slice() else {
        cx.error(
            "translate/bad-value",
            &opt.loc,
            format!("`{}` takes a set name and src|dst flags", opt.name),
            format!("write `{} NAME src` or `{} NAME dst`", opt.name, opt.name),
        );
        return None;
    };
    let Some(def) = ipsets.iter().find_map(|f| f.set(name)) else {
        cx.error(
            "translate/unknown-set",
            &opt.loc,
            format!("ipset `{name}` is not defined"),
            "pass the `ipset save` output with the rules: `fwnet import RULES IPSET.save`",
        );
        return None;
    };
    let v6 = cx.family == IpFamily::V6;
    let flags: Vec<&str> = dirs.split(',').collect();
    let valid = flags.len() <= 6 && flags.iter().all(|f| *f == "src" || *f == "dst");
    let source = match flags[0] {
        "src" if valid => true,
        "dst" if valid => false,
        _ => {
            cx.bad_value(
                opt,
                dirs,
                "expected src or dst flags, such as `src` or `dst,src`",
            );
            return None;
        }
    };
    let Some(mut set) = build(def, v6, &mut cx.diags) else {
        cx.error(
            "translate/unsupported-set",
            &opt.loc,
            format!(
                "ipset `{name}` cannot be translated (see {}:{})",
                def.loc.file, def.loc.line
            ),
            "the error at the set definition says why",
        );
        return None;
    };
    if !valid_name(name) {
        cx.error(
            "translate/unsupported-set",
            &def.loc,
            format!("ipset name `{name}` cannot be an nft set name"),
            "rename the set to start with a letter and use only letters, digits and `_-./`",
        );
        return None;
    }
    if dynamic && set.flags.interval && hosts_only(&set) {
        // A hash:net set holding single addresses (or nothing) grows by single addresses
        // from the packet path: the kernel adds with the longest prefix the set holds, the
        // full length when it holds none (ip_set_hash_net.c, `hash_net4_kadt`). So it stays a
        // set of addresses, which a plain set holds, and nft can change from a rule.
        set.flags.interval = false;
    }
    if dynamic && set.flags.interval {
        cx.error(
            "translate/unsupported-target",
            &opt.loc,
            format!("`{}` on ipset `{name}`, a {} set holding prefixes", opt.name, def.kind),
            "the kernel adds prefixes to such a set from the packet path, and nft cannot change an interval set from a rule; keep the prefixes in a set of their own and add to a hash:ip set",
        );
        return None;
    }
    set.flags.dynamic = dynamic;
    // The same set, as another rule of the table uses it: a hash:net set of addresses is a
    // plain set once any rule adds to it.
    let same = |s: &Set| {
        let mut s = s.clone();
        s.flags.dynamic = set.flags.dynamic;
        if hosts_only(&s) {
            s.flags.interval = set.flags.interval;
        }
        s == set
    };
    match sets.iter_mut().find(|s| *s.name == **name) {
        Some(s) if same(s) => {
            s.flags.dynamic |= dynamic;
            s.flags.interval &= set.flags.interval;
        }
        Some(_) => {
            cx.error(
                "translate/unsupported-set",
                &opt.loc,
                format!("ipset `{name}` clashes with another set of that name in this table"),
                "rename the ipset",
            );
            return None;
        }
        None => sets.push(set),
    }
    let field = match (v6, source) {
        (false, true) => Field::IpSaddr,
        (false, false) => Field::IpDaddr,
        (true, true) => Field::Ip6Saddr,
        (true, false) => Field::Ip6Daddr,
    };
    Some((name.to_string(), Expr::Payload(field)))
}

/// A set that rules change must live in one table: each nft table has its own copy, while the
/// kernel's ipset is one. Errors at each rule that changes such a set.
///
/// A set definition that cannot be translated is reported once, not at every rule that uses
/// it.
pub(crate) fn finish(ipsets: &[IpsetFile], out: &mut crate::Translation) {
    let files: Vec<&str> = ipsets
        .iter()
        .flat_map(|f| &f.sets)
        .map(|s| &*s.loc.file)
        .collect();
    let mut seen: Vec<Diagnostic> = Vec::new();
    out.diagnostics.retain(|d| {
        if !files.contains(&d.file.as_str()) {
            return true;
        }
        let first = !seen.contains(d);
        if first {
            seen.push(d.clone());
        }
        first
    });
    for def in ipsets.iter().flat_map(|f| &f.sets) {
        let copies: Vec<&fwnet_nft::Table> = out
            .ruleset
            .tables
            .iter()
            .filter(|t| t.sets.iter().any(|s| s.name == def.name))
            .collect();
        let changed = copies
            .iter()
            .flat_map(|t| t.sets.iter())
            .any(|s| s.name == def.name && s.flags.dynamic);
        if copies.len() < 2 || !changed {
            continue;
        }
        let tables: Vec<&str> = copies.iter().map(|t| t.name.as_str()).collect();
        let mut locs = Vec::new();
        for t in &copies {
            for r in t.chains.iter().flat_map(|c| &c.rules) {
                let writes = r.stmts.iter().any(|s| match s {
                    Stmt::SetAdd { set, .. } | Stmt::SetDelete { set, .. } => **set == *def.name,
                    Stmt::SetUpdate { set, .. } => **set == *def.name,
                    _ => false,
                });
                if let (true, Some(o)) = (writes, &r.origin) {
                    locs.push(Loc {
                        file: fwnet_iptables::FileName::new(&o.file),
                        line: o.line,
                        column: 1,
                    });
                }
            }
        }
        for loc in locs {
            out.diagnostics.push(
                Diagnostic::error(
                    "translate/unsupported-target",
                    &loc,
                    format!(
                        "`-j SET` changes ipset `{}`, which tables {} share; nft sets belong to one table",
                        def.name,
                        tables.join(", ")
                    ),
                )
                .with_help("use the set in one iptables table only"),
            );
        }
    }
}

/// nft's identifier syntax after `@`: a letter, `_` or `.`, then letters, digits, `/\-_.`.
fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c))
}

fn refuse(diags: &mut Vec<Diagnostic>, loc: &Loc, msg: String, help: &str) -> Option<Set> {
    diags.push(Diagnostic::error("translate/unsupported-set", loc, msg).with_help(help));
    None
}

/// The nft set for an ipset definition, or errors at the definition.
fn build(def: &SetDef, v6: bool, diags: &mut Vec<Diagnostic>) -> Option<Set> {
    let net = match def.kind.as_str() {
        "hash:ip" => false,
        "hash:net" => true,
        other => {
            let why = match other {
                "list:set" => "a set of sets has no nft equivalent",
                "hash:mac" | "bitmap:ip,mac" => "MAC address sets are not translated yet",
                _ if other.starts_with("bitmap:") => "bitmap sets are not translated yet",
                _ if other.contains(',') => "multi-dimension sets are not translated yet",
                _ => "unknown set type",
            };
            return refuse(
                diags,
                &def.kind_loc,
                format!("ipset `{}` has type `{other}`: {why}", def.name),
                "only hash:ip and hash:net sets are translated; keep this rule in iptables",
            );
        }
    };
    let family = def.opt("family").and_then(|o| o.value.as_deref());
    if family.unwrap_or("inet") != if v6 { "inet6" } else { "inet" } {
        let loc = def.opt("family").map_or(&def.loc, |o| &o.loc);
        return refuse(
            diags,
            loc,
            format!(
                "ipset `{}` is family {}, used in an {} table",
                def.name,
                family.unwrap_or("inet"),
                if v6 { "IPv6" } else { "IPv4" }
            ),
            "the kernel never matches a set of the other family; use a set of this family",
        );
    }
    let mut size = None;
    let mut timeout = None;
    for o in &def.opts {
        let num = || o.value.as_deref().and_then(|v| v.parse::<u32>().ok());
        match o.name.as_str() {
            "family" | "hashsize" | "counters" | "comment" => {}
            "maxelem" | "timeout" if num().is_none() => {
                return refuse(
                    diags,
                    &o.loc,
                    format!("ipset option `{}` needs a number", o.name),
                    "write it as `ipset save` prints it",
                )
            }
            "maxelem" => size = num(),
            "timeout" => timeout = num().filter(|t| *t > 0),
            other => {
                return refuse(
                    diags,
                    &o.loc,
                    format!("ipset option `{other}` is not supported"),
                    "remove the option from the set definition",
                )
            }
        }
    }
    let mut elements = Vec::new();
    let mut ok = true;
    for e in &def.elements {
        for o in &e.opts {
            let same_timeout = o.name == "timeout"
                && o.value.as_deref().and_then(|v| v.parse::<u32>().ok()) == timeout;
            if !(same_timeout || o.name == "comment" || o.name == "packets" || o.name == "bytes") {
                ok = false;
                let why = match o.name.as_str() {
                    "nomatch" => {
                        "nomatch elements (exceptions inside a net) have no nft equivalent"
                    }
                    "timeout" => "nft gives every element the set's default timeout",
                    _ => "nft set elements have no such option",
                };
                diags.push(
                    Diagnostic::error(
                        "translate/unsupported-set",
                        &o.loc,
                        format!("ipset element option `{}`: {why}", o.name),
                    )
                    .with_help("remove the option from the `add` line"),
                );
            }
        }
        match element(&e.value, net, v6) {
            Some(v) => elements.push(v),
            None => {
                ok = false;
                diags.push(
                    Diagnostic::error(
                        "translate/bad-value",
                        &e.loc,
                        format!(
                            "`{}` is not an {} {} for {}",
                            e.value,
                            if v6 { "IPv6" } else { "IPv4" },
                            if net { "address or prefix" } else { "address" },
                            def.kind
                        ),
                    )
                    .with_help("write elements as `ipset save` prints them"),
                );
            }
        }
    }
    if !ok {
        return None;
    }
    if net {
        elements = outermost(elements);
        let top = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        if let Some(e) = def
            .elements
            .iter()
            .find(|e| element(&e.value, net, v6).is_some_and(|v| span(&v).1 == top))
        {
            // nft marks such an interval open-ended in element user data, which fwnet's
            // lowering does not write yet.
            return refuse(
                diags,
                &e.loc,
                format!(
                    "`{}` reaches the last address; such elements are not translated yet",
                    e.value
                ),
                "leave the last address out of the set, or keep this rule in iptables",
            );
        }
    }
    Some(Set {
        name: def.name.clone(),
        key: vec![if v6 {
            DataType::Ipv6Addr
        } else {
            DataType::Ipv4Addr
        }],
        flags: SetFlags {
            interval: net,
            timeout: timeout.is_some(),
            ..SetFlags::default()
        },
        timeout_ms: timeout.map(|t| u64::from(t) * 1000),
        size,
        elements,
        typeof_key: Vec::new(),
    })
}

/// Whether every element of `set` is a single address (none is a prefix).
fn hosts_only(set: &Set) -> bool {
    set.elements.iter().all(|v| matches!(v, Value::Addr(_)))
}

/// An address, or for `hash:net` a prefix with its host bits cleared (a full-length prefix is
/// the address).
fn element(text: &str, net: bool, v6: bool) -> Option<Value> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) if net => (a, Some(l.parse::<u8>().ok()?)),
        Some(_) => return None,
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    if addr.is_ipv6() != v6 {
        return None;
    }
    let bits = if v6 { 128 } else { 32 };
    match len {
        None => Some(Value::Addr(addr)),
        Some(l) if l == 0 || l > bits => None,
        Some(l) if l == bits => Some(Value::Addr(addr)),
        Some(l) => Some(Value::Prefix {
            addr: mask(addr, l),
            len: l,
        }),
    }
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX << (32 - u32::from(len));
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX << (128 - u32::from(len));
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

/// The span of an address or prefix as numbers.
fn span(v: &Value) -> (u128, u128) {
    let (addr, len) = match v {
        Value::Addr(a) => (*a, None),
        Value::Prefix { addr, len } => (*addr, Some(*len)),
        _ => return (0, 0),
    };
    let (n, bits) = match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    };
    let host = bits - u32::from(len.unwrap_or(bits as u8));
    let last = if host >= 128 {
        u128::MAX
    } else {
        n | ((1u128 << host) - 1)
    };
    (n, last)
}

/// Sorted, without duplicates and without prefixes nested in another element.
fn outermost(mut elems: Vec<Value>) -> Vec<Value> {
    elems.sort_by_key(|v| {
        let (a, b) = span(v);
        (a, std::cmp::Reverse(b))
    });
    let mut out: Vec<Value> = Vec::new();
    for v in elems {
        let (a, b) = span(&v);
        if out.last().is_some_and(|l| {
            let (la, lb) = span(l);
            la <= a && b <= lb
        }) {
            continue;
        }
        out.push(v);
    }
    out
}
