//! `cargo xtask bench --packets`: the packet path. How many packets per second get through
//! a ruleset's INPUT chain under iptables-legacy, under fwnet's optimized translation, and
//! under fwnet's one-rule-per-line translation (`fwnet import --no-optimize`).
//!
//! Each variant gets its own client and server namespace joined by veth
//! (`fwnet_apply::verify::netns`): the server loads the ruleset (`iptables-legacy-restore` of
//! the original, or `fwnet apply` of a state imported beforehand), the client sends UDP
//! datagrams to the server at maximum rate (one thread, `sendmmsg` batches over several
//! sockets) for a fixed time, from an address no rule of the ruleset matches, so every packet
//! walks the whole INPUT chain and is accepted. The server counts what got past INPUT from its
//! own UDP counters (`Udp: InDatagrams + NoPorts + InErrors` of its /proc/net/snmp): a bound
//! socket that is never read takes the datagrams until its buffer is full and drops the rest
//! cheaply (no ICMP errors). Runs of the three variants are interleaved, so background load on
//! the machine affects them alike; each figure is the median of `runs` runs. A server without
//! any ruleset is measured the same way: the ceiling the rest of the stack allows.
//!
//! A second table compares the 10k mixed ruleset imported alone (per-family tables) with the
//! same file and a small ip6tables file imported with `--inet` (one inet table per iptables
//! table, [`fwnet_nft::inet`]): the IPv4 traffic then also crosses the IPv6 base chain's one
//! `meta nfproto ipv4 accept` rule.
//!
//! The mixed ruleset is measured twice: with the UDP load above, which its protocol dispatch
//! keeps away from the TCP rules, and with TCP segments, which walk them all: its 1,188
//! three-port lists, which fwnet writes as one rule per port in so large a table
//! ([`fwnet_nft::shared_sets`]), and every other TCP rule. The segments are bare RSTs to a
//! port nothing listens on, from a raw socket: conntrack tracks no connection for them (they
//! are INVALID, so no ESTABLISHED rule takes them early), and the server answers nothing (no
//! reply to a RST). The server counts them with `Tcp: InSegs`, which counts every segment
//! that reached TCP, so past INPUT.
//!
//! Approximate by nature: on veth the sending thread also does the receive path in softirq, so
//! packets per second measure the whole stack, of which the ruleset is the part that varies.
//! Not measured here: TCP connections (handshakes, established traffic), forwarding, IPv6,
//! multi-core scaling. No traffic leaves the namespaces made here.

use anyhow::{anyhow, bail, Context, Result};
use fwnet_apply::verify::netns::{Site, SiteSpec};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// UDP port the client sends to (nothing listens: discard).
const PORT: u16 = 9;
/// Datagrams per `sendmmsg` call.
const BATCH: usize = 64;
/// Client sockets, each its own source port (and conntrack entry).
const SOCKETS: usize = 4;

/// What the client sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Load {
    /// UDP datagrams to [`PORT`].
    Udp,
    /// TCP RST segments to [`PORT`].
    TcpRst,
}

/// One input measured on the packet path.
pub struct Row {
    /// Packets per second with no ruleset at all, measured alongside.
    pub ceiling_pps: f64,
    pub name: String,
    /// `-A` lines of the input.
    pub rules: usize,
    /// Rules in fwnet's optimized and one-to-one translations.
    pub fwnet_rules: usize,
    pub noopt_rules: usize,
    pub legacy_pps: f64,
    pub fwnet_pps: f64,
    pub noopt_pps: f64,
}

