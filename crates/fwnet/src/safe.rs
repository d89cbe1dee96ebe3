//! The safety net around `apply`: one apply at a time, a snapshot of what was running, and
//! the confirm-or-rollback watchdog.
//!
//! Files in the state directory:
//! - `lock`: flock(2)ed by every command that changes the kernel (apply, confirm, rollback, the
//!   watchdog), so two of them never interleave;
//! - `rollback.snapshot`: fwnet's tables as the kernel held them before the last apply (see
//!   `fwnet_apply::snapshot` for the format);
//! - `pending-confirm`: `PID DEADLINE_MS TOKEN` while an `apply --confirm` waits;
//! - `watchdog.log`: what watchdogs did, one line per event.
//!
//! The watchdog is this same binary (`fwnet watchdog`, hidden), started in its own session
//! (setsid) with no terminal, so it outlives the SSH session, terminal and process group of
//! the apply that started it. It inherits the network namespace it must restore.

use anyhow::{bail, Context, Result};
use fwnet_apply::snapshot::{self, Snapshot};
use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const LOCK: &str = "lock";
const SNAPSHOT: &str = "rollback.snapshot";
const PENDING: &str = "pending-confirm";
const LOG: &str = "watchdog.log";
const SAVED: &str = "saved.snapshot";

/// How long a second apply waits for the first one before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// An exclusive lock on the state directory, released on drop (when the file closes).
pub struct Lock {
    _file: fs::File,
}

pub fn lock(dir: &Path) -> Result<Lock> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(LOCK);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Lock { _file: file });
        }
        if started.elapsed() > LOCK_WAIT {
            bail!(
                "another fwnet is changing the firewall (it holds {}); nothing was done: try again when it has finished",
                path.display()
            );
        }
        if !said {
            eprintln!("fwnet: waiting for another fwnet apply/rollback to finish...");
            said = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Saves what the kernel holds now, for `rollback` and the watchdog.
pub fn save_snapshot(dir: &Path) -> Result<Snapshot> {
    let snap = Snapshot::take().map_err(|e| anyhow::anyhow!("{e}"))?;
    write_atomic(&dir.join(SNAPSHOT), &snap.to_bytes())?;
    Ok(snap)
}

fn load_snapshot(dir: &Path) -> Result<Snapshot> {
    let p = dir.join(SNAPSHOT);
    let bytes = fs::read(&p).with_context(|| {
        format!(
            "no saved ruleset to roll back to ({} is missing): nothing was changed",
            p.display()
        )
    })?;
    Snapshot::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
}

fn write_atomic(p: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = p.with_extension(format!("tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, p)
    };
    write().with_context(|| format!("cannot write {}", p.display()))
}

#[derive(Debug, PartialEq, Eq)]
pub struct Pending {
    pub pid: i32,
    pub deadline_ms: u64,
    pub token: String,
}

pub fn pending(dir: &Path) -> Option<Pending> {
    let text = fs::read_to_string(dir.join(PENDING)).ok()?;
    let mut it = text.split_whitespace();
    Some(Pending {
        pid: it.next()?.parse().ok()?,
        deadline_ms: it.next()?.parse().ok()?,
        token: it.next()?.to_string(),
    })
}

/// An apply-crate error with every kernel refusal spelled out.
fn explain(e: &fwnet_apply::Error) -> String {
    match e {
        fwnet_apply::Error::Rejected(r) => {
            let lines: Vec<String> = r.iter().map(|x| x.to_string()).collect();
            format!("{e}: {}", lines.join("; "))
        }
        other => other.to_string(),
    }
}

fn log(dir: &Path, what: &str) {
    if let Ok(mut f) = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(LOG))
    {
        let _ = writeln!(f, "{} pid {}: {what}", now_ms(), std::process::id());
    }
}

/// Starts the watchdog for an apply that must be confirmed within `seconds`. Called with the
/// lock held, after the new ruleset is in.
pub fn arm(dir: &Path, seconds: u64) -> Result<Pending> {
    let deadline_ms = now_ms() + seconds * 1000;
    let token = format!("{:x}{:x}", now_ms(), std::process::id());
    let exe = std::env::current_exe().context("cannot find the fwnet binary for the watchdog")?;
    let log_file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(LOG))
        .with_context(|| format!("cannot open {}", dir.join(LOG).display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("watchdog")
        .arg("--state-dir")
        .arg(dir)
        .arg("--deadline-ms")
        .arg(deadline_ms.to_string())
        .arg("--token")
        .arg(&token)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    // SAFETY: setsid is async-signal-safe; it detaches the watchdog from the caller's session,
    // terminal and process group, so closing the SSH session does not end it.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    // The watchdog stands down as soon as the pending file stops naming its token, so the
    // file must exist before it starts; the pid is filled in once it is known.
    let pending_path = dir.join(PENDING);
    write_atomic(
        &pending_path,
        format!("0 {deadline_ms} {token}\n").as_bytes(),
    )?;
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = fs::remove_file(&pending_path);
            return Err(e).context("cannot start the watchdog");
        }
    };
    let p = Pending {
        pid: child.id() as i32,
        deadline_ms,
        token,
    };
    write_atomic(
        &dir.join(PENDING),
        format!("{} {} {}\n", p.pid, p.deadline_ms, p.token).as_bytes(),
    )?;
    log(
        dir,
        &format!("armed watchdog {} for deadline {deadline_ms}", p.pid),
    );
    Ok(p)
}

