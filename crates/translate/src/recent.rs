//! `-m recent`: xt_recent's lists of recently seen addresses as named dynamic nft sets.
//!
//! What the legacy kernel does (net/netfilter/xt_recent.c): each `--name` (default `DEFAULT`)
//! is one list per network namespace, shared by every rule, table and family that names it.
//! An entry is an address (`--rsource`, the default, or `--rdest`) masked with the list's
//! `--mask` (the mask of the rule that created the list), with the TTL last seen and the times
//! of its last packets (`ip_pkt_list_tot`, default 20). Entries never expire: they leave by
//! `--remove`, by `--reap`, or when a new address arrives at a full list (`ip_list_tot`, a
//! module parameter, default 100: read from /sys/module/xt_recent on 6.18), which evicts the
//! least recently refreshed one. `--set` adds or refreshes the entry and always matches. `--rcheck` matches when the entry exists, and with `--seconds S`
//! when one of its times is within S seconds; `--hitcount H` asks for H such times. `--update`
//! is `--rcheck` that, after matching, records the packet's time (evaluation first, refresh
//! second; with `!` it refreshes when the test failed on an existing entry). `--remove`
//! deletes the entry and matches when there was one.
//!
//! The translation, one set `recent_NAME` per list (key `ip saddr` or `ip daddr`), exact when
//! every `--rcheck`/`--update` of the list uses one `--seconds S` and nothing needs entries of
//! any age: the set's timeout is S, so "an element is in the set" is "the entry was refreshed
//! within S seconds", which is what the kernel tests without `--hitcount`.
//! - `--set` is `update @recent_NAME { ip saddr }` (adds or restarts the timeout, goes on);
//! - `--rcheck --seconds S` is `ip saddr @recent_NAME` (`!` is `!=`);
//! - `--update --seconds S` is `ip saddr @recent_NAME update @recent_NAME { ip saddr }`;
//! - `--hitcount 1` is no hitcount; `--reap` has no visible effect (it only drops entries older
//!   than S, which no test of the list can see).
//!
//! Counting packets (`--hitcount h`, h > 1, with `--seconds S`): the kernel matches when at
//! least h of the entry's last 20 packet times are within S; the times are in order, so that is
//! "the h most recent times are all within S". With H the largest count any check of the list
//! uses, fwnet keeps the last H times in H slot sets `recent_NAME_1` .. `_H` (timeout S, so an
//! address is in slot j while the time written there is within S), written round-robin. The
//! slot the next time goes to (the position) is membership in one of the pointer sets
//! `recent_NAME_at_2` .. `_at_H` (timeout S, refreshed with every time; in none is position 1).
//! A pointer expires with the last time written, when every slot of the address has expired
//! too, so starting again at position 1 changes nothing.
//! - Recording a time (every `--set`, and `--update` after its test matched) is a jump to the
//!   chain `recent_NAME_stamp`: `update @recent_NAME` (the last time, what checks with a count
//!   of 1 read), then one rule per position k > 1 (`ip saddr @recent_NAME_at_k`: update slot k,
//!   delete pointer k, update pointer k+1 unless k = H, return), then position 1 (update slot 1
//!   and pointer 2).
//! - A check with count h at position k needs slots k-1, k-2 .. k-h (cyclically) all to hold
//!   the address. With h = H that is every slot, whatever the position: the lookups go in the
//!   rule itself. Otherwise a chain `recent_NAME_lineN` has one rule per position, ending in
//!   `goto` the rest of the rule.
//! - `! --rcheck --hitcount h` matches when the count test fails: no entry, or fewer than h
//!   times within the window (the kernel starts from "matched" and flips it only when it
//!   counts h). It always gets the chain `recent_NAME_lineN`: the same tests (one rule when
//!   h = H), each ending in `return` (the rule does not match), then `goto` the rest of the
//!   rule, which the packet reaches when no position's test held.
//! - nft cannot branch inside a rule, and a jump comes back to the next rule, so a rule that
//!   records a time or needs the per-position chain is split where its recent match was: the
//!   statements before it, then `jump` (no counter: the rule has not matched yet); the chain
//!   `recent_NAME_lineN_hit` records the time when the rule does (`jump recent_NAME_stamp`),
//!   then holds the rest of the rule with the rule's protocol test, counter and target. When
//!   the test fails, or the rest of the rule does not match, the packet comes back to the rule
//!   after the original one, as in the kernel, which also records the time before the matches
//!   after it run. Every match is still evaluated once per packet (a `limit` before or after
//!   the recent match spends one token). Refused: `-j RETURN` and `-g` in such a rule (they
//!   would leave the new chain, not the rule's), one list twice in one rule,
//!   a count without `--seconds` (times of any age) and counts above 20 (the kernel keeps 20
//!   times per entry; CentOS 6 refuses more).
//! - The new chains add up to two levels of calls: a ruleset whose user chains already nest
//!   close to nf_tables' limit of 16 levels fails to load, where iptables had no such limit.
//! - Kernel: a pointer is cleared with `delete @set { ip saddr }` (the dynset delete
//!   operation), in Linux since 5.4. An older kernel refuses the rules that use it when the
//!   ruleset is loaded (EOPNOTSUPP; the batch is atomic, so none of it loads), and fwnet's
//!   hint then names the delete operation and Linux 5.4 (`fwnet_apply::features`).
//!
//! A list that is only ever written (`--set`) is read by no rule: the match always matches and
//! is dropped with a warning. `--rttl` (the check also needs the TTL stored with the entry to
//! be the packet's own) is left out, with a warning, where an earlier rule of the chain makes
//! it always true ([`recorded_before`]: the `--set`, then `--update --rttl` recipe), and
//! refused elsewhere: an nft set element holds no TTL. Refused, with the reason: masks other
//! than the full one, `!` on `--set`, `--update` and `--remove`, two different
//! `--seconds` on one list, a list in two tables. `--remove` and checks without
//! `--seconds` need entries of any age, which the kernel bounds only by its 100-entry
//! eviction: they are approximations, emitted only with `allow_approximate` (a set without
//! timeout, `ip saddr @s delete @s { ip saddr }` for `--remove`) and marked in the rule comment.
//! A list read both ways (port knocking: `--rcheck --seconds 30`, then `--remove`) gets a twin
//! set without timeout for the reads of any age ([`ageless_twin`]), unless it is counted.
//!
//! Not reproduced, and the reason the set is not "the kernel's list": the kernel keeps at most
//! 100 entries per list and evicts the least recently refreshed; the set holds up to 65535 and
//! evicts nothing. Verdicts differ only when more than 100 distinct addresses are refreshed
//! within one `--seconds` window (the kernel forgets the oldest of them, the set does not), or
//! when 65535 are (the set is full and `--set` stops matching; with `--hitcount`, the time of a
//! new address is not recorded). Timing at the window's edge differs by at most one kernel
//! tick (the kernel counts a time exactly S seconds old). With `--hitcount`, the kernel checks
//! and records under one lock, and the sets are read and written one statement at a time: two
//! packets of one address handled at the same moment on two CPUs can both miss the other's
//! time, or write one slot (one time is lost until it would have expired).

