//! The SSH lockout guard of `fwnet apply`: before the new ruleset goes in, find the SSH sessions
//! this host serves (`fwnet_apply::lockout`) and run their packets through the new ruleset
//! (`fwnet_nft::eval`); refuse when one would be cut, naming the rule, unless the user chose
//! `--force` or `--confirm`.
//!
//! A session's packets are judged as established TCP segments with ACK: client to server on
//! prerouting and input, server to client on output and postrouting, in fwnet's tables only.
//! It does not look at other tables (they do not change), at new connections, or at whether
//! conntrack already tracks the session.

use crate::cmd::{family_name, ApplyOpts};
use crate::exit;
use fwnet_apply::lockout::{ssh_sessions, SshSession};
use fwnet_nft::eval::{self, DecidedBy, Device, Outcome, Packet, Verdict};
use fwnet_nft::{ct_state, tcp_flag, Hook, Ruleset};
use std::net::IpAddr;

/// How long `--confirm` should be when fwnet suggests it.
const SUGGESTED_CONFIRM_SECS: u64 = 120;

/// What one direction of one session gets from the new ruleset.
struct Finding<'a> {
    session: &'a SshSession,
    /// "from the client" or "to the client".
    direction: &'static str,
    outcome: Outcome,
}

/// Checks `rs` against the SSH sessions of this namespace. Returns the exit code to stop with
/// (only [`exit::LOCKOUT`], when a session would be cut and none of `--check`, `--force`,
/// `--confirm`, `--boot` is given); otherwise prints what it found as warnings and returns
/// `None`.
pub fn guard(rs: &Ruleset, opts: &ApplyOpts) -> Option<u8> {
    let (check, confirm) = (opts.check, opts.confirm);
    // At boot nobody is logged in over the new ruleset; a unit restarted over SSH warns.
    let force = opts.force || opts.boot;
    let sessions = match ssh_sessions() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fwnet: warning: cannot look for SSH sessions to protect ({e}); the lockout check is skipped");
            return None;
        }
    };
    let findings: Vec<Finding> = sessions.iter().flat_map(|s| judge(rs, s)).collect();
    let (cut, unsure): (Vec<&Finding>, Vec<&Finding>) = findings
        .iter()
        .filter(|f| f.outcome.verdict != Verdict::Accept)
        .partition(|f| f.outcome.verdict == Verdict::Drop);
    for f in &unsure {
        let why = f
            .outcome
            .unknown
            .map_or("something fwnet cannot evaluate".to_string(), |u| {
                u.to_string()
            });
        eprintln!(
            "fwnet: warning: SSH session {}: whether packets {} pass depends on {why} in {}: the session may be cut",
            session_text(f.session),
            f.direction,
            place(rs, f.outcome.decided_by.as_ref())
        );
    }
    if !unsure.is_empty() && cut.is_empty() && confirm.is_none() && !check {
        eprintln!("  to be safe: fwnet apply --confirm {SUGGESTED_CONFIRM_SECS}");
    }
    if cut.is_empty() {
        return None;
    }
    let lead = if check {
        "fwnet: warning: applying this ruleset would cut SSH sessions to this host; `fwnet apply` will refuse it"
    } else if force {
        "fwnet: warning: this ruleset cuts SSH sessions to this host; applying anyway (--force)"
    } else if confirm.is_some() {
        "fwnet: warning: this ruleset cuts SSH sessions to this host; applying because of --confirm"
    } else {
        "fwnet: refusing to apply: the new ruleset would cut SSH sessions to this host"
    };
    eprintln!("{lead}");
    for f in &cut {
        eprintln!(
            "  session {}: packets {} are cut by",
            session_text(f.session),
            f.direction
        );
        eprintln!("    {}", place(rs, f.outcome.decided_by.as_ref()));
        if let Some(text) = rule_text(rs, f.outcome.decided_by.as_ref()) {
            eprintln!("      {text}");
        }
    }
    if let (Some(secs), false) = (confirm, check) {
        eprintln!("  if it is cut, the previous ruleset comes back by itself after {secs} s (you cannot `fwnet confirm` over this session)");
        return None;
    }
    if force {
        return None;
    }
    eprintln!("  to go ahead:");
    eprintln!("    fwnet apply --confirm {SUGGESTED_CONFIRM_SECS}   apply, and put the previous ruleset back by itself unless `fwnet confirm` runs within {SUGGESTED_CONFIRM_SECS} s");
    eprintln!("    fwnet apply --force         apply anyway");
    (!check).then_some(exit::LOCKOUT)
}

