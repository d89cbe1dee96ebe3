//! Tables and chains: `*table` sections, `:CHAIN` declarations, `-N`, `-P`, and where `-A` and
//! `-I` put each rule.
//!
//! Table `T` becomes nft table `fwnet_T`; a built-in chain becomes a base chain with the hook,
//! type and priority the legacy kernel gives that table (raw -300, mangle -150 with `type
//! route` on OUTPUT, nat -100/100, filter 0, security 50); a user chain becomes a regular chain.
//! Only chains the file declares or uses appear, in the order they first appear. Lines are
//! processed in file order, as iptables-restore does, so a rule may only name chains that exist
//! by then. What a rule's options mean is `rule.rs`'s business, not this module's.

use crate::hashlimit;
use crate::rule;
use crate::{IpFamily, Translation};
use fwnet_iptables::{self as ipt, Command, Diagnostic};
use fwnet_nft::{self as nft, ChainKind, Hook};
use std::collections::HashMap;

/// State that spans tables and inputs.
#[derive(Default)]
pub(crate) struct Shared {
    pub hashlimits: hashlimit::Registry,
    pub recents: crate::recent::Registry,
    /// The `ipset save` files given with the rules.
    pub ipsets: Vec<fwnet_iptables::ipset::IpsetFile>,
    /// [`crate::Options::names`].
    pub names: Option<std::sync::Arc<dyn crate::Resolve>>,
    /// Set when a rule has `! --uid-owner` or `! --gid-owner`, for [`crate::owner::finish`].
    pub negated_owner: std::cell::Cell<bool>,
    tables: HashMap<(IpFamily, String), ipt::diag::Loc>,
}

/// A built-in chain of one iptables table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Builtin {
    pub name: &'static str,
    pub hook: Hook,
    pub kind: ChainKind,
    pub priority: i32,
}

const fn b(name: &'static str, hook: Hook, kind: ChainKind, priority: i32) -> Builtin {
    Builtin {
        name,
        hook,
        kind,
        priority,
    }
}

const FILTER: &[Builtin] = &[
    b("INPUT", Hook::Input, ChainKind::Filter, 0),
    b("FORWARD", Hook::Forward, ChainKind::Filter, 0),
    b("OUTPUT", Hook::Output, ChainKind::Filter, 0),
];
const NAT: &[Builtin] = &[
    b("PREROUTING", Hook::Prerouting, ChainKind::Nat, -100),
    b("INPUT", Hook::Input, ChainKind::Nat, 100),
    b("OUTPUT", Hook::Output, ChainKind::Nat, -100),
    b("POSTROUTING", Hook::Postrouting, ChainKind::Nat, 100),
];
const MANGLE: &[Builtin] = &[
    b("PREROUTING", Hook::Prerouting, ChainKind::Filter, -150),
    b("INPUT", Hook::Input, ChainKind::Filter, -150),
    b("FORWARD", Hook::Forward, ChainKind::Filter, -150),
    b("OUTPUT", Hook::Output, ChainKind::Route, -150),
    b("POSTROUTING", Hook::Postrouting, ChainKind::Filter, -150),
];
const RAW: &[Builtin] = &[
    b("PREROUTING", Hook::Prerouting, ChainKind::Filter, -300),
    b("OUTPUT", Hook::Output, ChainKind::Filter, -300),
];
const SECURITY: &[Builtin] = &[
    b("INPUT", Hook::Input, ChainKind::Filter, 50),
    b("FORWARD", Hook::Forward, ChainKind::Filter, 50),
    b("OUTPUT", Hook::Output, ChainKind::Filter, 50),
];

fn builtins(table: &str) -> Option<&'static [Builtin]> {
    match table {
        "filter" => Some(FILTER),
        "nat" => Some(NAT),
        "mangle" => Some(MANGLE),
        "raw" => Some(RAW),
        "security" => Some(SECURITY),
        _ => None,
    }
}

/// A chain being built. Refused rules stay as `None` so that later `-I` positions count them
/// as iptables would.
struct ChainState {
    name: String,
    base: Option<nft::BaseChain>,
    rules: Vec<Option<nft::Rule>>,
}

