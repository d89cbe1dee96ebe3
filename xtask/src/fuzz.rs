//! `cargo xtask fuzz [--seconds N] [--seed S]`: a mutation fuzzer for the whole pure pipeline
//! (parse, translate, print, lower, and import's later passes: optimizer, protocol split,
//! shared sets, fast path, and the `--inet` merge), seeded with ../shared/corpus and the test fixtures. Besides panics
//! it checks that the later passes change no verdict or NAT mapping the IR interpreter can tell
//! ([`optimized_decides_alike`]).
//!
//! Each round takes a seed file and applies a few mutations that keep it close to real input
//! (duplicate, drop or swap lines and tokens; splice tokens from other files; insert `!`,
//! quotes, CR, NUL and non-UTF-8 bytes; flip bytes; truncate), then runs it through every
//! stage inside `catch_unwind`. A panic is a failure: the input is written to
//! `target/fuzz-crashes/` and the task exits non-zero. Deterministic for a given seed, so a
//! crash can be replayed.

use anyhow::{bail, Context, Result};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: small, fast and reproducible; no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const SPICE: &[&str] = &[
    "!",
    "! !",
    "\"",
    "\"a b\"",
    "'",
    "\r",
    "\0",
    "-",
    "--",
    "-j",
    "-m",
    "-A",
    "-I",
    "-N",
    "-P",
    ":",
    "[0:0]",
    "[x:y]",
    "COMMIT",
    "*filter",
    "*nat",
    "0/0",
    "::/0",
    "1.2.3.4/33",
    "65536",
    "0:65535",
    "-1",
    "4294967296",
    "--dport",
    "--sport",
    "--tcp-flags",
    "ALL",
    "NONE",
    "SYN,ACK",
    "--hashlimit",
    "1/s",
    "0/s",
    "99999999/day",
    "--log-prefix",
    "\u{fffd}",
    "\u{1F525}",
    "eth+",
    "+",
    "lo",
    "-i",
    "-o",
    "-s",
    "-d",
    "-p",
    "all",
    "icmp",
    "--icmp-type",
    "255/255",
    "--to-ports",
    "1-0",
    "--set-xmark",
    "0x1/0xffffffff",
    "--comment",
];

fn mutate(rng: &mut Rng, base: &[u8], donors: &[Vec<u8>]) -> Vec<u8> {
    let text = String::from_utf8_lossy(base);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..1 + rng.below(4) {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let i = rng.below(lines.len());
        match rng.below(9) {
            0 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            1 => {
                lines.remove(i);
            }
            2 => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
            3 | 4 => {
                let mut toks: Vec<String> = lines[i].split(' ').map(str::to_string).collect();
                let k = rng.below(toks.len() + 1);
                toks.insert(k, SPICE[rng.below(SPICE.len())].to_string());
                lines[i] = toks.join(" ");
            }
            5 => {
                let mut toks: Vec<String> = lines[i].split(' ').map(str::to_string).collect();
                if !toks.is_empty() {
                    let k = rng.below(toks.len());
                    toks.remove(k);
                }
                lines[i] = toks.join(" ");
            }
            6 => {
                let donor = &donors[rng.below(donors.len())];
                let dtext = String::from_utf8_lossy(donor);
                let dl: Vec<&str> = dtext.lines().collect();
                if !dl.is_empty() {
                    let l = dl[rng.below(dl.len())].to_string();
                    lines.insert(i, l);
                }
            }
            7 => {
                let cut = rng.below(lines[i].len() + 1);
                let cut = (0..=cut)
                    .rev()
                    .find(|c| lines[i].is_char_boundary(*c))
                    .unwrap_or(0);
                lines[i].truncate(cut);
            }
            _ => {
                let mut toks: Vec<String> = lines[i].split(' ').map(str::to_string).collect();
                let k = rng.below(toks.len().max(1));
                if let Some(t) = toks.get_mut(k) {
                    *t = SPICE[rng.below(SPICE.len())].to_string();
                }
                lines[i] = toks.join(" ");
            }
        }
    }
    let mut out = lines
        .join(if rng.below(10) == 0 { "\r\n" } else { "\n" })
        .into_bytes();
    if rng.below(3) > 0 {
        out.push(b'\n');
    }
    // Occasionally raw byte damage, non-UTF-8 included.
    for _ in 0..rng.below(3) {
        if out.is_empty() {
            break;
        }
        let i = rng.below(out.len());
        out[i] = (rng.next() & 0xff) as u8;
    }
    out
}

/// The name inputs are read under: as long as a real path, so that the state's encoding writes
/// the rules' origins after the first as references to it (`fwnet_nft::packed`'s `STR_AGAIN`).
const FILE: &str = "/etc/sysconfig/iptables.fuzz";

