//! `-m limit`: `--limit RATE` (default 3/hour) and `--limit-burst N` (default 5) become nft
//! `limit rate RATE burst N packets`, one token bucket per rule, as in xt_limit.
//!
//! The burst is always written out: nft treats a missing burst as 5 but iptables' default is
//! what the rule means, so fwnet never relies on either tool's default. Rates are kept as
//! written (`1/minute`), not as iptables' internal interval.

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{Limit, Stmt, TimeUnit};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--limit"], &["--limit-burst"]];

/// xt_limit's and xt_hashlimit's XT_LIMIT_SCALE: at most 10000 packets per second.
const MAX_PER_SECOND: u64 = 10_000;
/// The largest burst libxt_limit and libxt_hashlimit accept.
pub(crate) const MAX_BURST: u32 = 10_000;

pub(crate) fn translate(opts: &[&Opt], _loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let mut rate = (3, TimeUnit::Hour);
    let mut burst = 5;
    for opt in opts {
        if !cx.not_negated(opt) {
            continue;
        }
        let Some(arg) = cx.one_arg(opt) else { continue };
        match opt.name.as_str() {
            "--limit" => match parse_rate(arg) {
                Ok(r) => rate = r,
                Err(help) => cx.bad_value(opt, arg, help),
            },
            _ => match parse_burst(arg) {
                Some(b) => burst = b,
                None => cx.bad_value(opt, arg, "the burst is a number from 1 to 10000"),
            },
        }
    }
    vec![Stmt::Limit(Limit {
        rate: rate.0,
        unit: rate.1,
        burst,
        over: false,
    })]
}

pub(crate) fn parse_burst(s: &str) -> Option<u32> {
    s.parse().ok().filter(|b| (1..=MAX_BURST).contains(b))
}

/// `N`, `N/s`, `N/sec`, `N/minute`, `N/h`, `N/day` ...: the unit may be any prefix of second,
/// minute, hour or day, in any case; no unit means per second.
pub(crate) fn parse_rate(s: &str) -> Result<(u64, TimeUnit), String> {
    let (num, unit) = match s.split_once('/') {
        Some((n, u)) => (n, Some(u)),
        None => (s, None),
    };
    let unit = match unit.map(str::to_ascii_lowercase) {
        None => TimeUnit::Second,
        Some(u) if !u.is_empty() && "second".starts_with(&u) => TimeUnit::Second,
        Some(u) if !u.is_empty() && "minute".starts_with(&u) => TimeUnit::Minute,
        Some(u) if !u.is_empty() && "hour".starts_with(&u) => TimeUnit::Hour,
        Some(u) if !u.is_empty() && "day".starts_with(&u) => TimeUnit::Day,
        Some(_) => {
            return Err("the unit is second, minute, hour or day (or a prefix: s, m, h, d)".into())
        }
    };
    let rate: u64 = num.parse().ok().filter(|r| *r > 0).ok_or_else(|| {
        "the rate is a positive number of packets per unit, as in 10/minute".to_string()
    })?;
    if rate > MAX_PER_SECOND * unit.seconds() {
        return Err("iptables refuses rates above 10000/second".into());
    }
    Ok((rate, unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_may_be_abbreviated() {
        assert_eq!(parse_rate("1/m"), Ok((1, TimeUnit::Minute)));
        assert_eq!(parse_rate("10/sec"), Ok((10, TimeUnit::Second)));
        assert_eq!(parse_rate("3/HOUR"), Ok((3, TimeUnit::Hour)));
        assert_eq!(parse_rate("100/d"), Ok((100, TimeUnit::Day)));
        assert_eq!(parse_rate("5"), Ok((5, TimeUnit::Second)));
        assert!(parse_rate("5/fortnight").is_err());
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("10001/s").is_err());
    }
}
