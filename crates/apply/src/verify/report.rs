//! What verification returns: plain data, serializable for `fwnet verify --json`.
//!
//! This module computes nothing; `run` fills it in and the CLI prints it.

use super::probes::Probe;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The verdict one side gave a probe, observed in its server namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    Accept,
    Drop,
    /// Some packets of a burst got through, the rest did not.
    Partial {
        accepted: u32,
        sent: u32,
    },
    /// The probe never reached the server's IP layer: the harness failed, not the ruleset.
    NotReceived,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Accept => f.pad("accept"),
            Verdict::Drop => f.pad("drop"),
            Verdict::Partial { accepted, sent } => f.pad(&format!("accept {accepted}/{sent}")),
            Verdict::NotReceived => f.pad("NOT RECEIVED"),
        }
    }
}

/// A rule whose packet counter moved while a probe ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleHit {
    pub chain: String,
    /// Position in the chain, from 0; `None` for the chain's policy.
    pub index: Option<usize>,
    pub packets: u64,
    /// `file:line` of the original rule.
    pub origin: Option<String>,
    /// The rule as that side holds it: iptables-save syntax (legacy) or nft syntax (fwnet).
    pub text: String,
    /// The rule ends evaluation (accept, drop, reject): it decided the verdict.
    pub terminal: bool,
    /// A nat rule (chain `nat CHAIN`) that gives a mapping (DNAT, SNAT, MASQUERADE, REDIRECT).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub maps: bool,
}

/// A probe's connection in the server's conntrack table ([`Side::conntrack`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tracked {
    /// No entry, nor any that ended during the probe: a `notrack` rule's doing, or a packet
    /// conntrack opens no connection for (an INVALID one).
    NoEntry,
    /// An entry, with what rules may have set in it: 0 and `None` where nothing was.
    Entry {
        mark: u32,
        zone: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        helper: Option<String>,
    },
}

impl Tracked {
    /// What an outcome says of it: `no ct entry`, else what is not the default (`ct mark
    /// 0x2`, `ct zone 1`, `ct helper ftp`), nothing for a plain entry.
    pub fn parts(&self) -> Vec<String> {
        match self {
            Tracked::NoEntry => vec!["no ct entry".into()],
            Tracked::Entry { mark, zone, helper } => {
                let mut v = Vec::new();
                if *mark != 0 {
                    v.push(format!("ct mark {mark:#x}"));
                }
                if *zone != 0 {
                    v.push(format!("ct zone {zone}"));
                }
                if let Some(h) = helper {
                    v.push(format!("ct helper {h}"));
                }
                v
            }
        }
    }
}

/// One side's answer to one probe.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    pub verdict: Verdict,
    /// What NAT changed in the probe's first packet that got through (`dst 10.0.0.5:80`,
    /// `src 10.77.1.1`); compared like the verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewritten: Option<String>,
    /// The packet mark (`-j MARK`, `meta mark set`) the probe's first packet that got through
    /// carried when the server let it through, where not 0; compared like the verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<u32>,
    /// The TOS byte (IPv6: traffic class) of that packet, where the ruleset changed it (`-j
    /// DSCP`, `-j TOS`: probes are sent with 0); compared like the verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos: Option<u8>,
    /// Its TTL (IPv6: hop limit), where not what the kernel alone makes of the probe's (the
    /// same, one less when routed): a `-j TTL`/`-j HL` rule's doing; compared like the verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    /// The conntrack entry of that packet's connection, in files whose rules write into
    /// entries (`-j CT`, `-j NOTRACK`, `-j CONNMARK`); compared like the verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conntrack: Option<Tracked>,
    /// Every rule of the path's base chain (and the chains it reaches) whose counter moved, in
    /// chain order, then those of the nat chains the path meets (`nat PREROUTING`, ...).
    pub hits: Vec<RuleHit>,
}

impl Side {
    /// The verdict, what NAT changed, the packet's mark and the header fields the ruleset
    /// rewrote: `accept`, `accept, dst 10.0.0.5:80`, `accept, mark 0x10`, `accept, tos 0xb8,
    /// ttl 65`.
    pub fn outcome(&self) -> String {
        let mut s = self.verdict.to_string();
        if let Some(r) = &self.rewritten {
            s.push_str(&format!(", {r}"));
        }
        if let Some(m) = self.mark {
            s.push_str(&format!(", mark {m:#x}"));
        }
        if let Some(t) = self.tos {
            s.push_str(&format!(", tos {t:#04x}"));
        }
        if let Some(t) = self.ttl {
            s.push_str(&format!(", ttl {t}"));
        }
        if let Some(t) = &self.conntrack {
            for part in t.parts() {
                s.push_str(&format!(", {part}"));
            }
        }
        s
    }