/// What a rule needs to know about its table.
pub(crate) struct TableCx<'a> {
    /// The iptables table name (`filter`).
    pub table: &'a str,
    pub nft_table: String,
    pub family: IpFamily,
    builtins: &'static [Builtin],
    chains: Vec<ChainState>,
    pub sets: Vec<nft::Set>,
    /// The ipsets `-m set` may name.
    pub ipsets: &'a [fwnet_iptables::ipset::IpsetFile],
    /// [`crate::Options::names`].
    pub names: Option<&'a dyn crate::Resolve>,
    /// [`Shared::negated_owner`].
    pub negated_owner: &'a std::cell::Cell<bool>,
    /// Where each NAT rule's `-j` is, for [`crate::nat::finish`].
    pub nat_locs: Vec<ipt::diag::Loc>,
    /// Where each `-j SYNPROXY` is, for [`crate::synproxy::finish`].
    pub synproxy_locs: Vec<ipt::diag::Loc>,
    /// Where each `-j TPROXY` is, for [`crate::tproxy::finish`].
    pub tproxy_locs: Vec<ipt::diag::Loc>,
    /// Where each IPv4 `-f` outside INPUT is, for [`crate::fragments::warn_input_only`].
    pub fragment_locs: Vec<ipt::diag::Loc>,
}

impl TableCx<'_> {
    /// `base`, or `base_2`, `base_3`, ... if a set of this table already has that name.
    pub(crate) fn unused_set_name(&self, base: &str) -> String {
        let mut candidate = base.to_string();
        let mut n = 2;
        while self.sets.iter().any(|s| s.name == candidate) {
            candidate = format!("{base}_{n}");
            n += 1;
        }
        candidate
    }

    pub fn builtin(&self, name: &str) -> Option<Builtin> {
        self.builtins.iter().find(|b| b.name == name).copied()
    }

    pub fn has_chain(&self, name: &str) -> bool {
        self.chains.iter().any(|c| c.name == name)
    }

    fn chain_index(&self, name: &str) -> Option<usize> {
        self.chains.iter().position(|c| c.name == name)
    }

    fn add_builtin(
        &mut self,
        b: Builtin,
        policy: nft::Policy,
        counters: Option<ipt::Counters>,
    ) -> usize {
        self.chains.push(ChainState {
            name: b.name.to_string(),
            base: Some(nft::BaseChain {
                kind: b.kind,
                hook: b.hook,
                priority: b.priority,
                policy,
                counters: policy_counters(counters),
            }),
            rules: Vec::new(),
        });
        self.chains.len() - 1
    }
}

