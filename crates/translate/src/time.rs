//! `-m time` in UTC, iptables 1.8's default: `--datestart`/`--datestop` as `meta time >= S` /
//! `meta time < E+1` and `--timestart`/`--timestop` as `meta hour "S"-"E"` (seconds since
//! midnight UTC, or `!=` the hours between for a window that wraps midnight). `--weekdays`,
//! `--monthdays` and `--kerneltz` are refused: nft has no exact form for them. With
//! `allow_approximate`, `--weekdays` becomes `meta day`, marked, exact only where the kernel
//! timezone is UTC.
//!
//! What xt_time.c (`time_mt`, kernel 6.18) does: it takes the current real time in whole
//! seconds (`stamp`), subtracting the kernel timezone (`sys_tz`) only with `--kerneltz`
//! (XT_TIME_LOCAL_TZ), then
//! - fails when `stamp < date_start || stamp > date_stop`: both dates inclusive, in whole
//!   seconds. libxt_time stores `--datestart` 0 and `--datestop` 2^31-1 (2038-01-19T03:14:07)
//!   when they are not given, so every `-m time` rule stops matching after that second;
//! - with `daytime_start < daytime_stop` fails outside `start..=stop` (seconds since midnight,
//!   both inclusive); otherwise (start >= stop, equal included) fails only when `start > t >
//!   stop`, i.e. the window wraps midnight, and start == stop is the whole day. `--contiguous`
//!   then only moves the day that `--weekdays`/`--monthdays` test back by one before `stop`;
//! - fails when the weekday (Mon = 1 .. Sun = 7) or the day of the month is not in its mask.
//!
//! What nft_meta.c gives (kernel 6.18): `meta time` is `ktime_get_real_ns()`, nanoseconds in
//! UTC, so `floor(ns / 10^9) >= S` is `ns >= S * 10^9` and `floor(ns / 10^9) <= E` is `ns <
//! (E + 1) * 10^9`: `--datestop E` becomes `meta time < E+1`. `meta hour` is the second of the
//! day in UTC (`time64_to_tm(secs, 0)`), the same number xt_time compares. `meta day`, though,
//! is computed after subtracting `sys_tz.tz_minuteswest` (`nft_meta_weekday`), so it is the
//! weekday in the kernel's timezone, not in UTC; no nft 1.0.6 expression computes a UTC weekday
//! (there is no division), and the day of the month has no key at all. With `--kerneltz`
//! xt_time reads the dates and the hours in the kernel's timezone too, where nft reads UTC.
//! The kernel timezone is a setting of the host that loads the rules (the local zone where
//! `hwclock --hctosys`/`--systz` ran at boot, as on CentOS 6, or where systemd keeps the
//! hardware clock in local time; UTC otherwise), which fwnet cannot know when it imports a file.
//!
//! So the translation is exact for dates and hours without `--kerneltz`: the same packets
//! match, at the same second. A `--weekdays` or `--monthdays` that names every day is no test
//! and is translated; `--contiguous` alone changes nothing and is accepted. The rest is
//! refused with the reason, except that `allow_approximate` admits `--weekdays` as `meta day {
//! ... }` (not with `--contiguous` on a window that wraps midnight), with a warning and the
//! rule marked: it is exact on a host whose kernel timezone is UTC, and shifted by the kernel's
//! offset elsewhere.
//!
//! iptables 1.4.7 (CentOS 6) read a rule without `--utc` in the kernel's timezone; iptables 1.8
//! and fwnet read it in UTC. A CentOS 6 file saved without `--utc` therefore changes meaning
//! under iptables 1.8 as well; fwnet follows 1.8 (it cannot tell which was meant).
//!
//! This module only translates; it reads no clock.

use crate::rule::Cx;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Match, MetaKey, Stmt, TimeMatch, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--datestart"],
    &["--datestop"],
    &["--timestart"],
    &["--timestop"],
    &["--weekdays"],
    &["--monthdays"],
    &["--contiguous"],
    // libxt_time 1.8 takes `--localtz` as the old name of `--kerneltz` (with a warning).
    &["--kerneltz", "--localtz"],
    &["--utc"],
];