use crate::chain::TableCx;
use crate::rule::Cx;
use crate::{IpFamily, Translation};
use fwnet_iptables::diag::Loc;
use fwnet_iptables::{Diagnostic, Opt};
use fwnet_nft::{
    Chain, CmpOp, DataType, Expr, Field, Masks, Match, Rule, Set, SetFlags, Stmt, Table, Verdict,
};
use std::collections::BTreeSet;

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--set"],
    &["--rcheck"],
    &["--update"],
    &["--remove"],
    &["--seconds"],
    &["--reap"],
    &["--hitcount"],
    &["--rttl"],
    &["--name"],
    &["--rsource"],
    &["--rdest"],
    &["--mask"],
];

/// nft 1.0.6 gives a dynamic set this size when none is written; fwnet writes it out.
const SET_SIZE: u32 = 65_535;
const DEFAULT_NAME: &str = "DEFAULT";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Set,
    Rcheck,
    Update,
    Remove,
}

/// How one rule uses a list.
#[derive(Clone, Debug)]
struct Use {
    loc: Loc,
    op: Op,
    /// `--seconds`, when non-zero.
    seconds: Option<u32>,
    /// `--hitcount` (1 when not given).
    hitcount: u32,
    /// Where `--rttl` is, when given: [`finish`] keeps the rule only where the TTL test always
    /// holds ([`recorded_before`]).
    rttl: Option<Loc>,
    /// The key: the address the list is keyed on for this rule (`ip saddr`, `ip6 daddr` ...).
    key: Field,
    /// `! --rcheck` (the only negated operation translated).
    negated: bool,
}

impl Use {
    /// Reads the list: a test whose result depends on the entries.
    fn reads(&self) -> bool {
        self.op != Op::Set
    }

    /// Needs entries of any age: the kernel forgets them only by eviction.
    fn ageless(&self) -> bool {
        self.op == Op::Remove || (self.reads() && self.seconds.is_none())
    }
}

/// Every recent list seen so far, by family and name.
#[derive(Default)]
pub(crate) struct Registry {
    pub allow_approximate: bool,
    entries: Vec<Entry>,
}

struct Entry {
    family: IpFamily,
    name: String,
    /// iptables table and nft table of the first rule.
    table: String,
    nft_table: String,
    set: String,
    first: Loc,
    uses: Vec<Use>,
}

impl Entry {
    /// How many uses of the list the input line of `loc` has.
    fn uses_on_line(&self, loc: &Loc) -> usize {
        self.uses
            .iter()
            .filter(|o| o.loc.file == loc.file && o.loc.line == loc.line)
            .count()
    }
}

/// Whether `rule` came from the input line of `loc`.
fn from_line(rule: &Rule, loc: &Loc) -> bool {
    rule.origin
        .as_ref()
        .is_some_and(|o| *o.file == *loc.file && o.line == loc.line)
}