/// Runs the pipeline; `Err` carries the panic message.
fn run_once(input: &[u8]) -> std::result::Result<(), String> {
    let text = String::from_utf8_lossy(input).into_owned();
    catch_unwind(AssertUnwindSafe(|| {
        let (rs, diags) = fwnet_iptables::parse(FILE, &text);
        // Common rule lines are read in one pass; the general reader reads them alike.
        let (general, general_diags) = fwnet_iptables::parse_without_shortcut(FILE, &text);
        if general != rs || general_diags != diags {
            panic!("the general reader reads the input differently from the one-pass reader");
        }
        if diags.iter().any(|d| d.is_error()) {
            return;
        }
        for family in [fwnet_translate::IpFamily::V4, fwnet_translate::IpFamily::V6] {
            let t = fwnet_translate::translate(
                &[fwnet_translate::Input {
                    ruleset: &rs,
                    family,
                }],
                &Default::default(),
            );
            let _ = fwnet_nft::print::ruleset(&t.ruleset);
            if t.diagnostics.iter().any(|d| d.is_error()) {
                continue;
            }
            for table in &t.ruleset.tables {
                let _ = fwnet_nft::lower::table(table, 1);
            }
            optimized_decides_alike(&t.ruleset);
        }
    }))
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())
    })
}

/// The passes `fwnet import` runs after translating (the optimizer with its protocol split,
/// shared sets, the fast path, and for some inputs the `--inet` merge), run on `plain` and checked the way `fwnet verify` checks them
/// in the kernel, here with the IR interpreter: every packet built from the ruleset's own
/// addresses, ports and interfaces gets the same verdict, and the same NAT statement, from the
/// optimized ruleset on every hook (prerouting to postrouting, so nat, mangle and raw chains
/// too), wherever both outcomes are known. A difference panics, so it is a crash.
fn optimized_decides_alike(plain: &fwnet_nft::Ruleset) {
    use fwnet_nft::eval::{self, Device, Packet, Verdict};
    use fwnet_nft::ir::{ct_state, Expr, Field, Hook, MetaKey, Stmt, Value};
    use std::net::IpAddr;
    let mut opt = plain.clone();
    fwnet_nft::optimize::ruleset(&mut opt);
    fwnet_nft::shared_sets::name_literals(&mut opt.tables, true);
    fwnet_nft::fast_path::tune(&mut opt.tables);
    // `--inet` on inputs with an odd number of tables (most have one): the merge runs last,
    // on what the other passes made.
    if plain.tables.len() % 2 == 1 {
        fwnet_nft::inet::merge(&mut opt.tables);
    }
    let _ = fwnet_nft::print::ruleset(&opt);
    // The state file's encoding reads back every ruleset the passes make, equal to it.
    let mut packed = Vec::new();
    fwnet_nft::packed::write(&mut packed, &opt).expect("a ruleset packs");
    let back: fwnet_nft::Ruleset =
        fwnet_nft::packed::read(&packed).expect("a packed ruleset reads");
    assert!(
        back == opt,
        "a ruleset read back from the state's encoding differs"
    );
    for table in &opt.tables {
        let _ = fwnet_nft::lower::table(table, 1);
    }
    // The values the rules test, and one next to each (just outside a prefix or range).
    let (mut addrs, mut ports, mut ifaces): (Vec<IpAddr>, Vec<u16>, Vec<String>) =
        (Vec::new(), vec![22, 80], Vec::new());
    let mut value = |e: &Expr, v: &Value| match (e, v) {
        (
            Expr::Payload(Field::IpSaddr | Field::IpDaddr | Field::Ip6Saddr | Field::Ip6Daddr),
            Value::Addr(a) | Value::Prefix { addr: a, .. },
        ) => addrs.push(*a),
        (Expr::Payload(_), Value::Num(n)) if *n <= 0xffff => ports.push(*n as u16),
        (Expr::Payload(_), Value::Range(a, b)) if *b <= 0xffff => {
            ports.extend([*a as u16, *b as u16, (*b as u16).wrapping_add(1)])
        }
        (Expr::Meta(MetaKey::Iifname | MetaKey::Oifname), Value::Iface { name, .. }) => {
            ifaces.push(name.to_string())
        }
        _ => {}
    };
    for s in plain
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .flat_map(|c| &c.rules)
        .flat_map(|r| &r.stmts)
    {
        if let Stmt::Match(fwnet_nft::ir::Match::Cmp { left, right, .. }) = s {
            match right {
                Value::Set(vs) => vs.iter().for_each(|v| value(left, v)),
                v => value(left, v),
            }
        }
    }
    addrs.sort();
    addrs.dedup();
    ports.sort();
    ports.dedup();
    ifaces.sort();
    ifaces.dedup();
    for family in [false, true] {
        let own: Vec<IpAddr> = addrs
            .iter()
            .copied()
            .filter(|a| a.is_ipv6() == family)
            .collect();
        let fallback: IpAddr = if family {
            "2001:db8::1".parse().expect("an address")
        } else {
            "192.0.2.1".parse().expect("an address")
        };
        let pick = |k: usize| own.get(k % own.len().max(1)).copied().unwrap_or(fallback);
        for k in 0..48usize {
            let mut p = Packet::tcp(
                pick(k),
                ports[(3 * k + 1) % ports.len()],
                pick(7 * k + 3),
                ports[k % ports.len()],
                if k % 2 == 0 { 0x02 } else { 0x10 },
                if k % 3 == 0 {
                    ct_state::ESTABLISHED
                } else {
                    ct_state::NEW
                },
            );
            p.l4proto = [6, 17, 6, if family { 58 } else { 1 }][k % 4];
            let iif = ifaces
                .get(k % ifaces.len().max(1))
                .filter(|_| k % 5 != 0)
                .map_or(Device::Absent, |n| Device::Name(n.clone()));
            let oif = ifaces
                .get((5 * k + 2) % ifaces.len().max(1))
                .filter(|_| k % 7 != 0)
                .map_or(Device::Absent, |n| Device::Name(n.clone()));
            for hook in [
                Hook::Prerouting,
                Hook::Input,
                Hook::Forward,
                Hook::Output,
                Hook::Postrouting,
            ] {
                // The interfaces the hook knows: a locally sent packet has no input one, a
                // packet not routed yet no output one.
                let local =
                    matches!(hook, Hook::Output) || (hook == Hook::Postrouting && k % 2 == 0);
                p.iifname = if local { Device::Absent } else { iif.clone() };
                p.oifname = if matches!(hook, Hook::Prerouting | Hook::Input) {
                    Device::Absent
                } else {
                    oif.clone()
                };
                let (a, b) = (eval::hook(plain, hook, &p), eval::hook(&opt, hook, &p));
                if a.verdict != Verdict::Unknown
                    && b.verdict != Verdict::Unknown
                    && (a.verdict != b.verdict || a.nat != b.nat)
                {
                    panic!(
                        "the optimized ruleset gives {:?} (NAT {:?}) where the translation gives {:?} (NAT {:?}) on {hook:?} for {p:?}",
                        b.verdict, b.nat, a.verdict, a.nat
                    );
                }
            }
        }
    }
}

