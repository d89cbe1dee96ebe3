//! `-m time` against the kernel: windows computed from the current UTC second, loaded with
//! iptables-legacy-restore in one namespace and with fwnet (`meta time`, `meta hour`) in a
//! sibling one; one datagram per rule, all sent within one known second, must be counted the
//! same way by both, and as xt_time's rules say.
//!
//! The rules are written for a second `T` a few seconds ahead; once both namespaces are
//! loaded, the test waits until `T` has begun, sends the datagrams (over loopback, through
//! OUTPUT rules that only count, one UDP port per rule) and checks that the clock is still in
//! `T` (a load that runs past `T`, on a busy machine, is tried again further ahead, three
//! times at most). So each boundary can be put exactly on the packets' second: a `--datestop T` that fwnet
//! wrote as `meta time < T` (instead of `T + 1`), a time of day off by one second, or a
//! wrapped window that is one second too wide or narrow would count differently from
//! iptables-legacy. (Checked by breaking each of those in fwnet and seeing this test fail.)
//! `--weekdays` is refused by default; under `--allow-approximate` it is `meta day`, which
//! follows the kernel's timezone: the second test checks that, and that it agrees with legacy
//! where the kernel timezone is UTC.

use crate::fragments::{fwnet_counts, legacy_counts, load};
use crate::netns::{assert_not_host_netns, privileged, Netns};
use std::net::UdpSocket;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAY: u64 = 86_400;
/// The first UDP port; rule k counts datagrams to `BASE_PORT + k`.
const BASE_PORT: u16 = 40_000;
/// How far ahead the packets' second is put: room for loading both namespaces.
const LEAD_SECS: u64 = 12;

/// The current UTC time.
fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
}

/// `YYYY-MM-DDThh:mm:ss` for `secs` since the epoch (UTC), as libxt_time reads a date.
fn date(secs: u64) -> String {
    let (days, t) = (secs / DAY, secs % DAY);
    // Days to a civil date (Howard Hinnant's algorithm, for days >= 0).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{}", daytime(t))
}