/// Seconds in a day.
const DAY: u32 = 86_400;
/// libxt_time's `--datestop` when none is given: 2038-01-19T03:14:07, the largest signed
/// 32-bit time.
pub(crate) const DEFAULT_DATESTOP: u64 = (1 << 31) - 1;
/// The last year libxt_time 1.8.9 accepts in a date.
const LAST_YEAR: u32 = 2038;
/// Every weekday, as bits 1 (Monday) to 7 (Sunday) (XT_TIME_ALL_WEEKDAYS).
const ALL_WEEKDAYS: u8 = 0xfe;
/// Every day of the month, as bits 1 to 31 (XT_TIME_ALL_MONTHDAYS).
const ALL_MONTHDAYS: u32 = 0xffff_fffe;

/// What one `-m time` says, with libxt_time's defaults filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub date_start: u64,
    pub date_stop: u64,
    pub daytime_start: u32,
    pub daytime_stop: u32,
}

impl Default for Window {
    fn default() -> Window {
        Window {
            date_start: 0,
            date_stop: DEFAULT_DATESTOP,
            daytime_start: 0,
            daytime_stop: DAY - 1,
        }
    }
}

pub(crate) fn translate(opts: &[&Opt], cx: &mut Cx) -> Vec<Stmt> {
    let mut w = Window::default();
    let mut weekdays = (ALL_WEEKDAYS, None);
    let mut monthdays = (ALL_MONTHDAYS, None);
    let mut kerneltz = None;
    let mut contiguous = false;
    for opt in opts {
        let name = opt.name.as_str();
        if !matches!(name, "--weekdays" | "--monthdays") && !cx.not_negated(opt) {
            return Vec::new();
        }
        match name {
            "--contiguous" | "--kerneltz" | "--localtz" | "--utc" => {
                if !cx.no_arg(opt) {
                    return Vec::new();
                }
                if matches!(name, "--kerneltz" | "--localtz") {
                    kerneltz = Some(*opt);
                }
                contiguous |= name == "--contiguous";
            }
            _ => {
                let Some(arg) = cx.one_arg(opt) else {
                    return Vec::new();
                };
                let ok = match name {
                    "--datestart" => parse_date(arg).map(|s| w.date_start = s).is_some(),
                    "--datestop" => parse_date(arg).map(|s| w.date_stop = s).is_some(),
                    "--timestart" => parse_daytime(arg).map(|s| w.daytime_start = s).is_some(),
                    "--timestop" => parse_daytime(arg).map(|s| w.daytime_stop = s).is_some(),
                    "--weekdays" => parse_weekdays(arg)
                        .map(|m| weekdays = (invert(m, ALL_WEEKDAYS, opt), Some(*opt)))
                        .is_some(),
                    _ => parse_monthdays(arg)
                        .map(|m| monthdays = (invert(m, ALL_MONTHDAYS, opt), Some(*opt)))
                        .is_some(),
                };
                if !ok {
                    cx.bad_value(opt, arg, help_for(name));
                    return Vec::new();
                }
            }
        }
    }
    if let Some(opt) = kerneltz {
        cx.error(
            "translate/inexact",
            &opt.loc,
            format!("`{}` has no exact nft translation: xt_time then reads the dates, hours and weekdays in the kernel's timezone (sys_tz, a setting of the host that loads the rules), while nft's `meta time` and `meta hour` are always UTC", opt.name),
            "write the times in UTC and remove the option (where the kernel timezone is UTC, that is the same rule)",
        );
        return Vec::new();
    }
    if let (mask, Some(opt)) = monthdays {
        if mask != ALL_MONTHDAYS {
            cx.error(
                "translate/inexact",
                &opt.loc,
                "`--monthdays` has no nft translation: nft has no day-of-the-month key",
                "write one rule per date with `--datestart` and `--datestop` (for example `--datestart 2024-05-01 --datestop 2024-05-01T23:59:59`)",
            );
            return Vec::new();
        }
    }
    let mut day = None;
    if let (mask, Some(opt)) = weekdays {
        if mask == 0 {
            cx.error(
                "translate/bad-value",
                &opt.loc,
                "`! --weekdays` of every day matches no packet",
                "remove the rule, which never matches",
            );
            return Vec::new();
        }
        if mask != ALL_WEEKDAYS {
            day = weekday_test(mask, contiguous, &w, opt, cx);
            if day.is_none() {
                return Vec::new();
            }
        }
    }
    let mut out: Vec<Stmt> = window(w)
        .into_iter()
        .map(|t| Stmt::Match(Match::Time(t)))
        .collect();
    out.extend(day);
    out
}

