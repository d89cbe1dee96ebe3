//! `cargo xtask vm-test`: fwnet on real Debian kernels other than the build machine's.
//!
//! For each kernel line (5.10 from bullseye, 6.1 from bookworm, 6.12 from trixie) it fetches the
//! unsigned kernel package through apt with a private configuration under `target/vm-cache/`
//! (the system's apt sources are never modified; only the Debian archive the system already
//! uses is asked), keeps the kernel and the netfilter/virtio modules it needs, builds an
//! initramfs (busybox, a static fwnet, the founding ruleset and a sample of `../shared/corpus`)
//! and boots it under QEMU with a virtio NIC on a tap device inside a network namespace this
//! task creates and removes. Inside, `/init` imports, checks, applies, re-applies and reads
//! back each ruleset and prints `FWNET-VM PASS|FAIL <check>` lines; from the namespace, this
//! task probes the founding ruleset's verdicts (TCP to open and closed ports, an ICMP burst
//! against the hashlimit). Results end in one table per kernel; any failure exits non-zero.
//!
//! Not product code. It does not test IPv6 verdicts, and it does not use KVM unless a tiny
//! boot under `-accel kvm -cpu host` works and each kernel boots to its panic under it (nested
//! KVM that hangs would stall every run); otherwise software emulation, about 17 s a kernel.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A Debian kernel line and what nf_tables on it is known to support (the probe in
/// `fwnet_apply::features` must find exactly this).
struct Line {
    name: &'static str,
    suite: &'static str,
    /// batch_ack (6.10), destroy_table (6.3), table_owner (5.12), table_persist (6.9).
    expect: [bool; 4],
}

const LINES: &[Line] = &[
    Line {
        name: "5.10",
        suite: "bullseye",
        expect: [false, false, false, false],
    },
    Line {
        name: "6.1",
        suite: "bookworm",
        expect: [false, false, true, false],
    },
    Line {
        name: "6.12",
        suite: "trixie",
        expect: [true, true, true, true],
    },
];

/// Modules loaded in every VM when the kernel has them as modules (built-in ones are absent
/// and skipped); their dependencies come first.
const MODULES: &[&str] = &[
    // libcrc32c (nf_conntrack, nf_nat, nf_tables) asks the crypto API for crc32c at load time.
    "crc32c_generic",
    "virtio_pci",
    "virtio_net",
    "nf_tables",
    "nf_conntrack",
    "nf_nat",
    "nft_chain_nat",
    "nft_ct",
    "nft_counter",
    "nft_limit",
    "nft_log",
    "nf_log_syslog",
    "nf_log_ipv4",
    "nf_log_ipv6",
    "nft_reject",
    "nft_reject_ipv4",
    "nft_reject_ipv6",
    "nft_reject_inet",
    "nft_nat",
    "nft_masq",
    "nft_redir",
    "nft_fib",
    "nft_fib_ipv4",
    "nft_fib_ipv6",
    "nft_fib_inet",
    "nft_hash",
    "nft_quota",
    "nft_numgen",
    "nft_objref",
    "nft_connlimit",
    "nft_socket",
];

/// Corpus files imported in each VM (the first that fwnet imports today, in name order).
const CORPUS_V4: usize = 5;
const CORPUS_V6: usize = 1;
/// Corpus files imported in each VM besides those, for the kernel features they need: per-zone
/// connection counts in a dynamic set (`connlimit`) and `recent --hitcount`'s slot sets with
/// dynset's delete operation (Linux 5.4).
const CORPUS_FEATURES: &[&str] = &["v4/123.rules", "v4/011.rules"];
/// Corpus files larger than this are skipped: the VM is for kernel paths, not volume.
const CORPUS_MAX_BYTES: u64 = 8 * 1024;

const HOST_ADDR: &str = "192.0.2.1";
const VM_ADDR: &str = "192.0.2.2";
const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
const MARK: &str = "FWNET-VM ";

/// Tools the suite runs on the host, with the Debian package that brings each.
const TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("dpkg-deb", "dpkg"),
    ("xz", "xz-utils"),
    ("zstd", "zstd"),
    ("ping", "iputils-ping"),
    ("ip", "iproute2"),
    ("gzip", "gzip"),
    ("file", "file"),
];
const BUSYBOX: &str = "/bin/busybox";

