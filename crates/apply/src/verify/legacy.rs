//! The legacy side's counters, read from the kernel's ip_tables tables directly: the chains of
//! each loaded table, each rule's packet counter and each built-in chain's policy counter, the
//! figures `iptables-legacy-save -c` prints, without running it.
//!
//! `fwnet verify` reads the legacy server's counters after every probe. `iptables-legacy-save
//! -c` is a process that formats every rule: 1.4 ms a call for the seed, 16 ms at 10,000 rules
//! (AMD EPYC, 2 cores); this read takes the same table blob from the kernel and walks it
//! without formatting a rule.
//!
//! Kernel interface (`include/uapi/linux/netfilter_ipv4/ip_tables.h`,
//! `netfilter_ipv6/ip6_tables.h`, `netfilter/x_tables.h`; layouts checked against Linux 6.18
//! on x86_64): `getsockopt(SOL_IP, IPT_SO_GET_INFO)` on a raw socket gives a table's hook
//! entry and underflow offsets and its size, `IPT_SO_GET_ENTRIES` its entries, each with its
//! counters summed over CPUs; `SOL_IPV6` and `IP6T_SO_*` for IPv6. Which tables exist comes
//! from `/proc/net/ip_tables_names`: asking for a table that is not loaded would load it.
//!
//! How the entries make chains (as libiptc reads them): a built-in chain starts at its hook's
//! entry offset and ends with its policy, the entry at the hook's underflow offset; a
//! user-defined chain starts with an `ERROR` target entry that carries its name and ends with
//! an unconditional `RETURN` entry that is no rule; the table ends with an `ERROR` entry named
//! `ERROR`.
//!
//! Only counters: rule texts still come from one `iptables-legacy-save` per run ([`super::run`]).

use fwnet_nft::Family;
use std::os::fd::{AsRawFd, OwnedFd};

/// `XT_TABLE_MAXNAMELEN`.
const XT_TABLE_MAXNAMELEN: usize = 32;
/// `NF_INET_NUMHOOKS`.
const NF_INET_NUMHOOKS: usize = 5;
/// `IPT_SO_GET_INFO` and `IP6T_SO_GET_INFO` (`IPT_BASE_CTL`).
const IPT_SO_GET_INFO: libc::c_int = 64;
/// `IPT_SO_GET_ENTRIES` and `IP6T_SO_GET_ENTRIES`.
const IPT_SO_GET_ENTRIES: libc::c_int = 65;
/// `sizeof(struct ipt_getinfo)`: name, valid_hooks, hook_entry[5], underflow[5], num_entries,
/// size.
const GETINFO_LEN: usize = XT_TABLE_MAXNAMELEN + 4 * (2 + 2 * NF_INET_NUMHOOKS + 1);
/// `sizeof(struct ipt_get_entries)`: name, size, and the entry table aligned to 8.
const GET_ENTRIES_LEN: usize = 40;
/// `sizeof(struct xt_entry_target)` as user space sees it: target_size (u16), name[29],
/// revision (u8).
const XT_ENTRY_TARGET_LEN: usize = 32;
/// `XT_EXTENSION_MAXNAMELEN`: a target's name field.
const XT_EXTENSION_MAXNAMELEN: usize = 29;
/// `XT_FUNCTION_MAXNAMELEN`: `struct xt_error_target`'s errorname.
const XT_FUNCTION_MAXNAMELEN: usize = 30;
/// `XT_ERROR_TARGET`: a user chain's head, and the table's end.
const XT_ERROR_TARGET: &[u8] = b"ERROR";
/// The hooks in `NF_INET_*` order, as iptables names their chains.
const HOOK_CHAINS: [&str; NF_INET_NUMHOOKS] =
    ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/// Where a family's entry keeps its fields (`struct ipt_entry`, `struct ip6t_entry`).
struct Layout {
    /// `target_offset` (u16), followed by `next_offset` (u16).
    target_offset: usize,
    /// `counters.pcnt` (u64), the packets.
    packets: usize,
    /// `sizeof` the entry: the matches start here.
    size: usize,
}

impl Layout {
    fn of(family: Family) -> Layout {
        match family {
            // struct ipt_ip is 84 bytes; then nfcache, target_offset, next_offset, comefrom
            // and the counters at 96.
            Family::Ip | Family::Inet => Layout {
                target_offset: 88,
                packets: 96,
                size: 112,
            },
            // struct ip6t_ip6 is 136 bytes; the counters are aligned to 8, at 152.
            Family::Ip6 => Layout {
                target_offset: 140,
                packets: 152,
                size: 168,
            },
        }
    }
}