/// Translates one `*table` section; `None` when the table itself is refused.
pub(crate) fn table<H: ipt::Helper>(
    t: ipt::Table,
    family: IpFamily,
    shared: &mut Shared,
    out: &mut Translation,
    two: &TwoThreads<'_, H>,
) -> Option<nft::Table> {
    let diags = &mut out.diagnostics;
    let Some(builtins) = builtins(&t.name) else {
        diags.push(
            Diagnostic::error(
                "translate/unknown-table",
                &t.loc,
                format!("unknown table `{}`", t.name),
            )
            .with_help("iptables tables are filter, nat, mangle, raw and security"),
        );
        return None;
    };
    if let Some(first) = shared.tables.get(&(family, t.name.clone())) {
        diags.push(
            Diagnostic::error(
                "translate/duplicate-table",
                &t.loc,
                format!("table `{}` appears twice (first at {first})", t.name),
            )
            .with_help("merge the two sections into one"),
        );
        return None;
    }
    shared
        .tables
        .insert((family, t.name.clone()), t.loc.clone());

    let mut cx = TableCx {
        table: &t.name,
        nft_table: format!("fwnet_{}", t.name),
        family,
        builtins,
        chains: Vec::new(),
        sets: Vec::new(),
        ipsets: &shared.ipsets,
        names: shared.names.as_deref(),
        negated_owner: &shared.negated_owner,
        nat_locs: Vec::new(),
        synproxy_locs: Vec::new(),
        tproxy_locs: Vec::new(),
        fragment_locs: Vec::new(),
    };

    // iptables-restore reads a section top to bottom; so do we. Each command is dropped once
    // it is translated, so the syntax tree shrinks as the ruleset grows.
    let ipt::Table {
        name: _,
        loc: _,
        chains: decls,
        commands,
    } = t;
    let mut events: Vec<(u32, Event)> = decls
        .into_iter()
        .map(|d| (d.loc.line, Event::Decl(d)))
        .collect();
    events.extend(
        commands
            .into_iter()
            .map(|c| (command_line(&c), Event::Cmd(c))),
    );
    events.sort_by_key(|(line, _)| *line);

    let stats = &mut out.stats;
    let mut registries = (&mut shared.hashlimits, &mut shared.recents);
    let rules = events.iter().filter(|(_, e)| e.rule().is_some()).count();
    if rules == 0 || rules < two.from {
        for (_, event) in events {
            handle(&mut cx, &mut registries, &event, None, stats, diags);
        }
    } else {
        // The second half of the rules is translated ahead on a helper thread (see [`Ahead`])
        // while this one translates the first half.
        let half = events
            .iter()
            .enumerate()
            .filter(|(_, (_, e))| e.rule().is_some())
            .nth(two.at.unwrap_or(rules / 2))
            .map_or(events.len(), |(i, _)| i);
        let later = events.split_off(half);
        let known = user_chains(&events, builtins);
        let allow_approximate = registries.1.allow_approximate;
        let (table, nft_table, ipsets, names) =
            (cx.table, cx.nft_table.clone(), cx.ipsets, cx.names);
        let (later, translated) = std::thread::scope(|scope| {
            two.helper.lend();
            let helper = scope.spawn(|| {
                let _lane = two.helper.enter();
                let chains = known.into_iter().map(|name| ChainState {
                    name,
                    base: None,
                    rules: Vec::new(),
                });
                let ahead_cx = Ahead {
                    table,
                    nft_table,
                    family,
                    builtins,
                    chains: chains.collect(),
                    ipsets,
                    names,
                    allow_approximate,
                };
                ahead_cx.translate(later)
            });
            for (_, event) in events {
                handle(&mut cx, &mut registries, &event, None, stats, diags);
            }
            let done = helper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            two.helper.reclaim();
            done
        });
        let mut translated = translated.into_iter();
        for (_, event) in later {
            let ahead = match event.rule() {
                Some(_) => translated.next().flatten(),
                None => None,
            };
            handle(&mut cx, &mut registries, &event, ahead, stats, diags);
        }
    }

    let mut table = nft::Table {
        family: match family {
            IpFamily::V4 => nft::Family::Ip,
            IpFamily::V6 => nft::Family::Ip6,
        },
        name: cx.nft_table,
        sets: cx.sets,
        ct_helpers: Vec::new(),
        chains: cx
            .chains
            .into_iter()
            .map(|c| nft::Chain {
                name: c.name,
                base: c.base,
                rules: c.rules.into_iter().flatten().collect(),
                family: None,
            })
            .collect(),
    };
    out.stats.rules_refused += crate::nat::finish(&mut table, &cx.nat_locs, &mut out.diagnostics);
    out.stats.rules_refused += crate::ct_helper::finish(&mut table, &mut out.diagnostics);
    out.stats.rules_refused +=
        crate::synproxy::finish(&mut table, &cx.synproxy_locs, &mut out.diagnostics);
    out.stats.rules_refused +=
        crate::tproxy::finish(&mut table, &cx.tproxy_locs, &mut out.diagnostics);
    crate::fragments::warn_input_only(&table, &cx.fragment_locs, &mut out.diagnostics);
    Some(table)
}

/// Tables of at least this many rules are translated on two threads (see [`Ahead`]). Measured
/// on the bench machine (2 vCPUs, `docs/bench/2026-11-28e.md`): a helper often starts a
/// millisecond or more late there, and the 10k-rule import (about 6 ms of translating) took
/// 12% longer split from 2048 rules on; from some 20 ms of translating a second thread pays.
pub(crate) const TWO_THREADS_FROM: usize = 32 << 10;

/// Whether and how [`table`] starts a helper thread.
pub(crate) struct TwoThreads<'h, H> {
    pub helper: &'h H,
    /// The fewest rules a table has for the helper to start.
    pub from: usize,
    /// The index of the first rule the helper translates; `None`: the middle one.
    pub at: Option<usize>,
}

/// A line of a `*table` section, in file order.
enum Event {
    Decl(ipt::ChainDecl),
    Cmd(Command),
}

impl Event {
    fn rule(&self) -> Option<&ipt::Rule> {
        match self {
            Event::Cmd(Command::Append(r) | Command::Insert { rule: r, .. }) => Some(r),
            _ => None,
        }
    }

    fn rule_mut(&mut self) -> Option<&mut ipt::Rule> {
        match self {
            Event::Cmd(Command::Append(r) | Command::Insert { rule: r, .. }) => Some(r),
            _ => None,
        }
    }
}