pub fn run(args: &[String]) -> Result<()> {
    let wanted: Vec<&str> = args.iter().map(String::as_str).collect();
    for w in &wanted {
        if !LINES.iter().any(|l| l.name == *w) {
            bail!(
                "unknown kernel line {w:?}: choose from {}",
                LINES.iter().map(|l| l.name).collect::<Vec<_>>().join(", ")
            );
        }
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("vm-test needs root: it creates a network namespace and a tap device");
    }
    host_deps()?;
    let root = workspace_root();
    let cache = root.join("target/vm-cache");
    fs::create_dir_all(cache.join("logs"))?;
    let fwnet = build_static_fwnet(&root)?;
    let sample = pick_sample(&fwnet, &root, &cache)?;
    println!(
        "vm-test: rulesets: {}",
        sample
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let accel = accel(&cache);
    println!("vm-test: qemu accelerator {accel}");
    let mut results = Vec::new();
    for line in LINES
        .iter()
        .filter(|l| wanted.is_empty() || wanted.contains(&l.name))
    {
        let started = Instant::now();
        let r = kernel(line, &cache)
            .and_then(|k| {
                let fetch = started.elapsed();
                let initrd = initramfs(&k, &fwnet, &sample, &cache.join(line.name))?;
                let accel = if accel == "kvm" {
                    kvm_or_tcg(line.name, &k.vmlinuz, &cache)?
                } else {
                    accel
                };
                boot(line, &k, &initrd, accel, &sample, &cache).map(|b| (k, fetch, b))
            })
            .map(|(k, fetch, mut b)| {
                b.release = k.release;
                b.fetch = fetch;
                b
            });
        let result = match r {
            Ok(b) => b,
            Err(e) => Booted {
                release: "?".into(),
                error: Some(format!("{e:#}")),
                ..Booted::default()
            },
        };
        results.push((line.name, result, started.elapsed()));
    }
    report(&results)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn host_deps() -> Result<()> {
    let mut missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(c, _)| !crate::have(c))
        .map(|(_, p)| *p)
        .collect();
    if !is_static(Path::new(BUSYBOX)) {
        missing.push("busybox-static");
    }
    if missing.is_empty() {
        return Ok(());
    }
    println!("vm-test: installing {}", missing.join(" "));
    crate::run(Command::new("apt-get").args(["update", "-qq"]))?;
    crate::run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn is_static(p: &Path) -> bool {
    Command::new("file")
        .arg("-L")
        .arg(p)
        .output()
        .map(|o| {
            let t = String::from_utf8_lossy(&o.stdout);
            t.contains("statically linked") || t.contains("static-pie linked")
        })
        .unwrap_or(false)
}

/// A fwnet that runs in an initramfs with no C library: glibc linked statically (fwnet is
/// Rust plus libc calls without NSS, so that is sound). Built for the explicit target so the
/// flag does not reach proc-macros.
fn build_static_fwnet(root: &Path) -> Result<PathBuf> {
    const TARGET: &str = "x86_64-unknown-linux-gnu";
    println!("vm-test: building a static fwnet (release)");
    crate::run(
        Command::new(env!("CARGO"))
            .current_dir(root)
            .args(["build", "--release", "-p", "fwnet", "--target", TARGET])
            .env("RUSTFLAGS", "-C target-feature=+crt-static"),
    )?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target_dir.join(TARGET).join("release/fwnet");
    if !is_static(&bin) {
        bail!("{} is not statically linked", bin.display());
    }
    Ok(bin)
}

/// The founding ruleset and the first corpus files the host's fwnet imports without error.
fn pick_sample(fwnet: &Path, root: &Path, cache: &Path) -> Result<Vec<(String, PathBuf)>> {
    let shared = root.join("../shared");
    let seed = shared.join("seed/centos6-web.rules");
    if !seed.is_file() {
        bail!(
            "{} is missing (shared/ must sit beside the checkout)",
            seed.display()
        );
    }
    let mut out = Vec::new();
    let scratch = cache.join("import-check");
    let imports = |f: &Path| {
        let _ = fs::remove_dir_all(&scratch);
        Command::new(fwnet)
            .arg("import")
            .arg("--state-dir")
            .arg(&scratch)
            .arg(f)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    for (dir, want) in [("v4", CORPUS_V4), ("v6", CORPUS_V6)] {
        let mut files: Vec<PathBuf> = fs::read_dir(shared.join("corpus").join(dir))
            .with_context(|| format!("cannot list ../shared/corpus/{dir}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "rules"))
            .filter(|p| p.metadata().is_ok_and(|m| m.len() <= CORPUS_MAX_BYTES))
            .collect();
        files.sort();
        let mut taken = 0;
        for f in files {
            if taken == want {
                break;
            }
            if imports(&f) {
                let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
                out.push((format!("{dir}-{stem}"), f));
                taken += 1;
            }
        }
    }
    for name in CORPUS_FEATURES {
        let f = shared.join("corpus").join(name);
        if !imports(&f) {
            bail!("{} does not import: the VM sample needs it", f.display());
        }
        out.push((name.replace('/', "-").replace(".rules", ""), f));
    }
    let _ = fs::remove_dir_all(&scratch);
    // The founding ruleset goes last: it stays applied for the verdict probes.
    out.push(("seed".into(), seed));
    Ok(out)
}

/// KVM only when a minimal guest (a reset vector that writes to the isa-debug-exit port)
/// runs under `-accel kvm -cpu host`; otherwise software emulation.
fn accel(cache: &Path) -> &'static str {
    if std::env::var("FWNET_VM_ACCEL").as_deref() == Ok("tcg") {
        return "tcg";
    }
    let bios = cache.join("kvm-probe.bin");
    let mut rom = vec![0u8; 65536];
    // mov al, 0x2a; out 0xf4, al; hlt
    rom[0xfff0..0xfff5].copy_from_slice(&[0xb0, 0x2a, 0xe6, 0xf4, 0xf4]);
    if fs::write(&bios, rom).is_err() {
        return "tcg";
    }
    let status = Command::new("timeout")
        .args(["10", "qemu-system-x86_64", "-accel", "kvm", "-cpu", "host"])
        .args(["-nodefaults", "-display", "none", "-m", "16", "-bios"])
        .arg(&bios)
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    // isa-debug-exit exits with (value << 1) | 1.
    match status.map(|s| s.code()) {
        Ok(Some(85)) => "kvm",
        _ => "tcg",
    }
}

/// `kvm` when `vmlinuz` boots under `-accel kvm -cpu host` to its "no root" panic within
/// [`KVM_CHECK`], else `tcg`. The reset-vector probe of [`accel`] can pass where a kernel
/// cannot: on an Intel machine of this project's kind nested KVM stops the Debian kernels'
/// decompressor with "KVM internal error ... emulation failure", and the VM then hangs until
/// the boot timeout.
fn kvm_or_tcg(name: &str, vmlinuz: &Path, cache: &Path) -> Result<&'static str> {
    let out = kvm_boot_output(vmlinuz);
    if out.contains("Kernel panic") {
        return Ok("kvm");
    }
    let log = cache.join("logs").join(format!("{name}-kvm.log"));
    fs::write(&log, out)?;
    println!(
        "vm-test: {name}: this kernel does not boot under KVM here ({}); software emulation",
        log.display()
    );
    Ok("tcg")
}

/// What `vmlinuz` prints under KVM, with no initramfs, within [`KVM_CHECK`] (it panics for
/// want of a root file system, and `-no-reboot` then ends QEMU).
fn kvm_boot_output(vmlinuz: &Path) -> String {
    let out = Command::new("timeout")
        .arg(KVM_CHECK.as_secs().to_string())
        .args([
            "qemu-system-x86_64",
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-m",
            "256",
        ])
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(vmlinuz)
        .args(["-append", "console=ttyS0 panic=-1"])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => format!("cannot run qemu: {e}"),
    }
}

/// How long [`kvm_or_tcg`] waits: a kernel reaches its panic in about a second under KVM (three
/// under software emulation).
const KVM_CHECK: Duration = Duration::from_secs(15);

/// A kernel and its modules, extracted once into `target/vm-cache/<line>/`.
struct Kernel {
    release: String,
    vmlinuz: PathBuf,
    /// Decompressed modules in load order.
    modules: Vec<PathBuf>,
}

fn kernel(line: &Line, cache: &Path) -> Result<Kernel> {
    let dir = cache.join(line.name);
    let ready = dir.join("ready");
    if !ready.is_file() {
        fetch_kernel(line, cache, &dir)?;
    }
    let release = fs::read_to_string(&ready)?.trim().to_string();
    let order = fs::read_to_string(dir.join("modules.order"))?;
    Ok(Kernel {
        release,
        vmlinuz: dir.join("vmlinuz"),
        modules: order
            .lines()
            .filter(|l| !l.is_empty())
            .map(|m| dir.join("modules").join(m))
            .collect(),
    })
}

/// The Debian archive the system's apt already uses (not the security one).
fn mirror() -> Result<String> {
    if let Ok(m) = std::env::var("FWNET_VM_MIRROR") {
        return Ok(m);
    }
    let deb822 = fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    for stanza in deb822.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        if let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) {
            if !suites.contains("security") {
                if let Some(u) = uris.split_whitespace().next() {
                    return Ok(u.to_string());
                }
            }
        }
    }
    let list = fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    for l in list.lines() {
        let words: Vec<&str> = l
            .split_whitespace()
            .filter(|w| !w.starts_with('['))
            .collect();
        if words.first() == Some(&"deb") && words.len() > 2 && !words[2].contains("security") {
            return Ok(words[1].to_string());
        }
    }
    bail!("no Debian archive in the system's apt sources: set FWNET_VM_MIRROR to one")
}

