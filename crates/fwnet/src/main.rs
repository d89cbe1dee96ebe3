//! The `fwnet` command line: the only user of clap and anyhow.
//!
//! Each subcommand is a thin layer over the library crates: parse and translate (`import`),
//! print (`show`), program the kernel (`apply`), read it back (`status`). Exit codes are part
//! of the interface and documented in `--help` and README.md.

mod cmd;
mod json;
mod lockout;
mod output;
mod safe;
mod state;
mod verify;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The system allocator, and for `import`'s main thread an arena (`fwnet_apply::arena`).
#[global_allocator]
static ALLOC: fwnet_apply::arena::Arena = fwnet_apply::arena::Arena;

/// Exit codes (documented in `fwnet --help` and README.md).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The input has problems (parse or translation errors): nothing was stored or applied.
    pub const INPUT: u8 = 1;
    /// Command line misuse (clap's own code).
    pub const USAGE: u8 = 2;
    /// The kernel refused the ruleset: nothing was changed.
    pub const KERNEL: u8 = 3;
    /// The environment prevents the operation: not root, no nf_tables, no stored state.
    pub const ENV: u8 = 4;
    /// `apply` refused: the new ruleset would cut the SSH session fwnet runs over.
    pub const LOCKOUT: u8 = 5;
}

/// `-` (standard input) can be read once: a second one would read nothing.
fn stdin_at_most_once(name: &str, files: &[PathBuf]) {
    if files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        let mut cli = <Cli as clap::CommandFactory>::command();
        cli.build();
        let Some(sub) = cli.find_subcommand_mut(name) else {
            unreachable!("`{name}` is a subcommand");
        };
        sub.error(
            clap::error::ErrorKind::ArgumentConflict,
            "`-` (standard input) can be given only once",
        )
        .exit();
    }
}

const AFTER_HELP: &str = "\
Typical use:
  fwnet import /etc/sysconfig/iptables   translate and store (nothing touches the kernel)
  fwnet show                             read the stored ruleset as nft syntax
  fwnet verify /etc/sysconfig/iptables   prove it: legacy kernel vs fwnet, packet by packet
  fwnet diff                             what apply would change in the kernel
  fwnet apply --confirm 120              apply; roll back by itself unless `fwnet confirm`
  fwnet status                           what the kernel holds now, with counters

fwnet owns the nftables tables whose names start with `fwnet_` (ip fwnet_filter,
ip fwnet_nat, ...). It never modifies or flushes any other table.

Exit codes:
  0  success
  1  the input has problems (every one is listed); nothing was stored or applied
  2  command line misuse
  3  the kernel refused the ruleset; the previous ruleset is unchanged
  4  the environment prevents it (not root, nf_tables missing, no stored state)
  5  apply refused: the new ruleset would cut this SSH session (see --force, --confirm)";

#[derive(Parser)]
#[command(
    name = "fwnet",
    version,
    about = "Move an iptables firewall to native nftables, programmed over netlink",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