/// Does what one line of a section says; a rule's translation comes from `ahead` when the
/// helper thread made it.
fn handle(
    cx: &mut TableCx,
    registries: &mut (&mut hashlimit::Registry, &mut crate::recent::Registry),
    event: &Event,
    ahead: Option<Translated>,
    stats: &mut crate::Stats,
    diags: &mut Vec<Diagnostic>,
) {
    match event {
        Event::Decl(d) => declare(cx, d, diags),
        Event::Cmd(Command::NewChain { name, loc }) => new_chain(cx, name, loc, diags),
        Event::Cmd(Command::Policy {
            chain,
            policy,
            counters,
            loc,
        }) => {
            let Some(b) = cx.builtin(chain) else {
                diags.push(
                    Diagnostic::error(
                        "translate/bad-value",
                        loc,
                        format!("`{chain}` is not a built-in chain of table {}", cx.table),
                    )
                    .with_help("only built-in chains have a policy"),
                );
                return;
            };
            let Some(p) = parse_policy(policy, loc, diags) else {
                return;
            };
            match cx.chain_index(chain) {
                Some(i) => {
                    if let Some(base) = &mut cx.chains[i].base {
                        base.policy = p;
                        if counters.is_some() {
                            base.counters = policy_counters(*counters);
                        }
                    }
                }
                None => {
                    cx.add_builtin(b, p, *counters);
                }
            }
        }
        Event::Cmd(Command::Append(r)) => add_rule(cx, registries, r, None, ahead, stats, diags),
        Event::Cmd(Command::Insert { index, rule: r }) => add_rule(
            cx,
            registries,
            r,
            Some(index.unwrap_or(1)),
            ahead,
            stats,
            diags,
        ),
    }
}

/// The user chains every rule from here on can jump to: those the lines so far declare.
fn user_chains(events: &[(u32, Event)], builtins: &[Builtin]) -> Vec<String> {
    let builtin = |name: &str| builtins.iter().any(|b| b.name == name);
    let mut names: Vec<String> = Vec::new();
    for (_, event) in events {
        let name = match event {
            Event::Decl(d) if d.policy.is_none() && !builtin(&d.name) => d.name.as_str(),
            Event::Cmd(Command::NewChain { name, .. }) if !builtin(name) => name.as_str(),
            _ => continue,
        };
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// What `rule::translate` made of a rule, and the diagnostics it gave.
struct Translated {
    rules: Option<Vec<nft::Rule>>,
    diags: Vec<Diagnostic>,
}

/// The helper thread's view of a table whose later half of rules it translates while the
/// calling thread translates the first: the table's user chains as the lines before that half
/// declare them, and nothing else of what translating the first half builds.
///
/// A rule's translation reads the table only for which chains exist (a `-j NAME` jumps to a
/// user chain or names a target), and those the helper knows all exist when any later rule is
/// read; the helper stops at the first line of its half that declares a chain (iptables-save
/// declares every chain first). Every other thing a rule shares with its table is written when
/// read (a set for `-m set`, `hashlimit`, `recent` or `connlimit`, a name in their registries,
/// the places of NAT targets, `-f` and `! --uid-owner`): the helper starts each rule with all
/// of them empty and gives up a rule that leaves any of them otherwise, which the calling
/// thread then translates in its turn. The result is the same as one thread's
/// (`tests/translate_split.rs`).
///
/// The helper owns its half of the syntax tree and frees the options of each rule it
/// translates, so that, as on one thread, a rule's tree is gone once its translation exists;
/// a rule keeps its chain and place, which the calling thread reads to put the translation in.
struct Ahead<'a> {
    table: &'a str,
    nft_table: String,
    family: IpFamily,
    builtins: &'static [Builtin],
    chains: Vec<ChainState>,
    ipsets: &'a [fwnet_iptables::ipset::IpsetFile],
    /// [`crate::Options::names`]: its answers are the same on either thread (`fwnet import`'s
    /// asks the host once for each name, whichever thread asks first).
    names: Option<&'a dyn crate::Resolve>,
    allow_approximate: bool,
}

impl Ahead<'_> {
    /// `events` back, with the options of each rule translated freed, and each rule's
    /// translation, or `None` for one the calling thread must translate.
    fn translate(
        self,
        mut events: Vec<(u32, Event)>,
    ) -> (Vec<(u32, Event)>, Vec<Option<Translated>>) {
        let negated_owner = std::cell::Cell::new(false);
        let mut cx = TableCx {
            table: self.table,
            nft_table: self.nft_table,
            family: self.family,
            builtins: self.builtins,
            chains: self.chains,
            sets: Vec::new(),
            ipsets: self.ipsets,
            names: self.names,
            negated_owner: &negated_owner,
            nat_locs: Vec::new(),
            synproxy_locs: Vec::new(),
            tproxy_locs: Vec::new(),
            fragment_locs: Vec::new(),
        };
        let registries = || {
            let mut recents = crate::recent::Registry::default();
            recents.allow_approximate = self.allow_approximate;
            (hashlimit::Registry::default(), recents)
        };
        let (mut hashlimits, mut recents) = registries();
        let mut out = Vec::with_capacity(events.len());
        let mut declared = false;
        for (_, event) in &mut events {
            // From a line declaring a chain on, the chains the helper knows may be too few.
            declared |= matches!(event, Event::Decl(_) | Event::Cmd(Command::NewChain { .. }));
            let Some(r) = event.rule_mut() else { continue };
            if declared {
                out.push(None);
                continue;
            }
            let mut diags = Vec::new();
            let rules = rule::translate(r, &mut cx, &mut hashlimits, &mut recents, &mut diags);
            let alone = cx.sets.is_empty()
                && cx.nat_locs.is_empty()
                && cx.synproxy_locs.is_empty()
                && cx.tproxy_locs.is_empty()
                && cx.fragment_locs.is_empty()
                && !negated_owner.get()
                && hashlimits.is_empty()
                && recents.is_empty();
            if alone {
                // What `add_rule` would do to each rule on the calling thread.
                let mut rules = rules;
                for rule in rules.iter_mut().flatten() {
                    rule.stmts.shrink_to_fit();
                }
                r.opts = Vec::new();
                out.push(Some(Translated { rules, diags }));
            } else {
                cx.sets.clear();
                cx.nat_locs.clear();
                cx.synproxy_locs.clear();
                cx.tproxy_locs.clear();
                cx.fragment_locs.clear();
                negated_owner.set(false);
                (hashlimits, recents) = registries();
                out.push(None);
            }
        }
        (events, out)
    }
}