fn fetch_kernel(line: &Line, cache: &Path, dir: &Path) -> Result<()> {
    let apt = cache.join("apt").join(line.suite);
    for d in ["lists/partial", "archives/partial"] {
        fs::create_dir_all(apt.join(d))?;
    }
    let sources = apt.join("sources.list");
    fs::write(
        &sources,
        format!(
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {} {} main\n",
            mirror()?,
            line.suite
        ),
    )?;
    fs::write(apt.join("status"), "")?;
    let opts: Vec<String> = vec![
        format!("-oDir::Etc::SourceList={}", sources.display()),
        "-oDir::Etc::SourceParts=/dev/null".into(),
        format!("-oDir::State={}", apt.display()),
        format!("-oDir::State::Lists={}", apt.join("lists").display()),
        format!("-oDir::State::status={}", apt.join("status").display()),
        format!("-oDir::Cache={}", apt.display()),
        "-oAPT::Sandbox::User=root".into(),
        "-qq".into(),
    ];
    println!(
        "vm-test: {}: reading the {} package index",
        line.name, line.suite
    );
    crate::run(Command::new("apt-get").args(&opts).arg("update"))?;
    let depends = Command::new("apt-cache")
        .args(&opts)
        .args(["depends", "linux-image-amd64"])
        .output()?;
    let text = String::from_utf8_lossy(&depends.stdout);
    let image = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: "))
        .filter(|p| p.starts_with("linux-image-"))
        .with_context(|| format!("no kernel image behind linux-image-amd64 in {}", line.suite))?;
    let package = format!("{image}-unsigned");
    println!("vm-test: {}: downloading {package}", line.name);
    for e in fs::read_dir(&apt)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "deb") {
            fs::remove_file(p)?;
        }
    }
    crate::run(
        Command::new("apt-get")
            .current_dir(&apt)
            .args(&opts)
            .args(["download", &package]),
    )?;
    let deb = fs::read_dir(&apt)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("apt-get download left no .deb")?;
    let tmp = cache.join("extract");
    let _ = fs::remove_dir_all(&tmp);
    crate::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tmp))?;
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir.join("modules"))?;
    let vmlinuz = fs::read_dir(tmp.join("boot"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .context("no vmlinuz in the kernel package")?;
    let release = vmlinuz
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .unwrap_or_default()
        .to_string();
    fs::copy(&vmlinuz, dir.join("vmlinuz"))?;
    let moddir = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|m| tmp.join(m).join(&release))
        .find(|p| p.is_dir())
        .context("no modules directory in the kernel package")?;
    let order = resolve_modules(&moddir, &dir.join("modules"))?;
    fs::write(dir.join("modules.order"), order.join("\n") + "\n")?;
    fs::remove_dir_all(&tmp)?;
    fs::remove_file(&deb)?;
    fs::write(dir.join("ready"), format!("{release}\n"))?;
    Ok(())
}