pub struct StateDir {
    /// Where the translated ruleset is stored
    #[arg(
        long,
        env = "FWNET_STATE_DIR",
        default_value = "/var/lib/fwnet",
        value_name = "DIR"
    )]
    pub state_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    #[command(display_order = 1)]
    /// Parse and translate iptables-save files, and store the result for `apply`
    ///
    /// Reads one or more files in iptables-save format (/etc/sysconfig/iptables,
    /// rules.v4, ...), translates every rule to native nftables and stores the result in the
    /// state directory. Every problem in every file is listed with file:line:column; if there
    /// is any, nothing is stored (the previous state stays) and the exit code is 1.
    Import {
        #[command(flatten)]
        state: StateDir,
        /// Treat every file as IPv4 (iptables) or IPv6 (ip6tables) instead of guessing
        /// from its content
        #[arg(long, value_parser = ["4", "6"], value_name = "4|6")]
        family: Option<String>,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
        /// Emit an approximation where no exact translation exists (e.g. `-m recent` checks
        /// of any age), marked `fwnet approximate` in the rule's comment and in the report;
        /// without it such rules are refused
        #[arg(long)]
        allow_approximate: bool,
        /// Keep one nftables rule per input line, in its chain: without it, runs of rules that
        /// differ in one address, port, protocol, ICMP type or interface name become one set
        /// lookup (with one counter per run), runs of four or more that also differ in their
        /// target become one verdict map, and a long chain whose rules mostly test one protocol
        /// each is split into one chain per protocol, so a packet walks only the rules that
        /// could match it
        #[arg(long)]
        no_optimize: bool,
        /// Build one inet table per iptables table (inet fwnet_filter, ...) instead of an ip
        /// and an ip6 table: each family keeps its own base chains (INPUT_ip, INPUT_ip6 ...),
        /// policies and rules. Needs Linux 5.2 or later for NAT (kernels before it have no inet
        /// nat), hence not the default
        #[arg(long)]
        inet: bool,
        /// Refuse user, group and host names (`--uid-owner postfix`, `-s www.example.org`)
        /// instead of looking them up on this host. By default they are looked up as
        /// iptables-restore does when it loads a file (passwd, group, /etc/networks, DNS); each
        /// one is reported with what it became, and the stored ruleset keeps the numbers
        #[arg(long)]
        no_resolve: bool,
        /// CentOS 6's /etc/sysconfig/iptables-config: the conntrack helpers its
        /// IPTABLES_MODULES loads (nf_conntrack_ftp, ip_conntrack_tftp ...) get explicit nft
        /// `ct helper` objects, assigned on their standard ports as that kernel did by itself,
        /// so RELATED keeps working
        #[arg(long, value_name = "FILE")]
        iptables_config: Option<PathBuf>,
        /// iptables-save files to import, and `ipset save` files whose sets `-m set` names;
        /// `-` reads standard input (`iptables-save | fwnet import -`), named `<stdin>` in
        /// messages and in `fwnet show`
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    #[command(display_order = 2)]
    /// Print the stored ruleset as nft syntax (loadable with `nft -f`)
    ///
    /// Each rule ends with a `# file:line` comment naming the line it came from.
    Show {
        #[command(flatten)]
        state: StateDir,
        /// Print the stored state itself as JSON (fwnet's IR, one line per rule and per set)
        /// instead of nft syntax: for scripts, and for reading what `apply` will load
        #[arg(long)]
        json: bool,
    },
    #[command(display_order = 4)]
    /// Program the stored ruleset into the kernel in one atomic transaction
    ///
    /// Replaces the tables fwnet owns (names starting with `fwnet_`) and nothing else, in one
    /// nf_tables batch: the kernel applies all of it or none of it. If the kernel refuses a
    /// rule, the error names the rule and its line in the imported file, and the previous
    /// ruleset stays exactly as it was.
    Apply {
        #[command(flatten)]
        state: StateDir,
        /// Let the kernel validate the whole batch, then commit nothing
        #[arg(long)]
        check: bool,
        /// Roll back to the previous ruleset by itself unless `fwnet confirm` runs within
        /// SECONDS (the watchdog survives the end of your SSH session)
        #[arg(long, value_name = "SECONDS", conflicts_with = "check")]
        confirm: Option<u64>,
        /// Carry the kernel's packet and byte counters over to every unchanged rule (and the
        /// policies) instead of loading the counters stored at import
        #[arg(long)]
        keep_counters: bool,
        /// Boot mode, for the systemd unit: restore what `fwnet save` saved if that is newer
        /// than the last import, otherwise apply the stored ruleset
        #[arg(long, conflicts_with_all = ["check", "confirm"])]
        boot: bool,
        /// Apply even if the new ruleset would cut the SSH session fwnet runs over
        #[arg(long, conflicts_with = "check")]
        force: bool,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    #[command(display_order = 9)]
    /// Save fwnet's tables as the kernel holds them now, to be restored at boot
    ///
    /// Use it after changing fwnet's tables by hand (or after `fwnet rollback`) when that is
    /// what the host should come up with. The next `fwnet import` takes precedence again.
    Save {
        #[command(flatten)]
        state: StateDir,
    },
    #[command(display_order = 10)]
    /// Install a systemd unit that programs the firewall at boot, before the network is up
    ///
    /// Writes fwnet.service (running `fwnet apply --boot`) into the unit directory and says how
    /// to enable it. Nothing is enabled or started by this command.
    InstallService {
        #[command(flatten)]
        state: StateDir,
        /// Where to write fwnet.service
        #[arg(long, default_value = "/etc/systemd/system", value_name = "DIR")]
        unit_dir: PathBuf,
    },
    #[command(display_order = 3)]
    /// Show what `apply` would change: the stored ruleset against the kernel's, rule by rule
    ///
    /// Lines starting with `-` are in the kernel and would go; lines starting with `+` would
    /// come, with the input line they were translated from. Exit code 0 when there is no
    /// difference, 1 when there is one (like diff(1)), 4 when the kernel cannot be read.
    Diff {
        #[command(flatten)]
        state: StateDir,
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    #[command(display_order = 5)]
    /// Keep the ruleset of a pending `apply --confirm`
    Confirm {
        #[command(flatten)]
        state: StateDir,
    },
    #[command(display_order = 6)]
    /// Put back the ruleset that ran before the last apply
    ///
    /// fwnet saves fwnet's tables as the kernel held them before every apply; this restores
    /// them in one transaction (and stops a pending `apply --confirm` watchdog).
    Rollback {
        #[command(flatten)]
        state: StateDir,
    },
    /// The confirm-or-rollback watchdog that `apply --confirm` starts (internal)
    #[command(hide = true)]
    Watchdog {
        #[command(flatten)]
        state: StateDir,
        #[arg(long)]
        deadline_ms: u64,
        #[arg(long)]
        token: String,
    },
    #[command(display_order = 7)]
    /// Show what the kernel holds in fwnet's tables, with per-rule counters
    ///
    /// Reads the tables over netlink and decodes them with fwnet's own decoder; rules that
    /// match the stored state are shown with their source line, others are flagged as drift.
    Status {
        #[command(flatten)]
        state: StateDir,
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    #[command(display_order = 8)]
    /// Prove, packet by packet, that the translation behaves like the legacy kernel
    ///
    /// In scratch network namespaces it creates and always removes, loads the files with
    /// iptables-legacy-restore on one side and fwnet's translation on the other, sends the same
    /// probes (derived from the rules) to both and compares the verdicts: packets to the server
    /// (INPUT), routed through it (FORWARD) and sent by it (OUTPUT), in every conntrack state
    /// the rules test (ESTABLISHED and RELATED ones where no real exchange can make them ride on
    /// connections written into the server's conntrack table), whole or in two fragments (for
    /// `-f`, `-m frag`, and the port tests fragments meet one by one), and for packets that get
    /// through, what NAT made of them (new destination or source), the mark they carry, the TOS
    /// byte and TTL the mangle table set, and their connection's conntrack entry (none, or the
    /// mark, zone and helper NOTRACK, CT and CONNMARK rules gave it).
    /// Exit codes: 0 every verdict, mapping, mark, header field and entry matches, 1 at least
    /// one mismatch, 2 verification could not run.
    Verify(verify::Args),
}

fn main() -> ExitCode {
    // Like every Unix filter: `fwnet status | head` ends quietly instead of panicking on EPIPE.
    // SAFETY: called before any other thread exists; restoring a default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match &cli.command {
        Command::Import { files, .. } => stdin_at_most_once("import", files),
        Command::Verify(args) => stdin_at_most_once("verify", &args.files),
        _ => {}
    }
    let result = match cli.command {
        Command::Import {
            state,
            family,
            json,
            allow_approximate,
            no_optimize,
            inet,
            no_resolve,
            iptables_config,
            files,
        } => cmd::iptables_config(iptables_config.as_deref()).and_then(|iptables_config| {
            cmd::import(
                &state.state_dir,
                family.as_deref(),
                json,
                &files,
                &fwnet_translate::Options {
                    allow_approximate,
                    iptables_config,
                    names: None,
                },
                cmd::ImportHow {
                    optimize: !no_optimize,
                    inet,
                    resolve: !no_resolve,
                },
            )
        }),
        Command::Show { state, json } => cmd::show(&state.state_dir, json),
        Command::Apply {
            state,
            check,
            confirm,
            keep_counters,
            boot,
            force,
            json,
        } => cmd::apply(
            &state.state_dir,
            &cmd::ApplyOpts {
                check,
                confirm,
                keep_counters,
                boot,
                force,
                json,
            },
        ),
        Command::Save { state } => safe::save(&state.state_dir),
        Command::InstallService { state, unit_dir } => {
            cmd::install_service(&state.state_dir, &unit_dir)
        }
        Command::Diff { state, json } => cmd::diff(&state.state_dir, json),
        Command::Confirm { state } => safe::confirm(&state.state_dir),
        Command::Rollback { state } => safe::rollback(&state.state_dir),
        Command::Watchdog {
            state,
            deadline_ms,
            token,
        } => safe::watchdog(&state.state_dir, deadline_ms, &token),
        Command::Status { state, json } => cmd::status(&state.state_dir, json),
        Command::Verify(args) => verify::run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("fwnet: {err:#}");
            ExitCode::from(exit::ENV)
        }
    }
}
