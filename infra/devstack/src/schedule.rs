//! The template's schedules, run on the stack's clock: a `rate()` fires at
//! every multiple of its period, a monthly `cron()` at its instant.

use anyhow::{Context as _, bail};

/// `rate(N minute|minutes|hour|hours|day|days)` as a duration.
pub fn rate_of(expression: &str) -> anyhow::Result<chrono::Duration> {
    let inner = expression
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
        .with_context(|| format!("only rate() schedules run locally, not {expression}"))?;
    let (n, unit) = inner.split_once(' ').with_context(|| format!("bad rate {expression}"))?;
    let n: i64 = n.parse()?;
    Ok(match unit.trim_end_matches('s') {
        "minute" => chrono::Duration::minutes(n),
        "hour" => chrono::Duration::hours(n),
        "day" => chrono::Duration::days(n),
        other => bail!("bad rate unit {other}"),
    })
}

/// `cron(M H D * ? *)` (a monthly schedule) is due when one of its instants
/// lies in `(last, now]`; the months of `now` and the one before are checked.
pub fn cron_due(
    expression: &str,
    last: partnerops_domain::Timestamp,
    now: partnerops_domain::Timestamp,
) -> anyhow::Result<bool> {
    use chrono::{Datelike, TimeZone};
    let fields: Vec<&str> = expression
        .strip_prefix("cron(")
        .and_then(|r| r.strip_suffix(')'))
        .with_context(|| format!("not a cron expression: {expression}"))?
        .split(' ')
        .collect();
    let [minute, hour, day, "*", "?", "*"] = fields.as_slice() else {
        bail!("only monthly cron(M H D * ? *) schedules run locally, not {expression}");
    };
    let (minute, hour, day): (u32, u32, u32) = (minute.parse()?, hour.parse()?, day.parse()?);
    let now_dt = now.as_datetime();
    let this_month = now_dt.date_naive().with_day(1).context("first of the month")?;
    let months = [this_month.pred_opt().and_then(|d| d.with_day(1)), Some(this_month)];
    Ok(months.into_iter().flatten().any(|first| {
        first
            .with_day(day)
            .and_then(|d| d.and_hms_opt(hour, minute, 0))
            .map(|at| partnerops_domain::Timestamp::from_datetime(chrono::Utc.from_utc_datetime(&at)))
            .is_some_and(|at| last < at && at <= now)
    }))
}

/// A rate schedule fires at every multiple of its period (as EventBridge's
/// do, at fixed offsets); it is due when one such instant lies in `(last, now]`.
pub fn schedule_due(
    last: partnerops_domain::Timestamp,
    now: partnerops_domain::Timestamp,
    every: chrono::Duration,
) -> bool {
    let period = every.num_milliseconds().max(1);
    now.unix_millis().div_euclid(period) > last.unix_millis().div_euclid(period)
}

#[cfg(test)]
mod tests {
    use super::*;
    use partnerops_domain::Timestamp;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn rate_schedules_fire_on_their_period_boundaries() {
        let five = rate_of("rate(5 minutes)").unwrap();
        assert!(schedule_due(at("2026-11-22T09:59:00Z"), at("2026-11-22T10:00:00Z"), five));
        assert!(!schedule_due(at("2026-11-22T10:00:00Z"), at("2026-11-22T10:04:59Z"), five));
        assert!(schedule_due(at("2026-11-22T10:00:00Z"), at("2026-11-23T10:00:00Z"), five));
        assert_eq!(rate_of("rate(1 hour)").unwrap(), chrono::Duration::hours(1));
        assert!(rate_of("cron(0 2 1 * ? *)").is_err());
    }

    #[test]
    fn the_monthly_cron_fires_once_at_its_instant() {
        let cron = "cron(0 2 1 * ? *)";
        assert!(cron_due(cron, at("2026-11-30T23:00:00Z"), at("2026-12-01T02:00:00Z")).unwrap());
        assert!(!cron_due(cron, at("2026-12-01T02:00:00Z"), at("2026-12-01T03:00:00Z")).unwrap());
        assert!(!cron_due(cron, at("2026-11-30T23:00:00Z"), at("2026-12-01T01:59:59Z")).unwrap());
        assert!(cron_due(cron, at("2026-11-15T00:00:00Z"), at("2026-12-02T00:00:00Z")).unwrap());
        assert!(cron_due(cron, at("2026-12-31T00:00:00Z"), at("2027-01-01T02:00:00Z")).unwrap());
        assert!(cron_due("cron(0 2 * * ? *)", at("2026-11-30T23:00:00Z"), at("2026-12-01T02:00:00Z")).is_err());
    }
}