/// Decompresses [`MODULES`] and their dependencies (read from each module's `.modinfo`
/// `depends=` field, as there is no modules.dep before depmod runs) into `out`; returns their
/// file names in load order.
fn resolve_modules(moddir: &Path, out: &Path) -> Result<Vec<String>> {
    let mut index: HashMap<String, PathBuf> = HashMap::new();
    let mut stack = vec![moddir.join("kernel")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
                if let Some(stem) = name.split(".ko").next().filter(|_| name.contains(".ko")) {
                    index.insert(stem.replace('-', "_"), p.clone());
                }
            }
        }
    }
    let mut order = Vec::new();
    for m in MODULES {
        add_module(m, &index, out, &mut order, 0)?;
    }
    Ok(order)
}

fn add_module(
    name: &str,
    index: &HashMap<String, PathBuf>,
    out: &Path,
    order: &mut Vec<String>,
    depth: usize,
) -> Result<()> {
    let file = format!("{name}.ko");
    if order.contains(&file) || depth > 32 {
        return Ok(());
    }
    // Built in, or not in this kernel at all: nothing to load.
    let Some(path) = index.get(&name.replace('-', "_")) else {
        return Ok(());
    };
    let bytes = decompress(path)?;
    for dep in depends(&bytes) {
        add_module(&dep, index, out, order, depth + 1)?;
    }
    fs::write(out.join(&file), &bytes)?;
    order.push(file);
    Ok(())
}

fn decompress(path: &Path) -> Result<Vec<u8>> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        "xz"
    } else if name.ends_with(".zst") {
        "zstd"
    } else {
        return Ok(fs::read(path)?);
    };
    let o = Command::new(tool).arg("-dc").arg(path).output()?;
    if !o.status.success() {
        bail!("{tool} could not decompress {name}");
    }
    Ok(o.stdout)
}