fn command_line(c: &Command) -> u32 {
    match c {
        Command::Append(r) | Command::Insert { rule: r, .. } => r.loc.line,
        Command::NewChain { loc, .. } | Command::Policy { loc, .. } => loc.line,
    }
}

fn parse_policy(p: &str, loc: &ipt::diag::Loc, diags: &mut Vec<Diagnostic>) -> Option<nft::Policy> {
    match p {
        "ACCEPT" => Some(nft::Policy::Accept),
        "DROP" => Some(nft::Policy::Drop),
        _ => {
            diags.push(
                Diagnostic::error(
                    "translate/bad-value",
                    loc,
                    format!("unsupported policy `{p}`"),
                )
                .with_help("a built-in chain's policy is ACCEPT or DROP"),
            );
            None
        }
    }
}

fn declare(cx: &mut TableCx, d: &ipt::ChainDecl, diags: &mut Vec<Diagnostic>) {
    if cx.has_chain(&d.name) {
        diags.push(Diagnostic::error(
            "translate/duplicate-chain",
            &d.loc,
            format!("chain `{}` is declared twice", d.name),
        ));
        return;
    }
    match (cx.builtin(&d.name), &d.policy) {
        (Some(b), Some(p)) => {
            if let Some(p) = parse_policy(p, &d.loc, diags) {
                cx.add_builtin(b, p, d.counters);
            }
        }
        (Some(b), None) => {
            diags.push(
                Diagnostic::warning(
                    "translate/builtin-without-policy",
                    &d.loc,
                    format!("built-in chain `{}` is declared with policy `-`", d.name),
                )
                .with_help("iptables-restore keeps the chain's current policy; fwnet uses ACCEPT, the policy of a fresh kernel"),
            );
            cx.add_builtin(b, nft::Policy::Accept, d.counters);
        }
        (None, Some(p)) => diags.push(
            Diagnostic::error(
                "translate/bad-value",
                &d.loc,
                format!("user-defined chain `{}` cannot have policy `{p}`", d.name),
            )
            .with_help(format!(
                "table {} has no built-in chain of that name; declare it as `:{} - [0:0]`",
                cx.table, d.name
            )),
        ),
        (None, None) => add_user_chain(cx, &d.name, &d.loc, diags),
    }
}

fn new_chain(cx: &mut TableCx, name: &str, loc: &ipt::diag::Loc, diags: &mut Vec<Diagnostic>) {
    if cx.has_chain(name) || cx.builtin(name).is_some() {
        diags.push(Diagnostic::error(
            "translate/duplicate-chain",
            loc,
            format!("`-N {name}`: chain `{name}` already exists"),
        ));
        return;
    }
    add_user_chain(cx, name, loc, diags);
}