/// The inputs: a 10k and a 50k blocklist (every address `-j DROP`, policy ACCEPT), the 10k
/// mixed ruleset with final rules accepting the benchmark's traffic (policy DROP), under UDP
/// and under TCP, a dispatch of 1,000 subnets to zone chains (verdict maps) with a final rule
/// accepting the traffic, and 1,000 UDP port accepts in a ruleset without conntrack.
fn inputs() -> Vec<(String, String, Load)> {
    let mut mixed = super::generate_mixed(10_000);
    // The filter table comes last: put the accept rules before its COMMIT.
    if let Some(stripped) = mixed.strip_suffix("COMMIT\n") {
        mixed = format!(
            "{stripped}-A INPUT -s 10.77.0.0/24 -p udp -m udp --dport {PORT} -j ACCEPT\n\
             -A INPUT -s 10.77.0.0/24 -p tcp -m tcp --dport {PORT} -j ACCEPT\nCOMMIT\n"
        );
    }
    let mut dispatch = super::generate_dispatch(1_000);
    if let Some(stripped) = dispatch.strip_suffix("COMMIT\n") {
        dispatch = format!(
            "{stripped}-A INPUT -s 10.77.0.0/24 -p udp -m udp --dport {PORT} -j ACCEPT\nCOMMIT\n"
        );
    }
    // No conntrack, so fwnet guards port tests against non-first IPv4 fragments, except in
    // chains reached only from INPUT (the kernel reassembles every datagram before INPUT):
    // each port rule passes its protocol test and fails its port, the most a guard could cost.
    let mut stateless =
        String::from("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..1_000 {
        writeln!(
            stateless,
            "-A INPUT -p udp -m udp --dport {} -j ACCEPT",
            10_000 + i
        )
        .ok();
    }
    writeln!(
        stateless,
        "-A INPUT -s 10.77.0.0/24 -p udp -m udp --dport {PORT} -j ACCEPT\nCOMMIT"
    )
    .ok();
    vec![
        (
            "blocklist 10k".into(),
            super::generate_blocklist(10_000),
            Load::Udp,
        ),
        (
            "blocklist 50k".into(),
            super::generate_blocklist(50_000),
            Load::Udp,
        ),
        ("mixed 10k".into(), mixed.clone(), Load::Udp),
        ("mixed 10k, TCP".into(), mixed, Load::TcpRst),
        ("dispatch 1k".into(), dispatch, Load::Udp),
        ("stateless 1k ports".into(), stateless, Load::Udp),
    ]
}

/// Measures every input; `secs` of traffic per run and variant.
pub fn run(fwnet: &Path, work: &Path, runs: usize, secs: f64) -> Result<Vec<Row>> {
    fwnet_apply::verify::netns::cleanup_on_signals().map_err(|e| anyhow!(e))?;
    let mut rows = Vec::new();
    for (name, text, load) in inputs() {
        let slug = name.replace(", ", "-").replace(' ', "-");
        let file = work.join(format!("packets-{slug}.rules"));
        std::fs::write(&file, &text)?;
        let rules = text.lines().filter(|l| l.starts_with("-A")).count();
        eprintln!("bench --packets: {name} ({rules} rules), {runs} runs of {secs} s per variant");
        let opt = work.join(format!("packets-state-{slug}"));
        let noopt = work.join(format!("packets-state-{slug}-noopt"));
        import(fwnet, &opt, &file, &[])?;
        import(fwnet, &noopt, &file, &["--no-optimize"])?;
        let sites = [
            site("pl", |s| load_legacy(s, &text))?,
            site("pf", |s| load_fwnet(s, fwnet, &opt))?,
            site("pn", |s| load_fwnet(s, fwnet, &noopt))?,
            site("p0", |_| Ok(()))?,
        ];
        for s in &sites {
            // Warm up: conntrack entries, neighbour and route caches, page faults.
            measure(s, load, 0.3)?;
        }
        let mut pps: [Vec<f64>; 4] = Default::default();
        for _ in 0..runs {
            for (i, s) in sites.iter().enumerate() {
                pps[i].push(measure(s, load, secs)?);
            }
        }
        let [legacy, fw, no, ceiling] = pps.map(median);
        eprintln!(
            "  legacy {legacy:.0} pps, fwnet {fw:.0} pps ({:.2}x), --no-optimize {no:.0} pps ({:.2}x), no ruleset {ceiling:.0} pps",
            fw / legacy.max(1.0),
            no / legacy.max(1.0)
        );
        rows.push(Row {
            name,
            rules,
            fwnet_rules: stored_rules(fwnet, &opt)?,
            noopt_rules: stored_rules(fwnet, &noopt)?,
            ceiling_pps: ceiling,
            legacy_pps: legacy,
            fwnet_pps: fw,
            noopt_pps: no,
        });
    }
    Ok(rows)
}

/// The 10k mixed ruleset, per-family against `--inet` with an ip6tables file beside it.
pub struct InetRow {
    pub per_family_pps: f64,
    pub inet_pps: f64,
}

/// A small ip6tables file for the `--inet` row: a web server's INPUT, as the seed's companion.
const SMALL_V6: &str = "\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ACCEPT
-A INPUT -s 2001:db8:1::/48 -p tcp -m tcp --dport 22 -m state --state NEW -j ACCEPT
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
-A INPUT -j REJECT --reject-with icmp6-adm-prohibited
COMMIT
";