/// `--weekdays` (a mask other than every day) as `meta day`, which is an approximation: it
/// reads the weekday in the kernel's timezone, xt_time in UTC. Only with `allow_approximate`,
/// and not with `--contiguous` on a window that wraps midnight (xt_time then tests the weekday
/// the window began on after midnight).
fn weekday_test(mask: u8, contiguous: bool, w: &Window, opt: &Opt, cx: &mut Cx) -> Option<Stmt> {
    if contiguous && w.daytime_start >= w.daytime_stop {
        cx.error(
            "translate/inexact",
            &opt.loc,
            "`--weekdays` with `--contiguous` and a window that wraps midnight has no nft translation: after midnight xt_time tests the weekday the window began on",
            "split the window at midnight: one rule up to 23:59:59 with these days, one from 00:00 with the days after them",
        );
        return None;
    }
    if !cx.allow_approximate {
        cx.error(
            "translate/inexact",
            &opt.loc,
            format!("`--weekdays` has no exact nft translation: {WEEKDAY_WHY}"),
            "on a host whose kernel timezone is UTC the two agree: import with `--allow-approximate`, which writes `meta day` and marks the rule; otherwise write one rule per date with `--datestart`/`--datestop`",
        );
        return None;
    }
    cx.warn(
        "translate/approximate",
        &opt.loc,
        format!("approximation: `--weekdays` becomes nft `meta day`, which differs: {WEEKDAY_WHY}"),
        "the rule's comment says so; it is exact where the kernel timezone is UTC (a systemd host whose hardware clock keeps UTC, and no `hwclock --systz` at boot)",
    );
    cx.approximate = Some("time --weekdays as meta day (kernel timezone)".to_string());
    // Bits 1 (Monday) to 7 (Sunday); nft counts 0 (Sunday) to 6 (Saturday).
    let days: Vec<Value> = (1..=7u8)
        .filter(|d| mask & (1 << d) != 0)
        .map(|d| u64::from(d % 7))
        .collect::<std::collections::BTreeSet<u64>>()
        .into_iter()
        .map(Value::Num)
        .collect();
    let right = match days.as_slice() {
        [one] => one.clone(),
        _ => Value::Set(days.into()),
    };
    Some(Stmt::Match(Match::Cmp {
        left: Expr::Meta(MetaKey::Day),
        op: CmpOp::Eq,
        right,
    }))
}

/// Why `meta day` is not xt_time's weekday.
const WEEKDAY_WHY: &str = "xt_time takes the weekday in UTC, nft's `meta day` in the kernel's timezone (sys_tz: the local zone where `hwclock --hctosys` or `--systz` ran at boot or systemd keeps the hardware clock in local time, else UTC), and no nft expression computes a UTC weekday";

/// The tests for a UTC window, in the order xt_time makes them: dates, then the time of day.
pub(crate) fn window(w: Window) -> Vec<TimeMatch> {
    let mut out = Vec::new();
    if w.date_start > 0 {
        out.push(TimeMatch::Since(w.date_start));
    }
    // Whole seconds: `stamp <= stop` is `ns < (stop + 1) * 10^9`.
    out.push(TimeMatch::Before(w.date_stop + 1));
    let (start, stop) = (w.daytime_start, w.daytime_stop);
    if start < stop {
        if (start, stop) != (0, DAY - 1) {
            out.push(TimeMatch::Hour {
                op: CmpOp::Eq,
                from: start,
                to: stop,
            });
        }
    } else if start > stop + 1 {
        // Wraps midnight: every second but those strictly between stop and start.
        out.push(TimeMatch::Hour {
            op: CmpOp::Ne,
            from: stop + 1,
            to: start - 1,
        });
    }
    // start == stop or start == stop + 1: xt_time's wrapped test holds for every second.
    out
}

