//! The `fwnet` command line: the only user of clap and anyhow.
//!
//! Each subcommand is a thin layer over the library crates: parse and translate (`import`),
//! print (`show`), program the kernel (`apply`), read it back (`status`). Exit codes are part
//! of the interface and documented in `--help` and README.md.

mod cmd;
mod output;
mod state;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

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
}

const AFTER_HELP: &str = "\
Typical use:
  fwnet import /etc/sysconfig/iptables   translate and store (nothing touches the kernel)
  fwnet show                             read the stored ruleset as nft syntax
  fwnet apply --check                    let the kernel validate it without committing
  fwnet apply                            replace fwnet's tables in one atomic transaction
  fwnet status                           what the kernel holds now, with counters

fwnet owns the nftables tables whose names start with `fwnet_` (ip fwnet_filter,
ip fwnet_nat, ...). It never modifies or flushes any other table.

Exit codes:
  0  success
  1  the input has problems (every one is listed); nothing was stored or applied
  2  command line misuse
  3  the kernel refused the ruleset; the previous ruleset is unchanged
  4  the environment prevents it (not root, nf_tables missing, no stored state)";

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
        /// iptables-save files to import
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the stored ruleset as nft syntax (loadable with `nft -f`)
    ///
    /// Each rule ends with a `# file:line` comment naming the line it came from.
    Show {
        #[command(flatten)]
        state: StateDir,
    },
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
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
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
}

fn main() -> ExitCode {
    // Like every Unix filter: `fwnet status | head` ends quietly instead of panicking on EPIPE.
    // SAFETY: called before any other thread exists; restoring a default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import {
            state,
            family,
            json,
            files,
        } => cmd::import(&state.state_dir, family.as_deref(), json, &files),
        Command::Show { state } => cmd::show(&state.state_dir),
        Command::Apply { state, check, json } => cmd::apply(&state.state_dir, check, json),
        Command::Status { state, json } => cmd::status(&state.state_dir, json),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("fwnet: {err:#}");
            ExitCode::from(exit::ENV)
        }
    }
}