/// Measures the 10k mixed ruleset per-family and merged into inet tables, interleaved.
pub fn run_inet(fwnet: &Path, work: &Path, runs: usize, secs: f64) -> Result<InetRow> {
    let (_, mixed, _) = inputs()
        .into_iter()
        .find(|(n, _, _)| n == "mixed 10k")
        .context("the mixed 10k input")?;
    let v4 = work.join("packets-inet.v4");
    let v6 = work.join("packets-inet.v6");
    std::fs::write(&v4, &mixed)?;
    std::fs::write(&v6, SMALL_V6)?;
    eprintln!("bench --packets: mixed 10k per-family vs --inet, {runs} runs of {secs} s each");
    let per_family = work.join("packets-state-per-family");
    let inet = work.join("packets-state-inet");
    import(fwnet, &per_family, &v4, &[])?;
    let out = Command::new(fwnet)
        .args(["import", "--inet", "--state-dir"])
        .arg(&inet)
        .args([&v4, &v6])
        .output()?;
    if !out.status.success() {
        bail!(
            "fwnet import --inet failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let sites = [
        site("pa", |s| load_fwnet(s, fwnet, &per_family))?,
        site("pi", |s| load_fwnet(s, fwnet, &inet))?,
    ];
    for s in &sites {
        measure(s, Load::Udp, 0.3)?;
    }
    let mut pps: [Vec<f64>; 2] = Default::default();
    for _ in 0..runs {
        for (i, s) in sites.iter().enumerate() {
            pps[i].push(measure(s, Load::Udp, secs)?);
        }
    }
    let [per_family_pps, inet_pps] = pps.map(median);
    eprintln!(
        "  per-family {per_family_pps:.0} pps, --inet {inet_pps:.0} pps ({:.3}x)",
        inet_pps / per_family_pps.max(1.0)
    );
    Ok(InetRow {
        per_family_pps,
        inet_pps,
    })
}

/// The Markdown table of [`run_inet`].
pub fn render_inet(r: &InetRow, runs: usize, secs: f64) -> Result<String> {
    let mut s = String::new();
    writeln!(
        s,
        "\nThe 10k mixed ruleset imported alone (ip tables) against the same file with a \
         {}-rule ip6tables file imported with `--inet` (inet tables, per-family base chains); \
         same traffic, {secs} s per run, median of {runs} interleaved runs. Ratio = inet pps / \
         per-family pps.\n",
        SMALL_V6.lines().filter(|l| l.starts_with("-A")).count()
    )?;
    writeln!(s, "| input | per-family pps | --inet pps | ratio |")?;
    writeln!(s, "|---|---:|---:|---:|")?;
    writeln!(
        s,
        "| mixed 10k (+ ip6tables with --inet) | {:.0} | {:.0} | {:.3} |",
        r.per_family_pps,
        r.inet_pps,
        r.inet_pps / r.per_family_pps.max(1.0)
    )?;
    Ok(s)
}

fn import(fwnet: &Path, state: &Path, file: &Path, extra: &[&str]) -> Result<()> {
    let out = Command::new(fwnet)
        .arg("import")
        .args(extra)
        .arg("--state-dir")
        .arg(state)
        .arg(file)
        .output()?;
    if !out.status.success() {
        bail!(
            "fwnet import {} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Rules in the stored ruleset: the rule lines of `fwnet show`.
fn stored_rules(fwnet: &Path, state: &Path) -> Result<usize> {
    let out = Command::new(fwnet)
        .arg("show")
        .arg("--state-dir")
        .arg(state)
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("\t\t"))
        .count())
}

/// A site with its ruleset loaded and the server's socket.
struct Bench {
    site: Site,
    _sink: OwnedFd,
}

fn site(tag: &str, load: impl FnOnce(&Site) -> Result<()>) -> Result<Bench> {
    let spec = SiteSpec {
        links: vec!["veth0".into()],
        ..SiteSpec::default()
    };
    let site = Site::new(tag, &spec).map_err(|e| anyhow!(e))?;
    load(&site)?;
    let sink = site.server.try_run_in(sink).map_err(|e| anyhow!(e))??;
    Ok(Bench { site, _sink: sink })
}

/// A UDP socket bound to [`PORT`] in this thread's namespace, never read.
fn sink() -> Result<OwnedFd> {
    // SAFETY: a new descriptor, owned at once; bind reads a live sockaddr_in.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            bail!("socket: {}", std::io::Error::last_os_error());
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = PORT.to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        if libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len) != 0 {
            bail!("bind: {}", std::io::Error::last_os_error());
        }
        Ok(owned)
    }
}

fn load_legacy(s: &Site, text: &str) -> Result<()> {
    s.server
        .exec_stdin("iptables-legacy-restore", &[], text)
        .map_err(|e| anyhow!(e))
        .map(drop)
}