/// One chain of a table as the kernel holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    /// The policy's packet counter; `None` for a user-defined chain, which has no policy.
    pub policy: Option<u64>,
    /// Each rule's packet counter, in order.
    pub rules: Vec<u64>,
}

/// A table's hook offsets and size (`struct ipt_getinfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    pub valid_hooks: u32,
    pub hook_entry: [u32; NF_INET_NUMHOOKS],
    pub underflow: [u32; NF_INET_NUMHOOKS],
    pub size: u32,
}

impl Info {
    /// Reads `struct ipt_getinfo` (native byte order).
    fn parse(buf: &[u8; GETINFO_LEN]) -> Info {
        let word = |i: usize| {
            let at = XT_TABLE_MAXNAMELEN + 4 * i;
            u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
        };
        Info {
            valid_hooks: word(0),
            hook_entry: std::array::from_fn(|h| word(1 + h)),
            underflow: std::array::from_fn(|h| word(1 + NF_INET_NUMHOOKS + h)),
            size: word(2 + 2 * NF_INET_NUMHOOKS),
        }
    }

    /// The hook whose chain starts at `offset`.
    fn hook_at(&self, offset: usize) -> Option<usize> {
        (0..NF_INET_NUMHOOKS)
            .find(|&h| self.valid_hooks & (1 << h) != 0 && self.hook_entry[h] as usize == offset)
    }
}

/// Every loaded table of `family` with its chains, as the kernel holds them now. Call it from a
/// thread inside the namespace to read ([`super::netns::Netns::try_run_in`]).
pub fn read(family: Family) -> Result<Vec<(String, Vec<Chain>)>, String> {
    let (names, domain, level) = match family {
        Family::Ip6 => ("ip6_tables_names", libc::AF_INET6, libc::SOL_IPV6),
        Family::Ip | Family::Inet => ("ip_tables_names", libc::AF_INET, libc::SOL_IP),
    };
    let path = format!("/proc/thread-self/net/{names}");
    let names = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        // No ip_tables module: no table either.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("reading {path}: {e}")),
    };
    let socket =
        super::packet::owned_socket(domain, libc::SOCK_RAW, libc::IPPROTO_RAW, "ip_tables")?;
    let mut tables = Vec::new();
    for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
        let chains = read_table(&socket, level, name, family)?;
        tables.push((name.to_string(), chains));
    }
    Ok(tables)
}