/// `hh:mm:ss` for a second of the day; `t` is taken modulo a day, so `t - 1` at midnight is
/// 23:59:59.
fn daytime(t: u64) -> String {
    let t = t % DAY;
    format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

/// xt_time's test on the time of day (time_mt): inclusive, wrapping midnight when start >=
/// stop.
fn in_daytime(start: u64, stop: u64, t: u64) -> bool {
    let (start, stop) = (start % DAY, stop % DAY);
    if start < stop {
        start <= t && t <= stop
    } else {
        !(t < start && t > stop)
    }
}

/// The `-m time` options of each rule for packets sent during second `s`, and whether xt_time
/// matches them then.
fn cases(s: u64) -> Vec<(String, bool)> {
    let t = s % DAY;
    let today = s - t;
    let day = |start: u64, stop: u64| {
        (
            format!(
                "--timestart {} --timestop {}",
                daytime(start),
                daytime(stop)
            ),
            in_daytime(start, stop, t),
        )
    };
    // t + DAY - k keeps the arithmetic unsigned; daytime() takes it modulo a day.
    let back = |k: u64| t + DAY - k;
    vec![
        // Dates, inclusive at both ends, to the second.
        (format!("--datestart {}", date(s)), true),
        (format!("--datestart {}", date(s + 1)), false),
        (format!("--datestop {}", date(s)), true),
        (format!("--datestop {}", date(s - 1)), false),
        (
            format!("--datestart {} --datestop {}", date(s), date(s)),
            true,
        ),
        // Dates before and after today, and today.
        (format!("--datestart {}", date(today + DAY)), false),
        (format!("--datestop {}", date(today - 1)), false),
        (
            format!(
                "--datestart {} --datestop {}",
                &date(today)[..10],
                date(today + DAY - 1)
            ),
            true,
        ),
        // Times of day, inclusive at both ends.
        day(t, t + 600),
        day(t + 1, t + 600),
        day(back(600), t),
        day(back(600), back(1)),
        day(back(600), t + 600),
        // Windows that wrap midnight (start > stop): only the seconds strictly between stop
        // and start are outside.
        day(t + 1, back(1)),
        day(t, back(2)),
        day(t + 2, t),
        day(t + 3600, back(3600)),
        day(t + 3600, t + 1800),
        // No window at all: only libxt_time's implicit --datestop 2038-01-19T03:14:07.
        (String::new(), true),
    ]
}

fn rules(cases: &[(String, bool)]) -> String {
    let mut r = String::from("*filter\n:OUTPUT ACCEPT [0:0]\n");
    for (k, (opts, _)) in cases.iter().enumerate() {
        let port = BASE_PORT + k as u16;
        r.push_str(&format!(
            "-A OUTPUT -p udp -m udp --dport {port} -m time {opts}\n"
        ));
    }
    r.push_str("COMMIT\n");
    r
}

/// One datagram to each rule's port.
fn send(n: usize) {
    assert_not_host_netns();
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for k in 0..n {
        // Nobody listens; only the counters matter.
        let _ = s.send_to(b"x", ("127.0.0.1", BASE_PORT + k as u16));
    }
}

/// Loads `cases` (for second `s`) into a legacy and an fwnet namespace, sends one datagram per
/// rule during second `s`, and returns the legacy and fwnet counters; `None` when loading ran
/// past `s` or the datagrams left after it. `name` starting with `approx-` imports with
/// `--allow-approximate`.
fn run_at(s: u64, name: &str, cases: &[(String, bool)]) -> Option<(Vec<u64>, Vec<u64>)> {
    let legacy = Netns::new(&format!("{name}-legacy")).expect("namespace");
    let fwnet = Netns::new(&format!("{name}-fwnet")).expect("namespace");
    let state = load(
        &legacy,
        &fwnet,
        "iptables-legacy-restore",
        name,
        &rules(cases),
    );
    let ready = now();
    if ready.as_secs() >= s {
        eprintln!("{name}: loading ran past second {s}");
        return None;
    }
    // Into second s, with a little room after its start.
    std::thread::sleep(Duration::from_secs(s) + Duration::from_millis(100) - ready);
    legacy.run_in(|| send(cases.len()));
    fwnet.run_in(|| send(cases.len()));
    if now().as_secs() != s {
        eprintln!("{name}: the datagrams left after second {s} ended");
        return None;
    }
    Some((
        legacy_counts(&legacy, "iptables-legacy"),
        fwnet_counts(&fwnet, &state, "ip"),
    ))
}

/// [`run_at`] for the rules `cases_at` gives for a second a little ahead, trying again further
/// ahead (a busy machine can take longer to load): the second, its cases and the counters.
#[allow(clippy::type_complexity)]
fn run_soon(
    name: &str,
    cases_at: impl Fn(u64) -> Vec<(String, bool)>,
) -> (u64, Vec<(String, bool)>, Vec<u64>, Vec<u64>) {
    for attempt in 1..=3 {
        let s = now().as_secs() + LEAD_SECS * attempt;
        let cases = cases_at(s);
        if let Some((legacy, fwnet)) = run_at(s, name, &cases) {
            return (s, cases, legacy, fwnet);
        }
    }
    panic!("{name}: three attempts missed their second; the machine is too busy");
}

#[test]
fn time_windows_match_the_same_second_as_iptables() {
    let test = "time_windows_match_the_same_second_as_iptables";
    if !privileged(test) {
        return;
    }
    let (s, cases, legacy, fwnet) = run_soon("time", cases);
    let want: Vec<u64> = cases.iter().map(|(_, m)| u64::from(*m)).collect();
    assert_eq!(legacy, want, "legacy against xt_time's rules at second {s}");
    assert_eq!(
        fwnet,
        legacy,
        "fwnet against legacy at second {s}:\n{}",
        rules(&cases)
    );
}

/// The kernel's timezone in minutes west of UTC (`sys_tz`, what `meta day` subtracts).
fn kernel_minutes_west() -> i64 {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    /// struct timezone of <sys/time.h> (the libc crate keeps it opaque).
    #[repr(C)]
    struct Timezone {
        minuteswest: libc::c_int,
        // Written by the kernel, not read here.
        #[allow(dead_code)]
        dsttime: libc::c_int,
    }
    let mut tz = Timezone {
        minuteswest: 0,
        dsttime: 0,
    };
    // SAFETY: both pointers are to live, writable structs of the layout gettimeofday writes.
    let rc = unsafe { libc::gettimeofday(&mut tv, (&mut tz as *mut Timezone).cast()) };
    assert_eq!(rc, 0, "gettimeofday");
    i64::from(tz.minuteswest)
}

/// libxt_time's weekday name (Mon = 1 .. Sun = 7) of second `s` since the epoch.
fn weekday(s: u64) -> &'static str {
    const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    // 1970-01-01 was a Thursday.
    NAMES[((s / DAY + 3) % 7) as usize]
}