/// `fwnet confirm`: keeps the new ruleset; the watchdog stands down.
pub fn confirm(dir: &Path) -> Result<u8> {
    fwnet_apply::check_access().map_err(|e| anyhow::anyhow!("{e}"))?;
    let _lock = lock(dir)?;
    let Some(p) = pending(dir) else {
        println!("nothing to confirm: no `fwnet apply --confirm` is waiting");
        return Ok(crate::exit::OK);
    };
    fs::remove_file(dir.join(PENDING)).context("cannot remove the pending-confirm file")?;
    // SAFETY: signalling a pid we started; a stale pid at worst gets a harmless SIGTERM refusal
    // check below (kill with the watchdog's own pid only while the file named it).
    unsafe {
        libc::kill(p.pid, libc::SIGTERM);
    }
    log(dir, &format!("confirmed; watchdog {} stood down", p.pid));
    println!("confirmed: the new ruleset stays (the watchdog was stopped)");
    Ok(crate::exit::OK)
}

/// `fwnet rollback`: puts back what ran before the last apply.
pub fn rollback(dir: &Path) -> Result<u8> {
    fwnet_apply::check_access().map_err(|e| anyhow::anyhow!("{e}"))?;
    let _lock = lock(dir)?;
    let snap = load_snapshot(dir)?;
    if let Some(p) = pending(dir) {
        let _ = fs::remove_file(dir.join(PENDING));
        // SAFETY: see `confirm`.
        unsafe {
            libc::kill(p.pid, libc::SIGTERM);
        }
    }
    match snapshot::restore(&snap) {
        Ok(what) => {
            log(dir, &format!("rolled back by hand to {what}"));
            println!("rolled back: the kernel holds the ruleset from before the last apply ({what}, {} rules)", snap.rule_count());
            Ok(crate::exit::OK)
        }
        Err(e) => {
            eprintln!("fwnet: rollback failed: {}", explain(&e));
            Ok(crate::exit::ENV)
        }
    }
}

/// The hidden `fwnet watchdog`: waits for the deadline, then restores the snapshot unless the
/// apply was confirmed (the pending file no longer carries our token).
pub fn watchdog(dir: &Path, deadline_ms: u64, token: &str) -> Result<u8> {
    let ours = |dir: &Path| pending(dir).is_some_and(|p| p.token == token);
    loop {
        if !ours(dir) {
            log(dir, "confirmed or cancelled; exiting");
            return Ok(crate::exit::OK);
        }
        let now = now_ms();
        if now >= deadline_ms {
            break;
        }
        std::thread::sleep(Duration::from_millis((deadline_ms - now).min(100)));
    }
    let _lock = lock(dir)?;
    if !ours(dir) {
        log(dir, "confirmed at the deadline; exiting");
        return Ok(crate::exit::OK);
    }
    let snap = load_snapshot(dir)?;
    let result = snapshot::restore(&snap);
    let _ = fs::remove_file(dir.join(PENDING));
    match result {
        Ok(what) => {
            log(dir, &format!("not confirmed in time: restored {what}"));
            Ok(crate::exit::OK)
        }
        Err(e) => {
            log(
                dir,
                &format!(
                    "not confirmed in time, and the restore FAILED: {}",
                    explain(&e)
                ),
            );
            Ok(crate::exit::ENV)
        }
    }
}

pub fn describe_deadline(deadline_ms: u64) -> String {
    let secs = deadline_ms / 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{m:02}:{s:02} UTC")
}

/// `fwnet save`: what the kernel holds now becomes what boot restores.
pub fn save(dir: &Path) -> Result<u8> {
    fwnet_apply::check_access().map_err(|e| anyhow::anyhow!("{e}"))?;
    let _lock = lock(dir)?;
    let snap = Snapshot::take().map_err(|e| anyhow::anyhow!("{e}"))?;
    write_atomic(&dir.join(SAVED), &snap.to_bytes())?;
    println!(
        "saved {} ({} rules) to {}; `fwnet apply --boot` restores it until the next `fwnet import`",
        snap.describe(),
        snap.rule_count(),
        dir.join(SAVED).display()
    );
    Ok(crate::exit::OK)
}

/// For `apply --boot`: restores the saved snapshot when it is newer than the stored ruleset.
pub fn restore_saved_if_newer(dir: &Path) -> Result<Option<String>> {
    let modified = |name: &str| fs::metadata(dir.join(name)).and_then(|m| m.modified()).ok();
    let (Some(saved), imported) = (modified(SAVED), crate::state::modified(dir)) else {
        return Ok(None);
    };
    if imported.is_some_and(|i| i > saved) {
        return Ok(None);
    }
    let bytes = fs::read(dir.join(SAVED))?;
    let snap = Snapshot::from_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join(SAVED).display()))?;
    let what = snapshot::restore(&snap).map_err(|e| anyhow::anyhow!("{}", explain(&e)))?;
    Ok(Some(what))
}