fn add_user_chain(cx: &mut TableCx, name: &str, loc: &ipt::diag::Loc, diags: &mut Vec<Diagnostic>) {
    if fwnet_nft::print::needs_quoting(name) {
        diags.push(
            Diagnostic::warning(
                "translate/chain-name-quoted",
                loc,
                format!("chain name `{name}` is not an nft 1.0.6 identifier; `fwnet show` prints it quoted, which nft 1.0.6 cannot load"),
            )
            .with_help("the kernel accepts the name and `fwnet apply` works; rename the chain if the text form must load with nft 1.0.6"),
        );
    }
    cx.chains.push(ChainState {
        name: name.to_string(),
        base: None,
        rules: Vec::new(),
    });
}

/// The index of the chain a rule goes into, creating an undeclared built-in chain (policy
/// accept, as on a fresh kernel).
fn rule_chain(cx: &mut TableCx, r: &ipt::Rule, diags: &mut Vec<Diagnostic>) -> Option<usize> {
    if let Some(i) = cx.chain_index(&r.chain) {
        return Some(i);
    }
    if let Some(b) = cx.builtin(&r.chain) {
        return Some(cx.add_builtin(b, nft::Policy::Accept, None));
    }
    diags.push(
        Diagnostic::error(
            "translate/undeclared-chain",
            &r.loc,
            format!("chain `{}` does not exist in table {}", r.chain, cx.table),
        )
        .with_help(format!(
            "declare it with `:{} - [0:0]` before its rules",
            r.chain
        )),
    );
    None
}

/// Policy counters go to the kernel only when they count something: a fresh base chain starts
/// at zero anyway, and nft's own dumps then look alike.
fn policy_counters(c: Option<ipt::Counters>) -> Option<nft::Counters> {
    c.filter(|c| c.packets != 0 || c.bytes != 0)
        .map(|c| nft::Counters {
            packets: c.packets,
            bytes: c.bytes,
        })
}

/// Translates one `-A` (`insert_at` None) or `-I CHAIN N` rule into its chain, counting it in the
/// stats; an `-I` index past the end of the chain so far is an error, as in iptables-restore.
/// `ahead` is the rule's translation when the helper thread made it.
fn add_rule(
    cx: &mut TableCx,
    (hashlimits, recents): &mut (&mut hashlimit::Registry, &mut crate::recent::Registry),
    r: &ipt::Rule,
    insert_at: Option<u32>,
    ahead: Option<Translated>,
    stats: &mut crate::Stats,
    diags: &mut Vec<Diagnostic>,
) {
    stats.rules_in += 1;
    let Some(i) = rule_chain(cx, r, diags) else {
        stats.rules_refused += 1;
        return;
    };
    let len = cx.chains[i].rules.len();
    if let Some(n) = insert_at.filter(|n| *n == 0 || *n as usize > len + 1) {
        diags.push(
            Diagnostic::error(
                "translate/bad-value",
                &r.loc,
                format!(
                    "`-I {} {n}`: chain {} has {len} rules at this point, so the index must be 1 to {}",
                    r.chain,
                    r.chain,
                    len + 1
                ),
            )
            .with_help("iptables counts rule positions from 1; use -A to append"),
        );
        stats.rules_refused += 1;
        return;
    }
    // An address list gives several kernel rules; `-I N` inserts each of them at N in turn,
    // so they end up in reverse order, as iptables-restore leaves them.
    let translated = match ahead {
        Some(mut t) => {
            diags.append(&mut t.diags);
            t.rules
        }
        None => rule::translate(r, cx, hashlimits, recents, diags),
    };
    let mut place = |rule: Option<nft::Rule>| match insert_at {
        Some(n) => cx.chains[i].rules.insert(n as usize - 1, rule),
        None => cx.chains[i].rules.push(rule),
    };
    match translated {
        Some(rules) => {
            for mut rule in rules {
                // Statements are appended as the rule's options are read; a 100k-rule import
                // keeps every rule until it is stored, so the spare room is given back now.
                rule.stmts.shrink_to_fit();
                place(Some(rule));
            }
        }
        None => {
            stats.rules_refused += 1;
            place(None);
        }
    }
}

/// A user-given name (hashlimit or recent list) as an nft identifier: characters other than
/// ASCII letters, digits and `_` become `_`.
pub(crate) fn identifier(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