fn seeds(root: &Path) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for dir in [
        root.join("../shared/corpus/v4"),
        root.join("../shared/corpus/v6"),
        root.join("crates/iptables/test_data/parse/ok"),
        root.join("crates/iptables/test_data/parse/err"),
        root.join("crates/translate/test_data/translate/ok"),
        root.join("crates/translate/test_data/translate/err"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "rules"))
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f)?;
            // Huge seeds make rounds slow without finding more.
            if bytes.len() < 200_000 {
                out.push(bytes);
            }
        }
    }
    if out.is_empty() {
        bail!("no seed files found (is ../shared beside the checkout?)");
    }
    Ok(out)
}

pub fn run(args: &[String]) -> Result<()> {
    let (mut seconds, mut seed) = (600u64, 0x5eed_f00d_u64);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => seconds = it.next().context("--seconds needs a number")?.parse()?,
            "--seed" => seed = it.next().context("--seed needs a number")?.parse()?,
            other => bail!("unknown fuzz option {other:?} (options: --seconds N, --seed S)"),
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let seeds = seeds(&root)?;
    // Keep panics quiet: they are reported below with the input that caused them.
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(seed | 1);
    let (started, limit) = (Instant::now(), Duration::from_secs(seconds));
    let (mut rounds, mut last_report) = (0u64, Instant::now());
    println!("fuzz: {} seeds, {seconds} s, seed {seed}", seeds.len());
    while started.elapsed() < limit {
        let base = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base, &seeds);
        rounds += 1;
        if let Err(msg) = run_once(&input) {
            let dir = root.join("target/fuzz-crashes");
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(format!("crash-{seed}-{rounds}.rules"));
            std::fs::write(&path, &input)?;
            bail!(
                "panic after {rounds} inputs: {msg}\ninput saved to {}",
                path.display()
            );
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            println!(
                "fuzz: {rounds} inputs, {:.0} s",
                started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    println!(
        "fuzz: {rounds} inputs in {:.0} s, no panic",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