fn load_fwnet(s: &Site, fwnet: &Path, state: &Path) -> Result<()> {
    let (bin, dir) = (
        fwnet.to_str().context("utf-8 path")?,
        state.to_str().context("utf-8 path")?,
    );
    s.server
        .exec(bin, &["apply", "--state-dir", dir])
        .map_err(|e| anyhow!(e))
        .map(drop)
}

/// Sends `load` for `secs` seconds from the client; returns the packets per second the
/// server's UDP or TCP layer received in that time.
fn measure(b: &Bench, load: Load, secs: f64) -> Result<f64> {
    let s = &b.site;
    let link = &s.links[0];
    let received = move || match load {
        Load::Udp => udp_in(),
        Load::TcpRst => tcp_in(),
    };
    let (src, dst) = (link.client_ip(), link.server_ip());
    let before = s.server.try_run_in(received).map_err(|e| anyhow!(e))??;
    let span = Duration::from_secs_f64(secs);
    let elapsed = s
        .client
        .try_run_in(|| match load {
            Load::Udp => blast(dst, span),
            Load::TcpRst => blast_rst(src, dst, span),
        })
        .map_err(|e| anyhow!(e))??;
    let after = s.server.try_run_in(received).map_err(|e| anyhow!(e))??;
    Ok(after.saturating_sub(before) as f64 / elapsed.as_secs_f64())
}

/// `InSegs` of this thread's namespace: TCP segments past INPUT.
fn tcp_in() -> Result<u64> {
    snmp_sum("Tcp:", &["InSegs"])
}

/// `InDatagrams + NoPorts + InErrors` of this thread's namespace: datagrams past INPUT.
fn udp_in() -> Result<u64> {
    snmp_sum("Udp:", &["InDatagrams", "NoPorts", "InErrors"])
}

/// The sum of the `fields` of the `prefix` lines of this thread's namespace's
/// /proc/net/snmp (a line of names, then a line of values).
fn snmp_sum(prefix: &str, fields: &[&str]) -> Result<u64> {
    let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp")?;
    let mut lines = snmp.lines().filter(|l| l.starts_with(prefix));
    let (names, values) = (
        lines
            .next()
            .with_context(|| format!("no {prefix} header in snmp"))?,
        lines
            .next()
            .with_context(|| format!("no {prefix} values in snmp"))?,
    );
    let mut total = 0;
    let mut found = 0;
    for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
        if fields.contains(&n) {
            total += v.parse::<u64>()?;
            found += 1;
        }
    }
    if found != fields.len() {
        bail!("{prefix} in snmp lacks one of {fields:?}");
    }
    Ok(total)
}