/// The `depends=` entry of a module's `.modinfo` section.
fn depends(ko: &[u8]) -> Vec<String> {
    let key = b"\0depends=";
    ko.windows(key.len())
        .position(|w| w == key)
        .map(|at| {
            let rest = &ko[at + key.len()..];
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end])
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The `/init` every VM runs. Each check prints one `FWNET-VM PASS|FAIL name [why]` line.
fn init_script(sample: &[(String, PathBuf)]) -> String {
    let names: Vec<&str> = sample.iter().map(|(n, _)| n.as_str()).collect();
    format!(
        r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
say() {{ echo "{MARK}$*"; }}
for m in $(cat /modules.order); do
    insmod /modules/$m 2>/tmp/insmod || say FAIL insmod-$m "$(cat /tmp/insmod)"
done
say KERNEL "$(uname -r)"
ip link set lo up
ip link set eth0 up && ip addr add {VM_ADDR}/24 dev eth0 || say FAIL network
mkdir -p /www && echo fwnet-vm > /www/index.html && httpd -p 80 -h /www
check() {{
    n=$1; shift
    if "$@" >/tmp/out 2>&1; then say PASS "$n"; else say FAIL "$n" "rc=$? $(tail -n 3 /tmp/out | tr '\n' ' ')"; fi
}}
nodrift() {{
    fwnet status --json --state-dir "$1" >/tmp/status.json || return 1
    grep -q fwnet_ /tmp/status.json || {{ echo "no fwnet table in the kernel"; return 1; }}
    grep -q '"drift": true' /tmp/status.json || return 0
    fwnet status --state-dir "$1" | grep -m 1 ' drift '
    return 1
}}
for r in {names}; do
    check $r:import fwnet import --state-dir /state/$r /rules/$r.rules
    check $r:check fwnet apply --check --state-dir /state/$r
    check $r:apply fwnet apply --state-dir /state/$r
    check $r:replace fwnet apply --state-dir /state/$r
    check $r:status nodrift /state/$r
done
fwnet apply --json --state-dir /state/seed > /tmp/apply.json 2>&1
say FEATURES "$(tr -d ' \n' < /tmp/apply.json | grep -o '"kernel":{{[^}}]*}}')"
say READY
read -t 150 go
fwnet status --state-dir /state/seed 2>&1 | sed 's/^/{MARK}LOG /'
say END
poweroff -f
"#,
        names = names.join(" ")
    )
}

/// One entry of the initramfs.
struct Entry {
    path: String,
    mode: u32,
    data: Vec<u8>,
}

fn initramfs(
    k: &Kernel,
    fwnet: &Path,
    sample: &[(String, PathBuf)],
    dir: &Path,
) -> Result<PathBuf> {
    const DIR: u32 = 0o040755;
    const EXE: u32 = 0o100755;
    const FILE: u32 = 0o100644;
    let mut e = Vec::new();
    let mut add = |path: &str, mode: u32, data: Vec<u8>| {
        e.push(Entry {
            path: path.to_string(),
            mode,
            data,
        })
    };
    for d in [
        "bin", "dev", "proc", "sys", "tmp", "modules", "rules", "state",
    ] {
        add(d, DIR, Vec::new());
    }
    add("init", EXE, init_script(sample).into_bytes());
    add("bin/busybox", EXE, fs::read(BUSYBOX)?);
    add("bin/fwnet", EXE, fs::read(fwnet)?);
    let mut order = String::new();
    for m in &k.modules {
        let name = m.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        add(&format!("modules/{name}"), FILE, fs::read(m)?);
        order.push_str(name);
        order.push('\n');
    }
    add("modules.order", FILE, order.into_bytes());
    for (name, path) in sample {
        add(&format!("rules/{name}.rules"), FILE, fs::read(path)?);
    }
    let cpio = newc(&e);
    let out = dir.join("initrd.gz");
    let mut gz = Command::new("gzip")
        .arg("-1")
        .stdin(Stdio::piped())
        .stdout(fs::File::create(&out)?)
        .spawn()?;
    gz.stdin.take().context("gzip stdin")?.write_all(&cpio)?;
    if !gz.wait()?.success() {
        bail!("gzip failed");
    }
    Ok(out)
}

/// A cpio archive in the "newc" format the kernel unpacks, every file owned by root.
fn newc(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |ino: usize, mode: u32, name: &str, data: &[u8]| {
        let header = format!(
            "070701{ino:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    };
    for (i, e) in entries.iter().enumerate() {
        put(i + 1, e.mode, &e.path, &e.data);
    }
    put(0, 0, "TRAILER!!!", &[]);
    out
}

#[derive(Default)]
struct Booted {
    release: String,
    /// `kvm` or `tcg`.
    accel: &'static str,
    fetch: Duration,
    /// From power-on to the READY line.
    boot_to_ready: Option<Duration>,
    checks: Vec<(String, bool, String)>,
    error: Option<String>,
}

/// The namespace holding the tap device; removed on drop.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

fn boot(
    line: &Line,
    k: &Kernel,
    initrd: &Path,
    accel: &'static str,
    sample: &[(String, PathBuf)],
    cache: &Path,
) -> Result<Booted> {
    let ns = Netns(format!(
        "fwnet-vm-{}-{}",
        std::process::id(),
        line.name.replace('.', "_")
    ));
    crate::run(Command::new("ip").args(["netns", "add", &ns.0]))?;
    for cmd in [
        vec!["link", "set", "lo", "up"],
        vec!["tuntap", "add", "dev", "tap0", "mode", "tap"],
        vec!["addr", "add", &format!("{HOST_ADDR}/24"), "dev", "tap0"],
        vec!["link", "set", "tap0", "up"],
    ] {
        crate::run(Command::new("ip").args(["-n", &ns.0]).args(&cmd))?;
    }
    let mut qemu = Command::new("ip");
    qemu.args([
        "netns",
        "exec",
        &ns.0,
        "qemu-system-x86_64",
        "-accel",
        accel,
    ])
    .args(if accel == "kvm" {
        ["-cpu", "host"]
    } else {
        ["-cpu", "qemu64"]
    })
    .args([
        "-m",
        "512",
        "-nodefaults",
        "-display",
        "none",
        "-serial",
        "stdio",
    ])
    .args(["-no-reboot", "-kernel"])
    .arg(&k.vmlinuz)
    .arg("-initrd")
    .arg(initrd)
    .args([
        "-append",
        "console=ttyS0 panic=-1 quiet mitigations=off",
        "-netdev",
        "tap,id=n0,ifname=tap0,script=no,downscript=no",
        "-device",
        "virtio-net-pci,netdev=n0",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = qemu.spawn().context("cannot start qemu")?;
    let mut stdin = child.stdin.take().context("qemu stdin")?;
    let stdout = child.stdout.take().context("qemu stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).split(b'\n') {
            let Ok(l) = l else { break };
            if tx
                .send(
                    String::from_utf8_lossy(&l)
                        .trim_end_matches('\r')
                        .to_string(),
                )
                .is_err()
            {
                break;
            }
        }
    });
    let mut log = fs::File::create(cache.join("logs").join(format!("{}.log", line.name)))?;
    let mut b = Booted {
        accel,
        ..Booted::default()
    };
    let mut ended = false;
    let expected_checks: usize = sample.len() * 5;
    while !ended {
        let left = BOOT_TIMEOUT.saturating_sub(started.elapsed());
        let l = match rx.recv_timeout(left) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                b.error = Some(format!("no END within {}s", BOOT_TIMEOUT.as_secs()));
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        writeln!(log, "{l}")?;
        let Some(at) = l.find(MARK) else { continue };
        let msg = &l[at + MARK.len()..];
        let (word, rest) = msg.split_once(' ').unwrap_or((msg, ""));
        match word {
            "PASS" | "FAIL" => {
                let (name, why) = rest.split_once(' ').unwrap_or((rest, ""));
                b.checks
                    .push((name.to_string(), word == "PASS", why.to_string()));
            }
            "FEATURES" => {
                let got = features_from(rest);
                let ok = got == Some(line.expect);
                b.checks.push((
                    "kernel-features".into(),
                    ok,
                    format!("found {rest}, expected {:?}", line.expect),
                ));
            }
            "READY" => {
                b.boot_to_ready = Some(started.elapsed());
                for (name, ok, why) in probes(&ns.0) {
                    writeln!(
                        log,
                        "probe {name}: {}: {why}",
                        if ok { "PASS" } else { "FAIL" }
                    )?;
                    b.checks.push((name, ok, why));
                }
                writeln!(stdin, "go")?;
            }
            "END" => ended = true,
            _ => {}
        }
    }
    if !ended {
        let _ = child.kill();
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = child.wait();
    if !err.trim().is_empty() {
        writeln!(log, "qemu stderr: {}", err.trim())?;
    }
    if b.error.is_none() && !ended {
        b.error = Some(format!(
            "the VM stopped before END (see target/vm-cache/logs/{}.log)",
            line.name
        ));
    }
    // Every ruleset's five checks, the features line and the probes must have reported.
    if b.error.is_none() && b.checks.len() < expected_checks + 1 + PROBES {
        b.error = Some(format!(
            "only {} checks reported (see target/vm-cache/logs/{}.log)",
            b.checks.len(),
            line.name
        ));
    }
    Ok(b)
}

/// `{"batch_ack":true,...}` into the order of [`Line::expect`].
fn features_from(json: &str) -> Option<[bool; 4]> {
    let get = |k: &str| {
        let at = json.find(&format!("\"{k}\":"))? + k.len() + 3;
        Some(json[at..].starts_with("true"))
    };
    Some([
        get("batch_ack")?,
        get("destroy_table")?,
        get("table_owner")?,
        get("table_persist")?,
    ])
}

const PROBES: usize = 5;

/// Verdicts of the founding ruleset seen from outside: what reaches the VM's INPUT chain and
/// what its policy drops.
fn probes(ns: &str) -> Vec<(String, bool, String)> {
    let mut out = Vec::new();
    let tcp = |port: u16, send: bool| -> (String, String) {
        in_netns(ns, move || tcp_probe(port, send))
            .unwrap_or_else(|e| ("error".into(), e.to_string()))
    };
    let (v, body) = tcp(80, true);
    out.push((
        "probe-tcp-80-accepted".into(),
        v == "open" && body.contains("fwnet-vm"),
        format!("{v} {}", body.lines().last().unwrap_or_default()),
    ));
    for (port, want) in [(443, "refused"), (22, "refused"), (8080, "dropped")] {
        let (v, why) = tcp(port, false);
        let name = if want == "dropped" {
            format!("probe-tcp-{port}-dropped")
        } else {
            format!("probe-tcp-{port}-accepted")
        };
        out.push((name, v == want, format!("{v} {why}")));
    }
    // 14 echo requests against `--hashlimit 1/m --hashlimit-burst 10`: 10 answered.
    let ping = Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-n", "-q", "-c", "14", "-i", "0.2", "-W", "2",
        ])
        .arg(VM_ADDR)
        .output();
    let received = ping
        .as_ref()
        .ok()
        .and_then(|o| {
            let t = String::from_utf8_lossy(&o.stdout).to_string();
            t.split(',')
                .find(|p| p.contains("received"))
                .and_then(|p| p.split_whitespace().next())
                .and_then(|n| n.parse::<u32>().ok())
        })
        .unwrap_or(u32::MAX);
    out.push((
        "probe-icmp-hashlimit-burst".into(),
        received == 10,
        format!("{received} of 14 echo requests answered, expected 10"),
    ));
    out
}

/// Runs `f` on a thread that entered network namespace `ns` (sockets it opens live there).
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    let file = fs::File::open(format!("/run/netns/{ns}"))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns on this thread only; the fd is a valid namespace file.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                bail!("setns: {}", std::io::Error::last_os_error());
            }
            Ok(f())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("probe thread panicked"))?
    })
}