/// The session, marked "(this session)" when `$SSH_CONNECTION` names it.
fn session_text(s: &SshSession) -> String {
    let env = std::env::var("SSH_CONNECTION").unwrap_or_default();
    let mut f = env.split_whitespace();
    let ours = match (f.next().and_then(|a| a.parse::<IpAddr>().ok()), f.next()) {
        (Some(a), Some(p)) => a.to_canonical() == s.client.ip() && p == s.client.port().to_string(),
        _ => false,
    };
    if ours {
        format!("{s} (this session)")
    } else {
        s.to_string()
    }
}

/// Both directions of `s`, through the hooks each crosses.
fn judge<'a>(rs: &Ruleset, s: &'a SshSession) -> Vec<Finding<'a>> {
    let iface = match &s.iface {
        Some(i) => Device::Name(i.clone()),
        None => Device::Unknown,
    };
    let flags = tcp_flag::ACK as u8;
    let est = ct_state::ESTABLISHED;
    let (c, v) = (s.client, s.server);
    let mut inbound = Packet::tcp(c.ip(), c.port(), v.ip(), v.port(), flags, est);
    inbound.iifname = iface.clone();
    let mut outbound = Packet::tcp(v.ip(), v.port(), c.ip(), c.port(), flags, est);
    outbound.oifname = iface;
    vec![
        Finding {
            session: s,
            direction: "from the client",
            outcome: path(rs, &[Hook::Prerouting, Hook::Input], &inbound),
        },
        Finding {
            session: s,
            direction: "to the client",
            outcome: path(rs, &[Hook::Output, Hook::Postrouting], &outbound),
        },
    ]
}

/// The hooks a packet crosses in order: a drop on any is final.
fn path(rs: &Ruleset, hooks: &[Hook], p: &Packet) -> Outcome {
    let mut unsure = None;
    let mut last = None;
    for h in hooks {
        let o = eval::hook(rs, *h, p);
        match o.verdict {
            Verdict::Drop => return o,
            Verdict::Unknown => {
                unsure.get_or_insert(o);
            }
            Verdict::Accept => last = Some(o),
        }
    }
    unsure.or(last).unwrap_or(Outcome {
        verdict: Verdict::Accept,
        decided_by: None,
        unknown: None,
        nat: None,
    })
}

/// "the rule at rules.v4:12 (chain INPUT, table ip fwnet_filter)", "rule 3 (chain ...)" when
/// the rule has no origin, or "the policy (drop) of chain INPUT, table ip fwnet_filter".
fn place(rs: &Ruleset, d: Option<&DecidedBy>) -> String {
    let Some(d) = d else {
        return "an unknown place".into();
    };
    let chain = format!(
        "chain {}, table {} {}",
        d.chain,
        family_name(d.family),
        d.table
    );
    match (d.rule, &d.origin) {
        (Some(_), Some(o)) => format!("the rule at {o} ({chain})"),
        (Some(i), None) => format!("rule {} ({chain})", i + 1),
        (None, _) => {
            let policy = find_chain(rs, d)
                .and_then(|c| c.base.as_ref())
                .map_or("?", |b| match b.policy {
                    fwnet_nft::Policy::Accept => "accept",
                    fwnet_nft::Policy::Drop => "drop",
                });
            format!("the policy ({policy}) of {chain}")
        }
    }
}

fn find_chain<'a>(rs: &'a Ruleset, d: &DecidedBy) -> Option<&'a fwnet_nft::Chain> {
    rs.tables
        .iter()
        .find(|t| t.family == d.family && t.name == d.table)?
        .chains
        .iter()
        .find(|c| c.name == d.chain)
}

/// The nft text of the deciding rule, if a rule decided.
fn rule_text(rs: &Ruleset, d: Option<&DecidedBy>) -> Option<String> {
    let d = d?;
    let rule = find_chain(rs, d)?.rules.get(d.rule?)?;
    Some(fwnet_nft::print::rule_text(rule))
}