pub(crate) fn translate(
    opts: &[&Opt],
    loc: &Loc,
    cx: &mut Cx,
    tcx: &mut TableCx,
    registry: &mut Registry,
) -> Vec<Stmt> {
    let Some(r) = read(opts, loc, cx) else {
        return Vec::new();
    };
    if r.ageless() && !registry.allow_approximate {
        let what = if r.op == Op::Remove {
            "`--remove` matches an entry of any age"
        } else {
            "a check without `--seconds` matches an entry of any age"
        };
        cx.error(
            "translate/approximate",
            loc,
            format!("{what}; the kernel forgets entries only by evicting the least recently seen when list `{}` holds 100 (ip_list_tot), which nft sets cannot do", r.name),
            "give the check `--seconds` (and drop `--remove`, which nft can only approximate), or pass --allow-approximate to accept a set that never forgets",
        );
        return Vec::new();
    }

    let existing = registry
        .entries
        .iter()
        .position(|e| e.family == cx.family && e.name == r.name);
    let index = match existing {
        Some(i) => {
            let e = &registry.entries[i];
            if e.table != cx.table {
                cx.error(
                    "translate/unsupported-match",
                    loc,
                    format!(
                        "recent list `{}` is also used in table {} ({}); the kernel shares one list across tables, nft sets belong to one table",
                        r.name, e.table, e.first
                    ),
                    "give the rules in each table their own --name",
                );
                return Vec::new();
            }
            i
        }
        None => {
            let set = set_name(&r.name, tcx);
            registry.entries.push(Entry {
                family: cx.family,
                name: r.name.clone(),
                table: cx.table.to_string(),
                nft_table: tcx.nft_table.clone(),
                set,
                first: loc.clone(),
                uses: Vec::new(),
            });
            registry.entries.len() - 1
        }
    };
    let entry = &mut registry.entries[index];
    let (field, addr_type) = match (cx.family, r.dest) {
        (IpFamily::V4, false) => (Field::IpSaddr, DataType::Ipv4Addr),
        (IpFamily::V4, true) => (Field::IpDaddr, DataType::Ipv4Addr),
        (IpFamily::V6, false) => (Field::Ip6Saddr, DataType::Ipv6Addr),
        (IpFamily::V6, true) => (Field::Ip6Daddr, DataType::Ipv6Addr),
    };
    entry.uses.push(Use {
        loc: loc.clone(),
        op: r.op,
        seconds: r.seconds,
        hitcount: r.hitcount,
        rttl: r.rttl,
        key: field,
        negated: r.negated,
    });
    let set = entry.set.clone();

    if !tcx.sets.iter().any(|s| s.name == set) {
        tcx.sets.push(Set {
            name: set.clone(),
            key: vec![addr_type],
            flags: SetFlags {
                dynamic: true,
                ..SetFlags::default()
            },
            timeout_ms: None,
            size: Some(SET_SIZE),
            elements: Vec::new(),
            typeof_key: Vec::new(),
        });
    }
    let key = vec![Expr::Payload(field)];
    let lookup = |op| {
        Stmt::Match(Match::Lookup {
            key: key.as_slice().into(),
            set: set.as_str().into(),
            op,
        })
    };
    let refresh = Stmt::SetUpdate {
        set: set.as_str().into(),
        key: key.as_slice().into(),
        limit: None,
        masks: Masks::default(),
    };
    match r.op {
        Op::Set => vec![refresh],
        Op::Rcheck if r.negated => vec![lookup(CmpOp::Ne)],
        Op::Rcheck => vec![lookup(CmpOp::Eq)],
        Op::Update => vec![lookup(CmpOp::Eq), refresh],
        Op::Remove => vec![
            lookup(CmpOp::Eq),
            Stmt::SetDelete {
                set: set.as_str().into(),
                key: key.into(),
            },
        ],
    }
}

/// One rule's recent options, checked.
struct Read {
    name: String,
    op: Op,
    negated: bool,
    seconds: Option<u32>,
    dest: bool,
    /// `--hitcount`, 1 when not given (0 and 1 mean the same).
    hitcount: u32,
    /// Where `--rttl` is, when given.
    rttl: Option<Loc>,
}

impl Read {
    fn ageless(&self) -> bool {
        self.op == Op::Remove || (self.op != Op::Set && self.seconds.is_none())
    }
}