/// A `!` on `--weekdays`/`--monthdays` takes the days not listed (libxt_time inverts the
/// mask within the valid days).
fn invert<T>(mask: T, all: T, opt: &Opt) -> T
where
    T: std::ops::BitXor<Output = T> + Copy,
{
    if opt.negated.is_negated() {
        mask ^ all
    } else {
        mask
    }
}

fn help_for(name: &str) -> &'static str {
    match name {
        "--datestart" | "--datestop" => {
            "a date is YYYY[-MM[-DD[Thh[:mm[:ss]]]]] in UTC, from 1970 to 2038, as iptables reads it"
        }
        "--timestart" | "--timestop" => "a time of day is hh:mm[:ss] in UTC, from 00:00 to 23:59:59",
        "--weekdays" => {
            "weekdays are a comma-separated list of 1 (Monday) to 7 (Sunday) or Mon, Tue, Wed, Thu, Fri, Sat, Sun (iptables takes 8 and above as days that never come)"
        }
        _ => "days of the month are a comma-separated list of 1 to 31",
    }
}

/// A run of ASCII digits as a number (libxt reads each field with strtoul).
fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYY[-MM[-DD[Thh[:mm[:ss]]]]]` as libxt_time 1.8.9 reads it, in UTC: seconds since the
/// epoch. A day past the month's end rolls over into the next month (`2024-02-30` is March 1),
/// as iptables-save shows.
pub(crate) fn parse_date(s: &str) -> Option<u64> {
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, t),
        None => (s, ""),
    };
    let mut d = date.split('-');
    let year = number(d.next()?)?;
    let month = d.next().map_or(Some(1), number)?;
    let day = d.next().map_or(Some(1), number)?;
    if d.next().is_some()
        || !(1970..=LAST_YEAR).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
    {
        return None;
    }
    let secs = if time.is_empty() {
        0
    } else {
        let mut t = time.split(':');
        let h = number(t.next()?)?;
        let m = t.next().map_or(Some(0), number)?;
        let sec = t.next().map_or(Some(0), number)?;
        if t.next().is_some() || h > 23 || m > 59 || sec > 59 {
            return None;
        }
        h * 3600 + m * 60 + sec
    };
    let days = days_from_civil(year, month) + u64::from(day - 1);
    Some(days * u64::from(DAY) + u64::from(secs))
}

/// Days from 1970-01-01 to the first of `month` in `year` (proleptic Gregorian, year >= 1970).
fn days_from_civil(year: u32, month: u32) -> u64 {
    const BEFORE_MONTH: [u64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = |y: u32| y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400));
    let years: u64 = (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum();
    let extra = u64::from(month > 2 && leap(year));
    years + BEFORE_MONTH[(month - 1) as usize] + extra
}

/// `hh:mm[:ss]`: seconds since midnight.
pub(crate) fn parse_daytime(s: &str) -> Option<u32> {
    let mut t = s.split(':');
    let h = number(t.next()?)?;
    let m = number(t.next()?)?;
    let sec = t.next().map_or(Some(0), number)?;
    if t.next().is_some() || h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

/// `--weekdays`: bits 1 (Monday) to 7 (Sunday). libxt_time takes a number or a name by its
/// first two letters (`Mo`, `Mon`, `Mond` ...); a trailing comma is ignored.
fn parse_weekdays(s: &str) -> Option<u8> {
    const NAMES: [&str; 7] = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"];
    let mut mask = 0u8;
    let items: Vec<&str> = s.strip_suffix(',').unwrap_or(s).split(',').collect();
    for item in items {
        let day = match number(item) {
            Some(n @ 1..=7) => n as usize,
            Some(_) => return None,
            None => {
                1 + NAMES
                    .iter()
                    .position(|n| item.len() >= 2 && item.starts_with(n))?
            }
        };
        mask |= 1 << day;
    }
    Some(mask)
}

/// `--monthdays`: bits 1 to 31.
fn parse_monthdays(s: &str) -> Option<u32> {
    let mut mask = 0u32;
    for item in s.strip_suffix(',').unwrap_or(s).split(',') {
        match number(item) {
            Some(n @ 1..=31) => mask |= 1 << n,
            _ => return None,
        }
    }
    Some(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dates as libxt_time 1.8.9 reads them; the seconds checked against `date -u -d ... +%s`
    /// and against what `iptables-legacy-save` prints back.
    #[test]
    fn dates() {
        let cases: &[(&str, Option<u64>)] = &[
            ("1970-01-01", Some(0)),
            ("1970-01-01T00:00:01", Some(1)),
            ("2024", Some(1_704_067_200)),
            ("2024-05", Some(1_714_521_600)),
            ("2024-01-02", Some(1_704_153_600)),
            ("2024-1-2", Some(1_704_153_600)),
            ("2024-01-02T", Some(1_704_153_600)),
            ("2024-01-02T10", Some(1_704_189_600)),
            ("2024-03-04T05:06", Some(1_709_528_760)),
            ("2024-03-04T05:06:07", Some(1_709_528_767)),
            // Leap day, and a day past the month's end rolling over (iptables-save prints
            // 2024-03-01T00:00:00 for it).
            ("2024-02-29", Some(1_709_164_800)),
            ("2024-02-30", Some(1_709_251_200)),
            ("2024-03-01", Some(1_709_251_200)),
            ("2100-03-01", None),
            ("2038-01-19T03:14:07", Some(DEFAULT_DATESTOP)),
            ("2038-12-31T23:59:59", Some(2_177_452_799)),
            ("2039-01-01", None),
            ("1969-12-31", None),
            ("2024-13-01", None),
            ("2024-00-01", None),
            ("2024-01-32", None),
            ("2024-01-01T24:00", None),
            ("2024-01-01T10:60", None),
            ("2024-01-01T10:00:00Z", None),
            ("2024-01-01T10:00:00:00", None),
            ("2024-01-01-01", None),
            ("", None),
            ("x", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_date(s), *want, "{s}");
        }
    }

    #[test]
    fn times_of_day() {
        let cases: &[(&str, Option<u32>)] = &[
            ("00:00", Some(0)),
            ("08:00", Some(28_800)),
            ("8:5:3", Some(29_103)),
            ("17:00:30", Some(61_230)),
            ("23:59:59", Some(86_399)),
            ("24:00", None),
            ("23:60", None),
            ("23:59:60", None),
            ("08", None),
            ("08:00:00:00", None),
            ("-1:00", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_daytime(s), *want, "{s}");
        }
    }

    #[test]
    fn weekdays() {
        let cases: &[(&str, Option<u8>)] = &[
            ("Mon", Some(1 << 1)),
            ("Mo,Tu,We,Th,Fr,Sa,Su", Some(ALL_WEEKDAYS)),
            ("1,2,3,4,5,6,7", Some(ALL_WEEKDAYS)),
            ("Mond", Some(1 << 1)),
            ("Mon,", Some(1 << 1)),
            ("01", Some(1 << 1)),
            ("Sun,7", Some(1 << 7)),
            ("Mon,,Tue", None),
            ("0", None),
            ("8", None),
            ("M", None),
            ("mon", None),
            ("MON", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_weekdays(s), *want, "{s}");
        }
    }

    /// The window boundaries: xt_time's inclusive tests against the nft tests fwnet writes,
    /// checked second by second around every edge (the kernel test then checks them live).
    #[test]
    fn window_matches_exactly_what_xt_time_matches() {
        // xt_time's own test, from time_mt.
        let xt = |w: &Window, stamp: u64| {
            if stamp < w.date_start || stamp > w.date_stop {
                return false;
            }
            let t = (stamp % u64::from(DAY)) as u32;
            if w.daytime_start < w.daytime_stop {
                !(t < w.daytime_start || t > w.daytime_stop)
            } else {
                !(t < w.daytime_start && t > w.daytime_stop)
            }
        };
        // nft's, on `meta time` in nanoseconds (whole seconds and the last nanosecond of one)
        // and `meta hour`.
        let nft = |tests: &[TimeMatch], ns: u64| {
            let hour = ((ns / 1_000_000_000) % u64::from(DAY)) as u32;
            tests.iter().all(|t| match *t {
                TimeMatch::Since(s) => ns >= s * 1_000_000_000,
                TimeMatch::Before(s) => ns < s * 1_000_000_000,
                TimeMatch::Hour { op, from, to } => {
                    (from..=to).contains(&hour) == (op == CmpOp::Eq)
                }
            })
        };
        let d = parse_date("2024-03-04").unwrap_or_default();
        let day = u64::from(DAY);
        let windows = [
            Window::default(),
            Window {
                date_start: d,
                date_stop: d + 3 * day + 7,
                ..Window::default()
            },
            Window {
                daytime_start: 8 * 3600,
                daytime_stop: 17 * 3600,
                ..Window::default()
            },
            Window {
                daytime_start: 22 * 3600,
                daytime_stop: 6 * 3600,
                ..Window::default()
            },
            Window {
                daytime_start: 3600,
                daytime_stop: 3600,
                ..Window::default()
            },
            Window {
                daytime_start: 3601,
                daytime_stop: 3600,
                ..Window::default()
            },
            Window {
                daytime_start: 3602,
                daytime_stop: 3600,
                ..Window::default()
            },
            Window {
                daytime_start: 0,
                daytime_stop: 1,
                date_start: d + 5,
                date_stop: d + day,
            },
            Window {
                daytime_start: DAY - 2,
                daytime_stop: DAY - 1,
                ..Window::default()
            },
        ];
        for w in windows {
            let tests = window(w);
            let mut edges = vec![
                w.date_start,
                w.date_stop,
                DEFAULT_DATESTOP,
                d,
                d + day,
                d + 2 * day,
            ];
            for base in [d, d + day, d + 2 * day] {
                edges.push(base + u64::from(w.daytime_start));
                edges.push(base + u64::from(w.daytime_stop));
            }
            for e in edges {
                for s in e.saturating_sub(2)..=e + 2 {
                    let want = xt(&w, s);
                    for ns in [s * 1_000_000_000, s * 1_000_000_000 + 999_999_999] {
                        assert_eq!(nft(&tests, ns), want, "{w:?} {tests:?} at {s} s ({ns} ns)");
                    }
                }
            }
        }
    }

    #[test]
    fn window_tests() {
        let hour = |op, from, to| TimeMatch::Hour { op, from, to };
        let end = TimeMatch::Before(DEFAULT_DATESTOP + 1);
        let w = |daytime_start, daytime_stop| Window {
            daytime_start,
            daytime_stop,
            ..Window::default()
        };
        assert_eq!(window(Window::default()), vec![end.clone()]);
        assert_eq!(
            window(w(28_800, 61_230)),
            vec![end.clone(), hour(CmpOp::Eq, 28_800, 61_230)]
        );
        assert_eq!(
            window(w(79_200, 21_600)),
            vec![end.clone(), hour(CmpOp::Ne, 21_601, 79_199)]
        );
        assert_eq!(window(w(3600, 3600)), vec![end.clone()]);
        assert_eq!(window(w(3601, 3600)), vec![end.clone()]);
        assert_eq!(
            window(w(3602, 3600)),
            vec![end.clone(), hour(CmpOp::Ne, 3601, 3601)]
        );
        assert_eq!(window(w(0, 86_399)), vec![end.clone()]);
        assert_eq!(window(w(0, 1)), vec![end, hour(CmpOp::Eq, 0, 1)]);
    }
}