/// `--weekdays` under `--allow-approximate` (`meta day`): xt_time takes the weekday in UTC,
/// `meta day` in the kernel's timezone. On a host whose kernel timezone is UTC they agree,
/// today and not today; elsewhere fwnet must count what the kernel-timezone weekday says, which
/// is the documented difference.
#[test]
fn time_weekdays_approximation_follows_the_kernel_timezone() {
    let test = "time_weekdays_approximation_follows_the_kernel_timezone";
    if !privileged(test) {
        return;
    }
    let weekday_cases = |s: u64| {
        let (today, tomorrow) = (weekday(s), weekday(s + DAY));
        vec![
            (format!("--weekdays {today}"), true),
            (format!("--weekdays {tomorrow}"), false),
            (format!("! --weekdays {today}"), false),
            (format!("! --weekdays {tomorrow}"), true),
            (
                format!(
                    "--timestart {} --timestop {} --weekdays {today},{tomorrow}",
                    daytime(s % DAY),
                    daytime(s % DAY + 60)
                ),
                in_daytime(s % DAY, s % DAY + 60, s % DAY),
            ),
        ]
    };
    let (s, cases, legacy, fwnet) = run_soon("approx-time-days", weekday_cases);
    let utc: Vec<u64> = cases.iter().map(|(_, m)| u64::from(*m)).collect();
    assert_eq!(
        legacy, utc,
        "legacy against xt_time's UTC weekday at second {s}"
    );
    // The same rules judged with the kernel timezone's weekday.
    let west = kernel_minutes_west();
    let local = s.saturating_add_signed(-west * 60);
    let kernel_tz: Vec<u64> = cases
        .iter()
        .map(|(opts, _)| {
            let negated = opts.starts_with('!');
            let days = opts.rsplit(' ').next().unwrap_or_default();
            let listed = days.split(',').any(|d| d == weekday(local));
            let hours = !opts.contains("--timestart") || in_daytime(s % DAY, s % DAY + 60, s % DAY);
            u64::from(hours && listed != negated)
        })
        .collect();
    assert_eq!(
        fwnet, kernel_tz,
        "fwnet (meta day) against the kernel-timezone weekday (sys_tz {west} min west) at second {s}"
    );
    if west == 0 {
        assert_eq!(
            fwnet, legacy,
            "kernel timezone UTC: fwnet must agree with legacy"
        );
    }
}

/// The helpers above write what libxt_time reads (checked against `date -u -d @SECS`).
#[test]
fn time_test_writes_dates_and_times_as_libxt_reads_them() {
    assert_eq!(date(0), "1970-01-01T00:00:00");
    assert_eq!(date(1_709_528_767), "2024-03-04T05:06:07");
    assert_eq!(date(1_709_164_800), "2024-02-29T00:00:00");
    assert_eq!(date(2_147_483_647), "2038-01-19T03:14:07");
    assert_eq!(daytime(DAY - 1), "23:59:59");
    assert_eq!(daytime(DAY + 61), "00:01:01");
}