fn read(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Option<Read> {
    let errors_before = cx.diags.iter().filter(|d| d.is_error()).count();
    let mut op: Option<(Op, &Opt)> = None;
    let mut refused_op = false;
    let mut hitcount: Option<(u32, &Opt)> = None;
    let mut name = DEFAULT_NAME.to_string();
    let mut seconds = None;
    let mut side: Option<&Opt> = None;
    let mut rttl = None;
    let full_mask = match cx.family {
        IpFamily::V4 => "255.255.255.255",
        IpFamily::V6 => "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    };
    for opt in opts {
        let this = match opt.name.as_str() {
            "--set" => Some(Op::Set),
            "--rcheck" => Some(Op::Rcheck),
            "--update" => Some(Op::Update),
            "--remove" => Some(Op::Remove),
            _ => None,
        };
        if let Some(this) = this {
            cx.no_arg(opt);
            if let Some((_, first)) = op {
                cx.error(
                    "translate/bad-value",
                    &opt.loc,
                    format!("`{}` after `{}`", opt.name, first.name),
                    "iptables allows one of --set, --rcheck, --update and --remove per match",
                );
                continue;
            }
            if opt.negated.is_negated() && this != Op::Rcheck {
                cx.error(
                    "translate/unsupported-option",
                    &opt.loc,
                    format!("`! {}` is not translated", opt.name),
                    match this {
                        Op::Update => "the kernel refreshes the entry exactly when the negated test matches (an existing entry that failed the test), which one nft rule cannot do; use `! --rcheck` and a separate `--set` rule if that is what you meant",
                        _ => "the kernel changes the list and then reports no match, which one nft rule cannot do; drop the `!` and move the rule's target to a separate rule",
                    },
                );
                refused_op = true;
                continue;
            }
            op = Some((this, opt));
            continue;
        }
        if !cx.not_negated(opt) {
            continue;
        }
        match opt.name.as_str() {
            "--name" => {
                if let Some(arg) = cx.one_arg(opt) {
                    if arg.is_empty() || arg.len() > 199 {
                        cx.bad_value(opt, arg, "the list name is 1 to 199 characters");
                    } else {
                        name = arg.to_string();
                    }
                }
            }
            "--seconds" => {
                if let Some(arg) = cx.one_arg(opt) {
                    match arg.parse::<u32>() {
                        Ok(0) => seconds = None,
                        Ok(s) => seconds = Some(s),
                        Err(_) => cx.bad_value(opt, arg, "the window is a number of seconds"),
                    }
                }
            }
            "--hitcount" => {
                let Some(arg) = cx.one_arg(opt) else { continue };
                match arg.parse::<u32>() {
                    Ok(0 | 1) => {}
                    Ok(h) => hitcount = Some((h, opt)),
                    Err(_) => cx.bad_value(opt, arg, "the hit count is a number from 1 to 255"),
                }
            }
            "--rttl" => {
                cx.no_arg(opt);
                rttl = Some(opt.loc.clone());
            }
            "--reap" => {
                cx.no_arg(opt);
            }
            "--rsource" | "--rdest" => {
                cx.no_arg(opt);
                if let Some(first) = side {
                    if first.name != opt.name {
                        cx.error(
                            "translate/bad-value",
                            &opt.loc,
                            format!("`{}` after `{}`", opt.name, first.name),
                            "give one of --rsource and --rdest",
                        );
                        continue;
                    }
                }
                side = Some(opt);
            }
            "--mask" => {
                if let Some(arg) = cx.one_arg(opt) {
                    let full = arg.parse::<std::net::IpAddr>().ok()
                        == full_mask.parse::<std::net::IpAddr>().ok();
                    if !full {
                        cx.unsupported_value(
                            opt,
                            &format!("mask `{arg}`"),
                            format!("only the full mask ({full_mask}) is translated yet; remove the option to key on whole addresses"),
                        );
                    }
                }
            }
            _ => cx.unsupported_option(opt, "this recent option is not translated yet"),
        }
    }
    let reap = opts.iter().find(|o| o.name == "--reap");
    if let (Some(reap), None) = (reap, seconds) {
        cx.error(
            "translate/bad-value",
            &reap.loc,
            "`--reap` needs `--seconds`",
            "iptables refuses it without a window",
        );
    }
    let Some((op, op_opt)) = op else {
        if refused_op {
            return None;
        }
        cx.error(
            "translate/bad-value",
            loc,
            "recent needs one of --set, --rcheck, --update and --remove",
            "iptables refuses the match without one",
        );
        return None;
    };
    if op == Op::Set || op == Op::Remove {
        if let Some(s) = opts
            .iter()
            .find(|o| o.name == "--seconds" || o.name == "--hitcount" || o.name == "--rttl")
        {
            cx.error(
                "translate/bad-value",
                &s.loc,
                format!("`{}` has no meaning with `{}`", s.name, op_opt.name),
                "iptables refuses this; remove it",
            );
        }
    }
    if let (Some((h, opt)), Op::Rcheck | Op::Update) = (hitcount, op) {
        check_hitcount(h, opt, seconds, cx);
    }
    let errors_after = cx.diags.iter().filter(|d| d.is_error()).count();
    (errors_after == errors_before).then(|| Read {
        name,
        op,
        negated: op_opt.negated.is_negated(),
        seconds,
        dest: side.is_some_and(|o| o.name == "--rdest"),
        hitcount: hitcount.map_or(1, |(h, _)| h),
        rttl,
    })
}

/// The largest `--hitcount` translated: the kernel keeps the times of an entry's last
/// `ip_pkt_list_tot` (20) packets, and refuses a larger count (CentOS 6's kernel always, later
/// ones unless the module parameter is raised).
const MAX_HITCOUNT: u32 = 20;

/// Refuses the `--hitcount` forms [`expand`] cannot make exact.
fn check_hitcount(h: u32, opt: &Opt, seconds: Option<u32>, cx: &mut Cx) {
    // `! --update` and `! --set` are refused before this; `! --rcheck --hitcount` is the
    // complement of the count test (no entry, or fewer times), which [`expand`] writes.
    let refusal = if seconds.is_none() {
        Some((
            format!("`--hitcount {h}` without `--seconds` counts packets of any age, which the kernel forgets only by evicting the least recently seen entry when the list holds 100 (ip_list_tot); nft sets cannot do that"),
            "give the check `--seconds`".to_string(),
        ))
    } else if h > MAX_HITCOUNT {
        Some((
            format!("`--hitcount {h}` is more than the {MAX_HITCOUNT} packet times the kernel keeps per entry (ip_pkt_list_tot)"),
            format!("the legacy kernel refuses this rule; use a count of at most {MAX_HITCOUNT}"),
        ))
    } else {
        None
    };
    if let Some((msg, help)) = refusal {
        cx.error("translate/unsupported-option", &opt.loc, msg, help);
    }
}

/// An nft set name for a list: `recent_` and the name with unusable characters as `_`, and a
/// number on a clash with another set.
fn set_name(name: &str, tcx: &TableCx) -> String {
    tcx.unused_set_name(&format!("recent_{}", crate::chain::identifier(name)))
}

/// After every table: gives each list's set the timeout all its checks agree on, refuses lists
/// whose checks disagree, drops lists nobody reads, and marks approximations.
pub(crate) fn finish(registry: &Registry, out: &mut Translation) {
    for e in &registry.entries {
        let windows: BTreeSet<u32> = e
            .uses
            .iter()
            .filter(|u| u.reads())
            .filter_map(|u| u.seconds)
            .collect();
        let ageless: Vec<&Use> = e.uses.iter().filter(|u| u.ageless()).collect();
        let Some(table) = out
            .ruleset
            .tables
            .iter_mut()
            .find(|t| t.name == e.nft_table && family_of(t.family) == Some(e.family))
        else {
            continue;
        };
        for u in &e.uses {
            let Some(at) = &u.rttl else { continue };
            out.diagnostics.push(match recorded_before(table, &e.set, u) {
                Some((chain, by)) => Diagnostic::warning(
                    "translate/recent-rttl",
                    at,
                    format!("`--rttl` is always true here and is left out: the rule at {by}, earlier in chain {chain}, stores in list `{}` (`--set`) the TTL of every packet that reaches this check", e.name),
                )
                .with_help("nothing to do: the check compares the packet's TTL with the one it stored itself, so the verdicts do not change"),
                None => Diagnostic::error(
                    "translate/unsupported-option",
                    at,
                    format!("`--rttl` is not translated here: the kernel compares the packet's TTL with the one stored in list `{}`, which an nft set element cannot hold", e.name),
                )
                .with_help(format!("fwnet translates it only after a rule of the same chain that does `-m recent --set --name {}` on the same address after no test, or after the same first tests as this rule, in a table where no rule rewrites the TTL or what those tests read; that makes the TTL test always true. Otherwise remove `--rttl` (the check then ignores the TTL, which matches more packets)", e.name)),
            });
        }
        // A list whose readers were refused is not write-only; the result is unusable anyway.
        if !e.uses.iter().any(Use::reads) && !out.diagnostics.iter().any(Diagnostic::is_error) {
            drop_write_only(e, table, &mut out.diagnostics);
            continue;
        }
        if windows.len() > 1 {
            let list: Vec<String> = windows.iter().map(|s| s.to_string()).collect();
            for u in e.uses.iter().filter(|u| u.reads() && u.seconds.is_some()) {
                out.diagnostics.push(
                    Diagnostic::error(
                        "translate/unsupported-match",
                        &u.loc,
                        format!("recent list `{}` is checked with different windows (--seconds {}); one nft set has one timeout", e.name, list.join(", ")),
                    )
                    .with_help("use one --seconds value per --name, or give each window its own list with its own --set rule"),
                );
            }
            continue;
        }
        let most = e
            .uses
            .iter()
            .filter(|u| u.reads())
            .map(|u| u.hitcount)
            .max()
            .unwrap_or(1);
        if let (Some(s), false) = (windows.first(), ageless.is_empty()) {
            // Only with --allow-approximate (ageless uses are refused before this otherwise).
            let shares_a_line = ageless.iter().any(|u| e.uses_on_line(&u.loc) > 1);
            if most > 1 || shares_a_line {
                for u in &ageless {
                    out.diagnostics.push(
                        Diagnostic::error(
                            "translate/unsupported-match",
                            &u.loc,
                            format!("recent list `{}` is checked here for an entry of any age and elsewhere within --seconds {s}; one nft set either forgets after {s} s or never, and fwnet keeps a second one only for a list without --hitcount used once per rule", e.name),
                        )
                        .with_help("give the check `--seconds` too, or use a separate --name for each kind of check"),
                    );
                }
                continue;
            }
            ageless_twin(e, &ageless, table);
        }
        if let Some(set) = table.sets.iter_mut().find(|s| s.name == e.set) {
            if let Some(s) = windows.first() {
                set.flags.timeout = true;
                set.timeout_ms = Some(u64::from(*s) * 1000);
            }
        }
        if let (Some(s), true) = (windows.first(), most > 1) {
            expand(e, most, *s, table, &mut out.diagnostics);
        }
        for u in &ageless {
            out.diagnostics.push(
                Diagnostic::warning(
                    "translate/approximate",
                    &u.loc,
                    format!("approximation: recent list `{}` becomes a set that never forgets; the kernel evicts the least recently seen entry when the list holds 100 (ip_list_tot)", e.name),
                )
                .with_help("the rule's comment says so; give the checks `--seconds` to make the translation exact"),
            );
            mark_approximate(table, &u.loc, &e.name);
        }
    }
}

/// For a check with `--rttl`: the earlier rule that makes its TTL test always true, and its
/// chain, if there is one.
///
/// xt_recent finds the entry for a `--rttl` check only when the TTL stored with it is the
/// packet's own (or either is 0); every `--set`, and every `--update` that matched, stores the
/// TTL of its packet. Take a rule earlier in the same chain whose tests before its `--set` on
/// the same list and address are also the first tests of the check's rule (none at all, or the
/// `-p tcp --dport 22 -m state --state NEW` of the classic SSH recipe). A packet that reaches
/// the check passed those tests, so it passed them at the earlier rule too (a chain is only
/// entered at its top) and stored its own TTL in the entry the check looks up: the test holds,
/// and the check means the same without it. That needs tests whose result cannot change between
/// the two rules: plain comparisons of header fields and packet or connection metadata, and no
/// rule in the table that rewrites any of them (`-j MARK`, `CONNMARK`, `TTL`, `DSCP`,
/// `--notrack` ...); with no tests before the `--set`, only `-j TTL`/`-j HL` matter (rules
/// between the two can store no other TTL for this packet). Two packets from one address with
/// different TTLs handled at the same moment on two CPUs could, in the kernel, overwrite each
/// other's TTL between the two rules; the translation behaves as if they came one after the
/// other.
fn recorded_before<'t>(
    table: &'t Table,
    set: &str,
    u: &Use,
) -> Option<(&'t str, &'t fwnet_nft::Origin)> {
    let stmts = || {
        table
            .chains
            .iter()
            .flat_map(|c| &c.rules)
            .flat_map(|r| &r.stmts)
    };
    let rewrites_ttl = stmts().any(|s| matches!(s, Stmt::HeaderSet { .. }));
    let rewrites_state = stmts().any(|s| {
        matches!(
            s,
            Stmt::HeaderSet { .. }
                | Stmt::MarkSet(_)
                | Stmt::Notrack
                | Stmt::CtZoneSet(_)
                | Stmt::CtDirZoneSet { .. }
                | Stmt::PrioritySet(_)
                | Stmt::CtHelperSet(_)
                | Stmt::MaxsegSet(_)
                | Stmt::DscpSet { .. }
        )
    });
    if rewrites_ttl {
        return None;
    }
    let here = |r: &Rule| from_line(r, &u.loc);
    let chain = table.chains.iter().find(|c| c.rules.iter().any(here))?;
    let key = [Expr::Payload(u.key)];
    // The tests before the `--set` of a rule that records every packet passing them.
    let recording = |r: &Rule| -> Option<usize> {
        let at = r.stmts.iter().position(|s| {
            matches!(s, Stmt::SetUpdate { set: s, key: k, limit: None, masks }
                if **s == *set && k[..] == key[..] && masks.is_empty())
        })?;
        let fixed = r.stmts[..at].iter().all(|s| {
            matches!(
                s,
                Stmt::Match(
                    Match::Cmp { .. }
                        | Match::Masked { .. }
                        | Match::Flags { .. }
                        | Match::Order { .. }
                )
            )
        });
        (at == 0 || (fixed && !rewrites_state)).then_some(at)
    };
    let mut by = None;
    for (i, check) in chain.rules.iter().enumerate().filter(|(_, r)| here(r)) {
        let earlier = chain.rules[..i]
            .iter()
            .find(|r| recording(r).is_some_and(|at| check.stmts.starts_with(&r.stmts[..at])))?;
        by = by.or(earlier.origin.as_ref());
    }
    Some((chain.name.as_str(), by?))
}

/// With `--allow-approximate`, a list checked both within its window and at any age (and
/// never counted): a twin set `recent_NAME_any`, without timeout, holds the entries of any
/// age. Every rule that records in the list (`--set`, `--update`) records in the twin too,
/// checks of any age (`--rcheck` without `--seconds`, `--remove`) read the twin, and `--remove`
/// deletes from both. The windowed checks keep the list's own set, exact as before; the twin is
/// the usual approximation of entries of any age (it never forgets, where the kernel evicts
/// the least recently seen entry of a list of 100).
fn ageless_twin(e: &Entry, ageless: &[&Use], table: &mut Table) {
    let Some(at) = table.sets.iter().position(|s| s.name == e.set) else {
        return;
    };
    let mut taken: Vec<String> = table.sets.iter().map(|s| s.name.clone()).collect();
    let twin = fresh(format!("{}_any", e.set), &mut taken);
    let mut set = table.sets[at].clone();
    set.name = twin.clone();
    set.flags.timeout = false;
    set.timeout_ms = None;
    table.sets.insert(at + 1, set);
    for rule in table.chains.iter_mut().flat_map(|c| c.rules.iter_mut()) {
        let aged = ageless.iter().any(|u| from_line(rule, &u.loc));
        let mut stmts = Vec::with_capacity(rule.stmts.len() + 1);
        for st in std::mem::take(&mut rule.stmts) {
            match st {
                Stmt::SetUpdate {
                    set,
                    key,
                    limit: None,
                    masks,
                } if *set == *e.set => {
                    stmts.push(Stmt::SetUpdate {
                        set,
                        key: key.clone(),
                        limit: None,
                        masks: masks.clone(),
                    });
                    stmts.push(Stmt::SetUpdate {
                        set: twin.as_str().into(),
                        key,
                        limit: None,
                        masks,
                    });
                }
                Stmt::Match(Match::Lookup { key, set, op }) if aged && *set == *e.set => {
                    stmts.push(Stmt::Match(Match::Lookup {
                        key,
                        set: twin.as_str().into(),
                        op,
                    }));
                }
                Stmt::SetDelete { set, key } if *set == *e.set => {
                    stmts.push(Stmt::SetDelete {
                        set: twin.as_str().into(),
                        key: key.clone(),
                    });
                    stmts.push(Stmt::SetDelete { set, key });
                }
                other => stmts.push(other),
            }
        }
        rule.stmts = stmts;
    }
}

fn family_of(f: fwnet_nft::Family) -> Option<IpFamily> {
    match f {
        fwnet_nft::Family::Ip => Some(IpFamily::V4),
        fwnet_nft::Family::Ip6 => Some(IpFamily::V6),
        fwnet_nft::Family::Inet => None,
    }
}

/// A list only written by `--set`: the match always matches, so the statements and the set go.
fn drop_write_only(e: &Entry, table: &mut fwnet_nft::Table, diags: &mut Vec<Diagnostic>) {
    table.sets.retain(|s| s.name != e.set);
    for rule in table.chains.iter_mut().flat_map(|c| c.rules.iter_mut()) {
        rule.stmts
            .retain(|s| !matches!(s, Stmt::SetUpdate { set, .. } if **set == *e.set));
    }
    for u in &e.uses {
        diags.push(
            Diagnostic::warning(
                "translate/recent-write-only",
                &u.loc,
                format!("recent list `{}` is only written (--set), no rule reads it; the match always matches and is left out", e.name),
            )
            .with_help("tools reading /proc/net/xt_recent/ will not find the list; nothing in the ruleset changes"),
        );
    }
}

const MARK: &str = "fwnet approximate: recent list never forgets";
const NFT_MAX_BYTES: usize = 128;

/// Puts the approximation marker at the start of the comment of the rule from `loc`.
fn mark_approximate(table: &mut fwnet_nft::Table, loc: &Loc, name: &str) {
    for rule in table.chains.iter_mut().flat_map(|c| c.rules.iter_mut()) {
        if !from_line(rule, loc) {
            continue;
        }
        let mut text = format!("{MARK} ({name})");
        if let Some(c) = &rule.comment {
            text.push_str("; ");
            text.push_str(c);
        }
        while text.len() > NFT_MAX_BYTES {
            text.pop();
        }
        rule.comment = Some(text);
    }
}

/// Whether a use of a list with hitcount sets ([`expand`]) records a packet time: `--set`
/// always, `--update` when its test matched. A `--rcheck` with a count above 1 needs a choice
/// between positions; `--rcheck` with a count of 1 is the lookup in the list's set, unchanged.
fn rewritten(u: &Use) -> bool {
    matches!(u.op, Op::Set | Op::Update) || (u.op == Op::Rcheck && u.hitcount > 1)
}

/// The sets of a list some check of which counts `--hitcount` packets, `most` being the
/// largest count (see the module doc, "Counting packets").
struct Slots {
    /// The list's own set: the address's last packet time is within the window.
    list: String,
    /// Slot `j` (1-based) is `slots[j - 1]`.
    slots: Vec<String>,
    /// The pointer set of position `k` (2 to `most`) is `at[k - 2]`.
    at: Vec<String>,
}

impl Slots {
    fn most(&self) -> usize {
        self.slots.len()
    }

    /// The slots holding the last `h` times when the next time goes to position `k` (1-based).
    fn last(&self, k: usize, h: usize) -> impl Iterator<Item = &String> {
        let most = self.most();
        (0..h).map(move |i| &self.slots[(k + 2 * most - 2 - i) % most])
    }
}

/// A name starting with `base` that is not in `taken`, then taken.
pub(crate) fn fresh(base: String, taken: &mut Vec<String>) -> String {
    let mut candidate = base.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{base}_x{n}");
        n += 1;
    }
    taken.push(candidate.clone());
    candidate
}