/// Sends 16-byte UDP datagrams to `dst` for `span` as fast as one thread can.
fn blast(dst: Ipv4Addr, span: Duration) -> Result<Duration> {
    // SAFETY: plain socket calls on descriptors owned here (closed on return); the message
    // array, the iovec and the payload outlive every sendmmsg call that points into them.
    unsafe {
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = PORT.to_be();
        addr.sin_addr.s_addr = u32::from(dst).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        let mut fds = Vec::new();
        for _ in 0..SOCKETS {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                bail!("socket: {}", std::io::Error::last_os_error());
            }
            // Connected: the route is looked up once, not per datagram.
            if libc::connect(fd, (&addr as *const libc::sockaddr_in).cast(), len) != 0 {
                bail!("connect: {}", std::io::Error::last_os_error());
            }
            fds.push(OwnedFd::from_raw_fd(fd));
        }
        let mut payload = [0x5au8; 16];
        let mut iov = libc::iovec {
            iov_base: payload.as_mut_ptr().cast(),
            iov_len: payload.len(),
        };
        let mut msgs: Vec<libc::mmsghdr> = (0..BATCH)
            .map(|_| {
                let mut m: libc::mmsghdr = std::mem::zeroed();
                m.msg_hdr.msg_iov = &mut iov;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        let started = Instant::now();
        let mut i = 0;
        while started.elapsed() < span {
            let fd = fds[i % SOCKETS].as_raw_fd();
            i += 1;
            // Full queues (ENOBUFS) and the like are the point of a max-rate test: go on.
            libc::sendmmsg(fd, msgs.as_mut_ptr(), BATCH as u32, 0);
        }
        Ok(started.elapsed())
    }
}

/// A TCP header with the RST flag from `src`:`sport` to `dst`:[`PORT`], checksummed: the
/// transport part of the verifier's probe packet (`fwnet_apply::verify::packet`), whose
/// 20-byte IPv4 header the raw socket writes itself.
fn rst_segment(src: Ipv4Addr, dst: Ipv4Addr, sport: u16) -> Vec<u8> {
    use fwnet_apply::verify::packet::{Packet, RST};
    Packet::tcp(src, sport, dst, PORT, RST).to_bytes()[20..].to_vec()
}

/// Sends TCP RST segments from `src` to `dst` for `span` as fast as one thread can, from
/// [`BATCH`] source ports, through a raw socket (the kernel adds the IP header).
fn blast_rst(src: Ipv4Addr, dst: Ipv4Addr, span: Duration) -> Result<Duration> {
    let mut segments: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| rst_segment(src, dst, 20_000 + i as u16))
        .collect();
    // SAFETY: a socket owned here (closed on return); the message array and the iovecs point
    // into `segments`, which outlives every sendmmsg call.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_TCP,
        );
        if fd < 0 {
            bail!("raw socket: {}", std::io::Error::last_os_error());
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(dst).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        if libc::connect(fd, (&addr as *const libc::sockaddr_in).cast(), len) != 0 {
            bail!("connect: {}", std::io::Error::last_os_error());
        }
        let mut iovs: Vec<libc::iovec> = segments
            .iter_mut()
            .map(|seg| libc::iovec {
                iov_base: seg.as_mut_ptr().cast(),
                iov_len: seg.len(),
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .map(|iov| {
                let mut m: libc::mmsghdr = std::mem::zeroed();
                m.msg_hdr.msg_iov = iov;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        let started = Instant::now();
        while started.elapsed() < span {
            // Full queues (ENOBUFS) and the like are the point of a max-rate test: go on.
            libc::sendmmsg(owned.as_raw_fd(), msgs.as_mut_ptr(), BATCH as u32, 0);
        }
        Ok(started.elapsed())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The Markdown table of the packet path.
pub fn render(rows: &[Row], runs: usize, secs: f64) -> Result<String> {
    let mut s = String::new();
    writeln!(s, "\n## Packet path (`cargo xtask bench --packets`)\n")?;
    writeln!(
        s,
        "UDP (TCP RST segments on the TCP row) at maximum rate from a client namespace to a \
         server namespace over veth, one sending thread, {secs} s per run, median of {runs} \
         interleaved runs; the traffic walks the whole INPUT chain and is accepted. Ratio = fwnet pps / iptables-legacy pps (above \
         1: fwnet is faster). \"no ruleset\" is a server without any: the ceiling the rest of \
         the stack allows, and \"best ratio\" is that ceiling over iptables-legacy's pps, the \
         highest ratio this setup can show for a ruleset that cost nothing.\n"
    )?;
    writeln!(s, "| input | rules | fwnet rules | iptables-legacy pps | fwnet pps | ratio | fwnet --no-optimize rules | --no-optimize pps | ratio | no ruleset pps | best ratio |")?;
    writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for r in rows {
        let ratio = |x: f64| x / r.legacy_pps.max(1.0);
        writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.0} | {:.2} | {} | {:.0} | {:.2} | {:.0} | {:.2} |",
            r.name,
            r.rules,
            r.fwnet_rules,
            r.legacy_pps,
            r.fwnet_pps,
            ratio(r.fwnet_pps),
            r.noopt_rules,
            r.noopt_pps,
            ratio(r.noopt_pps),
            r.ceiling_pps,
            ratio(r.ceiling_pps)
        )?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one's-complement sum of the pseudo-header and the segment, checksum included, is
    /// all ones for a segment the receiver accepts (RFC 793, 1071), so its checksum is 0.
    #[test]
    fn rst_segments_carry_a_valid_checksum() {
        use fwnet_apply::verify::packet::checksum;
        let (src, dst) = (Ipv4Addr::new(10, 77, 0, 2), Ipv4Addr::new(10, 77, 0, 1));
        for sport in [20_000u16, 20_063, 1, 65_535] {
            let seg = rst_segment(src, dst, sport);
            assert_eq!(seg.len(), 20, "a header without options");
            let pseudo = [&src.octets()[..], &dst.octets(), &[0, 6, 0, 20]].concat();
            assert_eq!(checksum(&[&pseudo, &seg]), 0, "source port {sport}");
            assert_eq!(seg[13], 0x04, "only RST is set");
            assert_eq!(u16::from_be_bytes([seg[0], seg[1]]), sport);
            assert_eq!(u16::from_be_bytes([seg[2], seg[3]]), PORT);
        }
    }
}
