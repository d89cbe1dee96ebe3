//! iptables ASTs in, fwnet's nftables-shaped IR out, with every diagnostic.
//!
//! Each iptables table becomes one nft table named `fwnet_<table>` in family `ip` or `ip6`;
//! built-in chains become base chains with the kernel's hook priorities; user chains become
//! regular chains; each rule keeps its counters, its comment and its origin line. Knowledge of
//! what an option means lives in one module per iptables extension (`tcp.rs`, `hashlimit.rs`,
//! `reject.rs` ...), named as iptables names it; `rule.rs` decides which extension an option
//! belongs to, the way iptables itself does.
//!
//! The translation is exact or it is refused: a rule with any part fwnet cannot translate
//! exactly yields an error naming the file, line and column, and the caller must not use a
//! [`Translation`] that has errors. Warnings mark changes that do not alter what the firewall
//! does (a shortened comment, normalised host bits). This crate does no I/O.

mod addrtype;
mod chain;
mod checksum;
mod classify;
mod comment;
mod connlimit;
mod connmark;
mod conntrack;
mod ct;
mod ct_helper;
mod dscp;
mod ecn;
mod frag;
mod fragments;
mod hashlimit;
mod hbh;
mod icmp;
mod icmp6;
mod ip;
mod iprange;
mod length;
mod limit;
mod log;
mod mac;
mod mark;
mod multiport;
mod names;
mod nat;
mod nflog;
mod notrack;
mod owner;
mod pkttype;
mod policy;
mod port;
mod recent;
mod reject;
mod rpfilter;
mod rt;
mod rule;
mod set;
mod state;
mod statistic;
mod synproxy;
mod tcp;
mod tcpmss;
mod time;
mod tos;
mod tproxy;
mod ttl;
mod u32;
mod udp;

pub use ct_helper::{parse_iptables_config, IptablesConfig};
pub use fragments::tracks_connections;
use fwnet_iptables::{Diagnostic, Ruleset as IptRuleset};
use fwnet_nft as nft;
pub use names::{Names, Resolve};
use serde::Serialize;

/// The address family of an iptables-save file: `iptables-save` or `ip6tables-save` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum IpFamily {
    V4,
    V6,
}

/// One parsed file and the family it is for.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub ruleset: &'a IptRuleset,
    pub family: IpFamily,
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Emit marked approximations instead of refusing: recent lists that must keep entries of
    /// any age become sets that never forget (warning `translate/approximate`, rule comment).
    pub allow_approximate: bool,
    /// The conntrack helper modules CentOS 6 loaded (`/etc/sysconfig/iptables-config`): each
    /// helper gets a `ct helper` object and rules assigning it on its default ports, as
    /// `nf_conntrack_helper=1` did. Without it, a ruleset that seems to rely on that gets a
    /// warning (`translate/ct-helper-not-assigned`).
    pub iptables_config: Option<IptablesConfig>,
    /// Who answers for the rules' user, group and host names, as the host that loads them
    /// would ([`names`](crate::Resolve)). `None`: names are refused, with a pointer to the number.
    pub names: Option<std::sync::Arc<dyn Resolve>>,
}

/// The result of [`translate`]. Unusable when `diagnostics` holds an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Translation {
    pub ruleset: nft::Ruleset,
    pub diagnostics: Vec<Diagnostic>,
    pub stats: Stats,
}

impl Translation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// `-A` and `-I` lines read.
    pub rules_in: usize,
    /// Rules in the output.
    pub rules_out: usize,
    /// Rules with at least one error (not in the output).
    pub rules_refused: usize,
    pub tables: usize,
    pub chains: usize,
    pub sets: usize,
}

/// Translates every input into one ruleset and reports every problem found.
pub fn translate(inputs: &[Input], opts: &Options) -> Translation {
    translate_with_sets(inputs, &[], opts)
}

/// [`translate`], with the `ipset save` files whose sets `-m set` may name.
pub fn translate_with_sets(
    inputs: &[Input],
    ipsets: &[fwnet_iptables::ipset::IpsetFile],
    opts: &Options,
) -> Translation {
    let owned = inputs
        .iter()
        .map(|i| OwnedInput {
            ruleset: i.ruleset.clone(),
            family: i.family,
        })
        .collect();
    translate_owned(owned, ipsets, opts)
}

/// One parsed file, given to [`translate_owned`].
#[derive(Clone, Debug)]
pub struct OwnedInput {
    pub ruleset: IptRuleset,
    pub family: IpFamily,
}