fn lookup(key: &[Expr], set: &str, op: CmpOp) -> Stmt {
    Stmt::Match(Match::Lookup {
        key: key.into(),
        set: set.into(),
        op,
    })
}

fn update(key: &[Expr], set: &str) -> Stmt {
    Stmt::SetUpdate {
        set: set.into(),
        key: key.into(),
        limit: None,
        masks: Masks::default(),
    }
}

fn verdict(v: Verdict) -> Stmt {
    Stmt::Verdict(v)
}

/// Counting packets: gives list `e` its slot and pointer sets and rewrites every rule that
/// records a packet time or counts more than one (see the module doc).
fn expand(e: &Entry, most: u32, seconds: u32, table: &mut Table, diags: &mut Vec<Diagnostic>) {
    let Some(at) = table.sets.iter().position(|s| s.name == e.set) else {
        return;
    };
    let mut rewrites = Vec::new();
    let mut refused = false;
    for u in e.uses.iter().filter(|u| rewritten(u)) {
        let why = if e.uses_on_line(&u.loc) > 1 {
            Some(format!("recent list `{}` is used twice in one rule and counted with --hitcount elsewhere; fwnet splits such a rule once per list", e.name))
        } else {
            let found = places(e, u, table);
            let bad = found.iter().find_map(|&(ci, ri, _)| {
                let stmts = &table.chains[ci].rules[ri].stmts;
                stmts.iter().find_map(|s| match s {
                    Stmt::Verdict(Verdict::Return) => Some("`-j RETURN`"),
                    Stmt::Verdict(Verdict::Goto(_)) => Some("`-g` (goto)"),
                    Stmt::Tproxy(_) => Some("`-j TPROXY`"),
                    _ => None,
                })
            });
            rewrites.extend(found.into_iter().map(|p| (u, p)));
            bad.map(|t| format!("{t} in a rule that records or counts packets of recent list `{}`, which is counted with --hitcount: the rule becomes a jump to a chain, from which {t} would leave the wrong chain", e.name))
        };
        if let Some(why) = why {
            diags.push(
                Diagnostic::error("translate/unsupported-match", &u.loc, why).with_help(
                    "move the target to a user chain and `-j` (jump) to it from this rule",
                ),
            );
            refused = true;
        }
    }
    if refused {
        return;
    }

    let base = table.sets[at].clone();
    let mut taken: Vec<String> = table.sets.iter().map(|s| s.name.clone()).collect();
    let set_like = |name: String| Set {
        name,
        timeout_ms: Some(u64::from(seconds) * 1000),
        flags: SetFlags {
            dynamic: true,
            timeout: true,
            ..SetFlags::default()
        },
        elements: Vec::new(),
        typeof_key: Vec::new(),
        ..base.clone()
    };
    let slots = Slots {
        list: e.set.clone(),
        slots: (1..=most)
            .map(|j| fresh(format!("{}_{j}", e.set), &mut taken))
            .collect(),
        at: (2..=most)
            .map(|k| fresh(format!("{}_at_{k}", e.set), &mut taken))
            .collect(),
    };
    let new_sets: Vec<Set> = slots
        .slots
        .iter()
        .chain(&slots.at)
        .cloned()
        .map(set_like)
        .collect();
    table.sets.splice(at + 1..at + 1, new_sets);

    let mut chain_names: Vec<String> = table.chains.iter().map(|c| c.name.clone()).collect();
    let mut stamps: Vec<(Vec<Expr>, String)> = Vec::new();
    let mut added: Vec<Chain> = Vec::new();
    for (u, (ci, ri, key)) in rewrites {
        let stamp = if u.op == Op::Rcheck {
            None
        } else if let Some((_, name)) = stamps.iter().find(|(k, _)| *k == key) {
            Some(name.clone())
        } else {
            let name = fresh(format!("{}_stamp", e.set), &mut chain_names);
            added.push(stamp_chain(&name, &key, &slots, table.chains[ci].family));
            stamps.push((key.clone(), name.clone()));
            Some(name)
        };
        let h = usize::try_from(u.hitcount).unwrap_or(1);
        let family = table.chains[ci].family;
        let rule = &mut table.chains[ci].rules[ri];
        let line = rule.origin.as_ref().map_or(0, |o| o.line);
        let Some((i, n)) = span(u, &rule.stmts, &e.set) else {
            continue;
        };
        if u.op == Op::Rcheck && h == slots.most() && !u.negated {
            // Every slot holds a time within the window, whatever the position: one rule.
            let all = slots.slots.iter().map(|s| lookup(&key, s, CmpOp::Eq));
            rule.stmts.splice(i..i + n, all);
            continue;
        }
        let mut post = protocol_tests(&rule.stmts[..i]);
        post.extend(rule.stmts.split_off(i + n));
        rule.stmts.truncate(i);
        let origin = rule.origin.clone();
        let hit = fresh(format!("{}_line{line}_hit", e.set), &mut chain_names);
        let mut hit_rules = Vec::new();
        if let Some(stamp) = &stamp {
            hit_rules.push(Rule {
                stmts: vec![verdict(Verdict::Jump(stamp.clone()))],
                comment: None,
                origin: origin.clone(),
                merged: Vec::new(),
            });
        }
        hit_rules.push(Rule {
            stmts: post,
            comment: rule.comment.clone(),
            origin: origin.clone(),
            merged: Vec::new(),
        });
        match u.op {
            Op::Set => {}
            _ if h <= 1 => rule.stmts.push(lookup(&key, &slots.list, CmpOp::Eq)),
            // Every slot must hold a time within the window: the position does not matter.
            _ if h == slots.most() && !u.negated => rule
                .stmts
                .extend(slots.slots.iter().map(|s| lookup(&key, s, CmpOp::Eq))),
            _ => {
                let check = fresh(format!("{}_line{line}", e.set), &mut chain_names);
                // The count test holds: go to the rest of the rule, or, for `! --rcheck`, come
                // back without it; a negated test that did not hold goes there after the last
                // position (no entry, or fewer times than the count).
                let held = if u.negated {
                    Verdict::Return
                } else {
                    Verdict::Goto(hit.clone())
                };
                let test = |stmts: Vec<Stmt>| {
                    let mut stmts = stmts;
                    stmts.push(verdict(held.clone()));
                    Rule {
                        stmts,
                        comment: None,
                        origin: origin.clone(),
                        merged: Vec::new(),
                    }
                };
                let mut rules: Vec<Rule> = if h == slots.most() {
                    vec![test(
                        slots
                            .slots
                            .iter()
                            .map(|s| lookup(&key, s, CmpOp::Eq))
                            .collect(),
                    )]
                } else {
                    (1..=slots.most())
                        .map(|k| {
                            let mut stmts: Vec<Stmt> = if k == 1 {
                                slots
                                    .at
                                    .iter()
                                    .map(|a| lookup(&key, a, CmpOp::Ne))
                                    .collect()
                            } else {
                                vec![lookup(&key, &slots.at[k - 2], CmpOp::Eq)]
                            };
                            stmts.extend(slots.last(k, h).map(|s| lookup(&key, s, CmpOp::Eq)));
                            test(stmts)
                        })
                        .collect()
                };
                if u.negated {
                    rules.push(Rule {
                        stmts: vec![verdict(Verdict::Goto(hit.clone()))],
                        comment: None,
                        origin: origin.clone(),
                        merged: Vec::new(),
                    });
                }
                added.push(Chain {
                    name: check.clone(),
                    base: None,
                    rules,
                    family,
                });
                let rule = &mut table.chains[ci].rules[ri];
                rule.stmts.push(verdict(Verdict::Jump(check)));
                added.push(Chain {
                    name: hit,
                    base: None,
                    rules: hit_rules,
                    family,
                });
                continue;
            }
        }
        rule.stmts.push(verdict(Verdict::Jump(hit.clone())));
        added.push(Chain {
            name: hit,
            base: None,
            rules: hit_rules,
            family,
        });
    }
    table.chains.extend(added);
}

