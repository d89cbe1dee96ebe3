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
    /// How many rule lines each chain has, counted before any is translated: a chain's rules
    /// are then allocated once, at their size, not doubled and copied as they come.
    rule_lines: Vec<(String, usize)>,
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
pub(crate) fn table(
    t: ipt::Table,
    family: IpFamily,
    shared: &mut Shared,
    out: &mut Translation,
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
        rule_lines: Vec::new(),
    };

    // iptables-restore reads a section top to bottom; so do we. Each command is dropped once
    // it is translated, so the syntax tree shrinks as the ruleset grows.
    enum Event {
        Decl(ipt::ChainDecl),
        Cmd(Command),
    }
    let ipt::Table {
        name: _,
        loc: _,
        chains: decls,
        commands,
    } = t;
    // A table has a few chains, and its rules go to the one of the rule before or to one
    // of the others: a short list, searched from the last one found.
    let mut lines: Vec<(&str, usize)> = Vec::new();
    let mut last = 0;
    for c in &commands {
        let (Command::Append(r) | Command::Insert { rule: r, .. }) = c else {
            continue;
        };
        let chain = r.chain.as_str();
        if lines.get(last).is_none_or(|(name, _)| *name != chain) {
            last = match lines.iter().position(|(name, _)| *name == chain) {
                Some(i) => i,
                None => {
                    lines.push((chain, 0));
                    lines.len() - 1
                }
            };
        }
        lines[last].1 += 1;
    }
    cx.rule_lines = lines.into_iter().map(|(c, n)| (c.to_string(), n)).collect();
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
    for (_, event) in events {
        match &event {
            Event::Decl(d) => declare(&mut cx, d, diags),
            Event::Cmd(Command::NewChain { name, loc }) => new_chain(&mut cx, name, loc, diags),
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
                            format!("`{chain}` is not a built-in chain of table {}", t.name),
                        )
                        .with_help("only built-in chains have a policy"),
                    );
                    continue;
                };
                let Some(p) = parse_policy(policy, loc, diags) else {
                    continue;
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
            Event::Cmd(Command::Append(r)) => {
                add_rule(&mut cx, &mut registries, r, None, stats, diags)
            }
            Event::Cmd(Command::Insert { index, rule: r }) => add_rule(
                &mut cx,
                &mut registries,
                r,
                Some(index.unwrap_or(1)),
                stats,
                diags,
            ),
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
fn add_rule(
    cx: &mut TableCx,
    (hashlimits, recents): &mut (&mut hashlimit::Registry, &mut crate::recent::Registry),
    r: &ipt::Rule,
    insert_at: Option<u32>,
    stats: &mut crate::Stats,
    diags: &mut Vec<Diagnostic>,
) {
    stats.rules_in += 1;
    let Some(i) = rule_chain(cx, r, diags) else {
        stats.rules_refused += 1;
        return;
    };
    if cx.chains[i].rules.capacity() == 0 {
        let lines = cx.rule_lines.iter().find(|(c, _)| *c == r.chain.as_str());
        cx.chains[i]
            .rules
            .reserve_exact(lines.map_or(0, |(_, n)| *n));
    }
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
    let translated = rule::translate(r, cx, hashlimits, recents, diags);
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