/// [`translate_with_sets`], releasing each rule's syntax tree as soon as it is translated: the
/// tree of a 100k-rule file is larger than the ruleset it becomes, and holding both was most of
/// `fwnet import`'s peak memory.
pub fn translate_owned(
    inputs: Vec<OwnedInput>,
    ipsets: &[fwnet_iptables::ipset::IpsetFile],
    opts: &Options,
) -> Translation {
    let mut out = Translation::default();
    let mut shared = chain::Shared::default();
    shared.ipsets = ipsets.to_vec();
    shared.recents.allow_approximate = opts.allow_approximate;
    shared.names = opts.names.clone();
    let any_v4 = inputs.iter().any(|i| i.family == IpFamily::V4);
    let helper_candidates: Vec<ct_helper::Unassigned> = match &opts.iptables_config {
        Some(_) => Vec::new(),
        None => inputs
            .iter()
            .flat_map(|i| ct_helper::unassigned_candidates(&i.ruleset, i.family))
            .collect(),
    };
    for input in inputs {
        for table in input.ruleset.tables {
            if let Some(t) = chain::table(table, input.family, &mut shared, &mut out) {
                out.ruleset.tables.push(t);
            }
        }
    }
    hashlimit::finish(&shared.hashlimits, &mut out.diagnostics);
    recent::finish(&shared.recents, &mut out);
    if shared.negated_owner.get() {
        owner::finish(&mut out);
    }
    set::finish(ipsets, &mut out);
    match &opts.iptables_config {
        Some(cfg) if any_v4 => ct_helper::assign_by_port(&mut out.ruleset, cfg),
        Some(_) => {}
        None => ct_helper::warn_unassigned(&helper_candidates, &out.ruleset, &mut out.diagnostics),
    }
    fragments::guard_transport_tests(&mut out.ruleset);
    for t in &out.ruleset.tables {
        out.stats.tables += 1;
        out.stats.chains += t.chains.len();
        out.stats.sets += t.sets.len();
        out.stats.rules_out += t.chains.iter().map(|c| c.rules.len()).sum::<usize>();
    }
    out
}

/// How many approximations `diags` report emitting (`--allow-approximate`): the warnings with
/// code `translate/approximate` (a refusal for want of that option is an error of that code).
pub fn approximations(diags: &[Diagnostic]) -> usize {
    diags
        .iter()
        .filter(|d| !d.is_error() && d.code == "translate/approximate")
        .count()
}

/// The family of a file: [`family_of`] without its warning.
pub fn detect_family(rs: &IptRuleset) -> IpFamily {
    family_of(rs).0
}

/// Decides whether a file is iptables (IPv4) or ip6tables (IPv6) input, from the best evidence
/// there is, in order:
/// 1. the `# Generated by ip6tables-save` / `iptables-save` comment;
/// 2. the content: IPv6 addresses, `icmpv6`/`ipv6-icmp` protocols, the `icmp6` match, the IPv6
///    extension header matches (`rt`, `frag`, `hbh`, `dst`, `ipv6header`), `--icmpv6-type` or
///    `--reject-with icmp6-*` make it IPv6; dotted IPv4 addresses, `-p icmp`, `--icmp-type` or
///    `--reject-with icmp-*` make it IPv4;
/// 3. the file name: `ip6tables`, `ipv6` or `v6` in it make it IPv6 (`/etc/sysconfig/ip6tables`,
///    `rules.v6`), `iptables`, `ipv4` or `v4` IPv4.
///
/// A file with none of these is read as IPv4, with a `translate/family-guessed` warning: an
/// ip6tables file read as IPv4 would filter the wrong traffic.
pub fn family_of(rs: &IptRuleset) -> (IpFamily, Option<Diagnostic>) {
    match rs.saved_by.as_deref() {
        Some("ip6tables-save") => return (IpFamily::V6, None),
        Some("iptables-save") => return (IpFamily::V4, None),
        _ => {}
    }
    for rule in rs
        .tables
        .iter()
        .flat_map(|t| &t.commands)
        .filter_map(|cmd| match cmd {
            fwnet_iptables::Command::Append(r)
            | fwnet_iptables::Command::Insert { rule: r, .. } => Some(r),
            _ => None,
        })
    {
        for o in &rule.opts {
            let any_of = |a: &str, names: &[&str]| names.iter().any(|n| a.eq_ignore_ascii_case(n));
            let address = matches!(
                o.name.as_str(),
                "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst"
            );
            let protocol = matches!(o.name.as_str(), "-p" | "--protocol");
            for a in &o.args {
                let v6 = (address && a.contains(':'))
                    || any_of(a, &["icmpv6", "ipv6-icmp", "icmp6"])
                        && (protocol || matches!(o.name.as_str(), "-m" | "--match"))
                    || any_of(a, &["rt", "frag", "hbh", "dst", "ipv6header"])
                        && matches!(o.name.as_str(), "-m" | "--match")
                    || a.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("icmp6-"))
                    || o.name == "--icmpv6-type";
                if v6 {
                    return (IpFamily::V6, None);
                }
                // A file with evidence of both families is for neither tool; the first
                // evidence decides.
                if (address && a.contains('.'))
                    || protocol && any_of(a, &["icmp", "1"])
                    || o.name == "--reject-with" && a.starts_with("icmp-")
                    || o.name == "--icmp-type"
                {
                    return (IpFamily::V4, None);
                }
            }
        }
    }
    let base = std::path::Path::new(&rs.file)
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ["ip6tables", "ipv6", "v6"].iter().any(|k| base.contains(k)) {
        return (IpFamily::V6, None);
    }
    if ["iptables", "ipv4", "v4"].iter().any(|k| base.contains(k)) {
        return (IpFamily::V4, None);
    }
    let warning = Diagnostic {
        severity: fwnet_iptables::Severity::Warning,
        code: "translate/family-guessed",
        file: rs.file.clone(),
        line: 1,
        column: 1,
        message: "nothing in this file says whether it is iptables (IPv4) or ip6tables (IPv6) \
                  input: no `# Generated by` line, no address or ICMP type of either family, \
                  and a name without `ip6tables`, `v6`, `iptables` or `v4`; it is read as IPv4"
            .into(),
        help: Some(
            "pass `--family 6` if this is an ip6tables file, `--family 4` to silence this".into(),
        ),
    };
    (IpFamily::V4, Some(warning))
}