/// The rule's protocol tests (`-p tcp`), repeated in the chain that holds the rest of the rule:
/// statements there that need the protocol (`reject with tcp reset`, `tcp dport`) depend on
/// them as they did in the rule, and a packet reaching the chain passes them again.
pub(crate) fn protocol_tests(pre: &[Stmt]) -> Vec<Stmt> {
    pre.iter()
        .filter(|s| {
            matches!(
                s,
                Stmt::Match(Match::Cmp {
                    left: Expr::Payload(Field::IpProtocol)
                        | Expr::Meta(fwnet_nft::MetaKey::L4proto),
                    op: CmpOp::Eq,
                    ..
                })
            )
        })
        .cloned()
        .collect()
}

/// Where the statements of use `u` of list `e` are: each rule from its line that holds them,
/// with the key they look up.
fn places(e: &Entry, u: &Use, table: &Table) -> Vec<(usize, usize, Vec<Expr>)> {
    let mut out = Vec::new();
    for (ci, chain) in table.chains.iter().enumerate() {
        for (ri, rule) in chain.rules.iter().enumerate() {
            if !from_line(rule, &u.loc) {
                continue;
            }
            let Some((i, _)) = span(u, &rule.stmts, &e.set) else {
                continue;
            };
            let key = match &rule.stmts[i] {
                Stmt::Match(Match::Lookup { key, .. }) | Stmt::SetUpdate { key, .. } => {
                    key.to_vec()
                }
                _ => continue,
            };
            out.push((ci, ri, key));
        }
    }
    out
}