/// One table's chains. The entries are asked for with the size `IPT_SO_GET_INFO` gave; a
/// table replaced in between answers `EAGAIN`, and is asked for again.
fn read_table(
    socket: &OwnedFd,
    level: libc::c_int,
    name: &str,
    family: Family,
) -> Result<Vec<Chain>, String> {
    if name.len() >= XT_TABLE_MAXNAMELEN {
        return Err(format!("ip_tables table name {name:?} is too long"));
    }
    let mut last = String::new();
    for _ in 0..3 {
        let mut info = [0u8; GETINFO_LEN];
        info[..name.len()].copy_from_slice(name.as_bytes());
        getsockopt(socket, level, IPT_SO_GET_INFO, &mut info)
            .map_err(|e| format!("ip_tables table {name}: IPT_SO_GET_INFO: {e}"))?;
        let info = Info::parse(&info);
        let size = info.size as usize;
        let mut buf = vec![0u8; GET_ENTRIES_LEN + size];
        buf[..name.len()].copy_from_slice(name.as_bytes());
        buf[XT_TABLE_MAXNAMELEN..XT_TABLE_MAXNAMELEN + 4].copy_from_slice(&info.size.to_ne_bytes());
        match getsockopt(socket, level, IPT_SO_GET_ENTRIES, &mut buf) {
            Ok(()) => {
                return decode(&info, &buf[GET_ENTRIES_LEN..], family)
                    .map_err(|e| format!("ip_tables table {name}: {e}"))
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => last = e.to_string(),
            Err(e) => return Err(format!("ip_tables table {name}: IPT_SO_GET_ENTRIES: {e}")),
        }
    }
    Err(format!(
        "ip_tables table {name}: changed while read three times: {last}"
    ))
}

/// `getsockopt` into all of `buf`, which the kernel must fill exactly.
fn getsockopt(
    socket: &OwnedFd,
    level: libc::c_int,
    option: libc::c_int,
    buf: &mut [u8],
) -> std::io::Result<()> {
    let mut len = libc::socklen_t::try_from(buf.len())
        .map_err(|_| std::io::Error::other("table too large"))?;
    // SAFETY: buf is live and writable for len bytes for the call; the kernel writes at most
    // len bytes and stores the length it wrote in len.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            level,
            option,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The chains of one table's entries (`entries`: the blob `IPT_SO_GET_ENTRIES` gives after its
/// header). Pure: malformed bytes are an error, never a panic or an endless walk.
pub fn decode(info: &Info, entries: &[u8], family: Family) -> Result<Vec<Chain>, String> {
    let layout = Layout::of(family);
    let mut chains: Vec<Chain> = Vec::new();
    // The hook of the built-in chain being read, or None in a user-defined chain.
    let mut hook: Option<usize> = None;
    // Whether a chain is open (its policy or footer not yet read).
    let mut open = false;
    let mut offset = 0;
    while offset < entries.len() {
        let entry = Entry::at(entries, offset, &layout)?;
        if let Some(h) = info.hook_at(offset) {
            if open {
                return Err(format!(
                    "chain {} does not end before offset {offset}",
                    chain_name(&chains)
                ));
            }
            chains.push(Chain {
                name: HOOK_CHAINS[h].to_string(),
                policy: None,
                rules: Vec::new(),
            });
            (hook, open) = (Some(h), true);
        }
        if entry.target == XT_ERROR_TARGET {
            if open {
                return Err(format!(
                    "chain {} does not end before offset {offset}",
                    chain_name(&chains)
                ));
            }
            let name = entry.error_name()?;
            if name == XT_ERROR_TARGET {
                return Ok(chains);
            }
            chains.push(Chain {
                name: String::from_utf8_lossy(name).into_owned(),
                policy: None,
                rules: Vec::new(),
            });
            (hook, open) = (None, true);
            offset += entry.next;
            continue;
        }
        let Some(chain) = chains.last_mut().filter(|_| open) else {
            return Err(format!("entry at offset {offset} is in no chain"));
        };
        match hook {
            Some(h) if info.underflow[h] as usize == offset => {
                chain.policy = Some(entry.packets);
                open = false;
            }
            Some(_) => chain.rules.push(entry.packets),
            None => {
                // A user chain's last entry, before the next chain's head, is its RETURN.
                let next = Entry::at(entries, offset + entry.next, &layout)?;
                if next.target == XT_ERROR_TARGET {
                    open = false;
                } else {
                    chain.rules.push(entry.packets);
                }
            }
        }
        offset += entry.next;
    }
    Err(format!("no closing ERROR entry in {} bytes", entries.len()))
}

fn chain_name(chains: &[Chain]) -> &str {
    chains.last().map_or("?", |c| c.name.as_str())
}

/// One entry's fields that [`decode`] reads, bounds-checked.
struct Entry<'a> {
    /// From this entry to the next (`next_offset`).
    next: usize,
    packets: u64,
    /// The target's name, without its NUL padding.
    target: &'a [u8],
    /// The target's data (an error target's name, a standard target's verdict...).
    data: &'a [u8],
}

impl<'a> Entry<'a> {
    fn at(entries: &'a [u8], offset: usize, layout: &Layout) -> Result<Entry<'a>, String> {
        let bytes = entries
            .get(offset..)
            .filter(|b| b.len() >= layout.size)
            .ok_or_else(|| format!("entry at offset {offset} runs past the table's end"))?;
        let u16_at = |at: usize| usize::from(u16::from_ne_bytes([bytes[at], bytes[at + 1]]));
        let (target, next) = (
            u16_at(layout.target_offset),
            u16_at(layout.target_offset + 2),
        );
        if target < layout.size || target + XT_ENTRY_TARGET_LEN > next || next > bytes.len() {
            return Err(format!(
                "entry at offset {offset}: target at {target} and next entry at {next} do not fit \
                 its {} bytes",
                bytes.len()
            ));
        }
        let mut packets = [0u8; 8];
        packets.copy_from_slice(&bytes[layout.packets..layout.packets + 8]);
        let name = &bytes[target + 2..target + 2 + XT_EXTENSION_MAXNAMELEN];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        Ok(Entry {
            next,
            packets: u64::from_ne_bytes(packets),
            target: name,
            data: &bytes[target + XT_ENTRY_TARGET_LEN..next],
        })
    }

    /// An `ERROR` target's name (`struct xt_error_target`'s errorname).
    fn error_name(&self) -> Result<&'a [u8], String> {
        let name = self
            .data
            .get(..XT_FUNCTION_MAXNAMELEN)
            .ok_or_else(|| "an ERROR entry too short for its name".to_string())?;
        Ok(&name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One IPv4 entry: no matches, `target` with `data`, `packets` in its counters.
    fn entry(packets: u64, target: &str, data: &[u8]) -> Vec<u8> {
        let size = 112 + (XT_ENTRY_TARGET_LEN + data.len()).next_multiple_of(8);
        let mut e = vec![0u8; size];
        e[88..90].copy_from_slice(&112u16.to_ne_bytes()); // target_offset
        e[90..92].copy_from_slice(&(size as u16).to_ne_bytes()); // next_offset
        e[96..104].copy_from_slice(&packets.to_ne_bytes()); // counters.pcnt
        e[112..114].copy_from_slice(&((size - 112) as u16).to_ne_bytes()); // target_size
        e[114..114 + target.len()].copy_from_slice(target.as_bytes()); // name
        e[144..144 + data.len()].copy_from_slice(data);
        e
    }

    /// A standard target (`""`) with its verdict.
    fn standard(packets: u64, verdict: i32) -> Vec<u8> {
        entry(packets, "", &verdict.to_ne_bytes())
    }

    fn error(name: &str) -> Vec<u8> {
        let mut data = [0u8; XT_FUNCTION_MAXNAMELEN];
        data[..name.len()].copy_from_slice(name.as_bytes());
        entry(0, "ERROR", &data)
    }

    /// `filter` with INPUT (two rules, policy DROP), FORWARD and OUTPUT (policies only), and a
    /// user chain `SVC` (one LOG rule and its RETURN); the entries and the hook offsets.
    fn filter_table() -> (Info, Vec<u8>) {
        const ACCEPT: i32 = -2; // -NF_ACCEPT - 1
        const DROP: i32 = -1; // -NF_DROP - 1
        const RETURN: i32 = -5; // XT_RETURN
        let parts = [
            standard(7, ACCEPT),       // INPUT rule 1
            standard(3, 0),            // INPUT rule 2 (a jump's offset: never read)
            standard(11, DROP),        // INPUT policy
            standard(0, ACCEPT),       // FORWARD policy
            standard(5, ACCEPT),       // OUTPUT policy
            error("SVC"),              // SVC head
            entry(2, "LOG", &[0; 80]), // SVC rule 1
            standard(9, RETURN),       // SVC footer
            error("ERROR"),            // the table's end
        ];
        let offsets: Vec<u32> = parts
            .iter()
            .scan(0u32, |at, p| {
                let here = *at;
                *at += p.len() as u32;
                Some(here)
            })
            .collect();
        let info = Info {
            valid_hooks: 0b01110,
            hook_entry: [0, offsets[0], offsets[3], offsets[4], 0],
            underflow: [0, offsets[2], offsets[3], offsets[4], 0],
            size: parts.iter().map(Vec::len).sum::<usize>() as u32,
        };
        (info, parts.concat())
    }

    #[test]
    fn chains_rules_and_policies_are_read_from_the_entries() {
        let (info, bytes) = filter_table();
        let chain = |name: &str, policy, rules: &[u64]| Chain {
            name: name.into(),
            policy,
            rules: rules.to_vec(),
        };
        assert_eq!(
            decode(&info, &bytes, Family::Ip),
            Ok(vec![
                chain("INPUT", Some(11), &[7, 3]),
                chain("FORWARD", Some(0), &[]),
                chain("OUTPUT", Some(5), &[]),
                chain("SVC", None, &[2]),
            ])
        );
    }

    #[test]
    fn malformed_entries_are_errors_not_panics_or_endless_walks() {
        let (info, bytes) = filter_table();
        // Every truncation, and a zero next_offset (which would walk in place for ever).
        for len in 0..bytes.len() {
            assert!(
                decode(&info, &bytes[..len], Family::Ip).is_err(),
                "{len} bytes"
            );
        }
        let mut looping = bytes.clone();
        looping[90..92].copy_from_slice(&0u16.to_ne_bytes());
        assert!(decode(&info, &looping, Family::Ip).is_err());
        // A hook offset that lands inside an open chain.
        let mut inside = info.clone();
        inside.hook_entry[2] = inside.hook_entry[1] + 152;
        assert!(decode(&inside, &bytes, Family::Ip).is_err());
    }
}