/// `open` (handshake done), `refused` (the VM answered with RST: the SYN was accepted by the
/// firewall, nobody listens), `dropped` (no answer), or `error`.
fn tcp_probe(port: u16, send: bool) -> (String, String) {
    let addr: SocketAddr = match format!("{VM_ADDR}:{port}").parse() {
        Ok(a) => a,
        Err(e) => return ("error".into(), e.to_string()),
    };
    match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
        Ok(mut s) => {
            let mut body = String::new();
            if send {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
                let _ = s.read_to_string(&mut body);
            }
            ("open".into(), body)
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            ("refused".into(), String::new())
        }
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => ("dropped".into(), String::new()),
        Err(e) => ("error".into(), e.to_string()),
    }
}

fn report(results: &[(&str, Booted, Duration)]) -> Result<()> {
    let mut failures = 0;
    for (name, b, _) in results {
        for (check, ok, why) in &b.checks {
            if !ok {
                failures += 1;
                println!("FAIL {name} {check}: {why}");
            }
        }
        if let Some(e) = &b.error {
            failures += 1;
            println!("FAIL {name}: {e}");
        }
    }
    let mut rows = vec![[
        "kernel".to_string(),
        "release".into(),
        "accel".into(),
        "fetch".into(),
        "boot+checks".into(),
        "total".into(),
        "passed".into(),
        "failed".into(),
        "result".into(),
    ]];
    let secs = |d: Duration| format!("{:.1}s", d.as_secs_f64());
    let (mut passed_all, mut failed_all) = (0, 0);
    for (name, b, total) in results {
        let passed = b.checks.iter().filter(|c| c.1).count();
        let failed = b.checks.len() - passed + usize::from(b.error.is_some());
        passed_all += passed;
        failed_all += failed;
        rows.push([
            name.to_string(),
            b.release.clone(),
            if b.accel.is_empty() { "-" } else { b.accel }.into(),
            secs(b.fetch),
            b.boot_to_ready.map(secs).unwrap_or_else(|| "-".into()),
            secs(*total),
            passed.to_string(),
            failed.to_string(),
            if failed == 0 { "ok" } else { "FAIL" }.into(),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    println!("vm-test: {passed_all} passed, {failed_all} failed");
    if failures > 0 || results.is_empty() {
        bail!("vm-test failed");
    }
    Ok(())
}

/// The Vagrant machines of `vagrant/Vagrantfile`: the CentOS 6 source first, then the targets.
const VAGRANT_SOURCE: &str = "centos6";
const VAGRANT_TARGETS: &[&str] = &["centos7", "rocky9", "debian12"];

/// `cargo xtask vagrant-test [--keep] [TARGET...]`: stages a static fwnet and the founding
/// ruleset in `vagrant/work/`, brings up the CentOS 6 machine (iptables 1.4.7 loads the ruleset,
/// its `iptables-save` output comes back into `vagrant/work/`), then each target, whose
/// provisioning imports that output and checks, applies, reads back and verifies it.
pub fn vagrant(args: &[String]) -> Result<()> {
    if !crate::have("vagrant") {
        bail!(
            "vagrant-test needs `vagrant` on PATH (with VirtualBox or libvirt, and internet access to \
             fetch its boxes); it is not installed here. The QEMU suite, `cargo xtask vm-test`, needs \
             neither"
        );
    }
    let keep = args.iter().any(|a| a == "--keep");
    let targets: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--keep")
        .collect();
    for t in &targets {
        if !VAGRANT_TARGETS.contains(t) {
            bail!(
                "unknown target {t:?}: choose from {}",
                VAGRANT_TARGETS.join(", ")
            );
        }
    }
    let targets = if targets.is_empty() {
        VAGRANT_TARGETS.to_vec()
    } else {
        targets
    };
    let root = workspace_root();
    let dir = root.join("vagrant");
    let work = dir.join("work");
    fs::create_dir_all(&work)?;
    let fwnet = build_static_fwnet(&root)?;
    fs::copy(&fwnet, work.join("fwnet"))?;
    fs::copy(
        root.join("../shared/seed/centos6-web.rules"),
        work.join("centos6-web.rules"),
    )
    .context("../shared/seed/centos6-web.rules must sit beside the checkout")?;
    let vagrant = |args: &[&str]| -> Result<bool> {
        println!("vagrant-test: vagrant {}", args.join(" "));
        Ok(Command::new("vagrant")
            .current_dir(&dir)
            .args(args)
            .status()
            .context("cannot run vagrant")?
            .success())
    };
    let mut results: Vec<(&str, bool)> = Vec::new();
    let saved = vagrant(&["up", "--provision", VAGRANT_SOURCE])?
        && Command::new("vagrant")
            .current_dir(&dir)
            .args(["ssh", VAGRANT_SOURCE, "-c", "sudo /sbin/iptables-save"])
            .output()
            .ok()
            .filter(|o| {
                o.status.success() && (o.stdout.starts_with(b"#") || o.stdout.starts_with(b"*"))
            })
            .map(|o| fs::write(work.join("centos6.save"), o.stdout).is_ok())
            .unwrap_or(false);
    results.push((VAGRANT_SOURCE, saved));
    if saved {
        for t in &targets {
            results.push((t, vagrant(&["up", "--provision", t])?));
        }
    }
    if !keep {
        let mut all = vec!["destroy", "-f", VAGRANT_SOURCE];
        all.extend(targets.iter().copied());
        vagrant(&all)?;
    }
    for (name, ok) in &results {
        println!("{name:<10} {}", if *ok { "ok" } else { "FAIL" });
    }
    let failed = results.iter().filter(|r| !r.1).count();
    println!(
        "vagrant-test: {} passed, {failed} failed",
        results.len() - failed
    );
    if failed > 0 || !saved {
        bail!("vagrant-test failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_archives_pad_to_four_bytes_and_end_with_the_trailer() {
        let a = newc(&[Entry {
            path: "init".into(),
            mode: 0o100755,
            data: b"abc".to_vec(),
        }]);
        assert_eq!(a.len() % 4, 0);
        assert!(a.starts_with(b"070701"));
        let text = String::from_utf8_lossy(&a);
        assert!(text.contains("init\0"));
        assert!(text.contains("TRAILER!!!\0"));
        // header 110 bytes + "init\0" padded to 116, then "abc" padded to 120.
        assert_eq!(&a[116..119], b"abc");
    }

    #[test]
    fn module_dependencies_come_from_modinfo() {
        let ko = b"\x7fELF....\0license=GPL\0depends=nf_tables,nf_conntrack\0name=nft_ct\0";
        assert_eq!(depends(ko), ["nf_tables", "nf_conntrack"]);
        assert!(depends(b"\0depends=\0name=x\0").is_empty());
    }

    #[test]
    fn features_line_parses_in_expect_order() {
        let line = r#""kernel":{"batch_ack":false,"destroy_table":true,"table_owner":true,"table_persist":false}"#;
        assert_eq!(features_from(line), Some([false, true, true, false]));
        assert_eq!(features_from("\"kernel\":{}"), None);
    }
}