/// The index and length of what [`translate`] emitted for `op` on `set` in `stmts`.
fn span(u: &Use, stmts: &[Stmt], set: &str) -> Option<(usize, usize)> {
    let want = if u.negated { CmpOp::Ne } else { CmpOp::Eq };
    let is_lookup = |s: &Stmt| matches!(s, Stmt::Match(Match::Lookup { set: x, op, .. }) if **x == *set && *op == want);
    let is_update =
        |s: &Stmt| matches!(s, Stmt::SetUpdate { set: x, limit: None, .. } if **x == *set);
    match u.op {
        Op::Set => stmts.iter().position(is_update).map(|i| (i, 1)),
        Op::Rcheck => stmts.iter().position(is_lookup).map(|i| (i, 1)),
        Op::Update => stmts
            .windows(2)
            .position(|w| is_lookup(&w[0]) && is_update(&w[1]))
            .map(|i| (i, 2)),
        Op::Remove => None,
    }
}

/// The chain that records a packet time of the address `key`: the list's own set, then the
/// slot of the address's position, whose pointer moves on (back to position 1 after the last).
fn stamp_chain(name: &str, key: &[Expr], s: &Slots, family: Option<fwnet_nft::Family>) -> Chain {
    let rule = |stmts| Rule {
        stmts,
        comment: None,
        origin: None,
        merged: Vec::new(),
    };
    let most = s.most();
    let mut rules = vec![rule(vec![update(key, &s.list)])];
    for k in 2..=most {
        let mut stmts = vec![
            lookup(key, &s.at[k - 2], CmpOp::Eq),
            update(key, &s.slots[k - 1]),
            Stmt::SetDelete {
                set: s.at[k - 2].as_str().into(),
                key: key.into(),
            },
        ];
        if k < most {
            stmts.push(update(key, &s.at[k - 1]));
        }
        stmts.push(verdict(Verdict::Return));
        rules.push(rule(stmts));
    }
    rules.push(rule(vec![update(key, &s.slots[0]), update(key, &s.at[0])]));
    Chain {
        name: name.to_string(),
        base: None,
        rules,
        family,
    }
}