    /// Whether `other` got the same verdict, mapping, mark and header fields.
    pub fn same_as(&self, other: &Side) -> bool {
        self.verdict == other.verdict
            && self.rewritten == other.rewritten
            && self.mark == other.mark
            && self.tos == other.tos
            && self.ttl == other.ttl
            && self.conntrack == other.conntrack
    }

    /// The rules that decided: the terminal hits, else the policy hit; empty when unknown.
    pub fn deciders(&self) -> Vec<&RuleHit> {
        let t: Vec<&RuleHit> = self.hits.iter().filter(|h| h.terminal).collect();
        if t.is_empty() {
            self.hits.iter().filter(|h| h.index.is_none()).collect()
        } else {
            t
        }
    }

    /// The nat rules that gave the probe its mapping, as [`Side::decided_by`] names rules; None
    /// when no nat rule with a mapping counted it.
    pub fn mapped_by(&self) -> Option<String> {
        let m: Vec<String> = self
            .hits
            .iter()
            .filter(|h| h.maps)
            .map(|h| match &h.origin {
                Some(o) => format!("{o}: {}", h.text),
                None => format!("{}: {}", h.chain, h.text),
            })
            .collect();
        (!m.is_empty()).then(|| m.join("; "))
    }

    /// One line naming what decided, e.g. `rules:9 iifname "lo" accept` or `the policy of
    /// INPUT`; `chain` is the base chain of the probe's path, named when no counter moved.
    pub fn decided_by(&self, chain: &str) -> String {
        let d = self.deciders();
        if d.is_empty() {
            return format!("the policy of {chain} (no rule's counter moved)");
        }
        d.iter()
            .map(|h| match (h.index, &h.origin) {
                (None, _) => format!("the policy of {}", h.chain),
                (Some(_), Some(o)) => format!("{o}: {}", h.text),
                (Some(i), None) => format!("rule {} of {}: {}", i + 1, h.chain, h.text),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ProbeResult {
    pub probe: Probe,
    /// The probe in `--probes` file syntax.
    pub text: String,
    pub legacy: Side,
    pub fwnet: Side,
    pub same: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    pub setup_ms: u64,
    pub probes_ms: u64,
    pub total_ms: u64,
}

/// A rule whose probes never reached it (its legacy counter did not move).
#[derive(Clone, Debug, Serialize)]
pub struct Unreached {
    /// `file:line` of the rule.
    pub origin: String,
    /// What decided its probes instead: `file:line` of a rule, `the policy of INPUT`,
    /// `nothing that counted it` (the kernel dropped them), or, for `-f` on INPUT, the
    /// kernel's reassembly (`run::REASSEMBLED`).
    pub decided_by: Vec<String>,
}

/// The whole verification.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub results: Vec<ProbeResult>,
    pub mismatches: usize,
    /// `net.netfilter.nf_conntrack_tcp_loose` in both server namespaces during the run.
    pub tcp_loose: Option<bool>,
    /// Rules no probe was derived for, with the reason.
    pub uncovered: Vec<String>,
    /// Rules left without a probe because the probe cap (`cap`) was reached first.
    pub capped: Vec<String>,
    /// The most probes derived from the rules (`fwnet verify --max-probes`).
    pub cap: usize,
    /// What this run did not verify (chains, tables, families).
    pub not_verified: Vec<String>,
    /// The nat rules (`file:line`) whose mapping no probe showed, even played again with the
    /// filter tables emptied: their packets are dropped elsewhere (mangle, raw), never reach
    /// them, or are not played, so their mapping is not verified.
    pub nat_unseen: Vec<String>,
    /// Those of `nat_unseen` that repeat an earlier rule of their chain word for word, each
    /// with that rule (`file:line`): it takes every packet first, so they can never map one.
    pub nat_repeats: BTreeMap<String, String>,
    /// Rules probes were derived from that no probe reached on the legacy side: something
    /// decided their probes first, so their own behaviour is not verified.
    pub unreached: Vec<Unreached>,
    /// With `keep`: the commands that remove the namespaces.
    pub kept: Vec<String>,
    /// The test-only mutation applied to fwnet's side, if any.
    pub mutation: Option<String>,
    /// Why verification was rerun from fresh namespaces (a probe not observed), in order.
    pub reruns: Vec<String>,
    pub timings: Timings,
}
