//! SLA timers: one per hand-off, with the instants at which the sweep must
//! look at it again (due soon, due, escalation).

use crate::Timestamp;
use crate::partner::PartnerId;
use crate::prospect::ProspectKey;
use chrono::Duration;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaKind {
    OpportunityCreation,
    RegistrationDecision,
    NotesUpdate,
    PartnerFollowUp,
}

impl SlaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaKind::OpportunityCreation => "opportunity_creation",
            SlaKind::RegistrationDecision => "registration_decision",
            SlaKind::NotesUpdate => "notes_update",
            SlaKind::PartnerFollowUp => "partner_follow_up",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaStatus {
    Open,
    Met,
    Breached,
}

/// What the timer measures the hand-off of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum SlaSubject {
    Referral(String),
    DealRegistration(String),
    Opportunity(String),
}

impl SlaSubject {
    pub fn id(&self) -> &str {
        match self {
            SlaSubject::Referral(id) | SlaSubject::DealRegistration(id) | SlaSubject::Opportunity(id) => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaTimer {
    pub subject: SlaSubject,
    pub kind: SlaKind,
    /// Distinguishes successive timers of one kind on one subject (recurring
    /// notes updates, one follow-up per meeting).
    pub seq: String,
    pub partner_id: PartnerId,
    pub prospect_key: ProspectKey,
    /// The company as people know it (the referral's company, the
    /// registration's customer, the opportunity's name), for messages.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prospect_name: String,
    pub window_hours: u32,
    pub started_at: Timestamp,
    pub due_at: Timestamp,
    pub status: SlaStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub met_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breached_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_soon_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_at: Option<Timestamp>,
    /// Set when the obligation stopped without being met (the opportunity
    /// closed): the sweep has nothing more to do with the timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// Bumped by every change; the sweep's writes are conditional on it, so
    /// two sweeps over the same timer change it, and signal, once.
    #[serde(default)]
    pub rev: u64,
}

/// What a sweep announces about a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaSignal {
    DueSoon,
    Breached,
    Escalated,
}

/// The sweep's rules for one timer at `now`: the timer afterwards and the
/// signals to emit, or `None` when nothing changes.
///
/// - due soon once 75% of the window has passed, once, while open and not due;
/// - breached when `due_at < now`, once, and final;
/// - escalated when still breached one more window after `due_at`, once.
///
/// A sweep that first sees a timer after it is due breaches it without a
/// belated due-soon signal.
pub fn sweep_timer(timer: &SlaTimer, now: Timestamp) -> Option<(SlaTimer, Vec<SlaSignal>)> {
    let mut after = timer.clone();
    let mut signals = Vec::new();
    if after.status == SlaStatus::Open {
        if after.due_at < now {
            after.status = SlaStatus::Breached;
            after.breached_at = Some(now);
            after.due_soon_at.get_or_insert(now);
            signals.push(SlaSignal::Breached);
        } else if after.ended_at.is_none() && after.due_soon_at.is_none() && now >= after.due_soon_threshold() {
            after.due_soon_at = Some(now);
            signals.push(SlaSignal::DueSoon);
        }
    }
    if after.status == SlaStatus::Breached
        && after.ended_at.is_none()
        && after.escalated_at.is_none()
        && after.escalation_threshold() < now
    {
        after.escalated_at = Some(now);
        signals.push(SlaSignal::Escalated);
    }
    if signals.is_empty() {
        return None;
    }
    after.rev = timer.rev + 1;
    Some((after, signals))
}

impl SlaTimer {
    /// The timer with the prospect's display name.
    pub fn named(self, prospect_name: impl Into<String>) -> Self {
        Self { prospect_name: prospect_name.into(), ..self }
    }

    pub fn start(
        subject: SlaSubject,
        kind: SlaKind,
        seq: impl Into<String>,
        partner_id: PartnerId,
        prospect_key: ProspectKey,
        started_at: Timestamp,
        window_hours: u32,
    ) -> Self {
        Self {
            subject,
            kind,
            seq: seq.into(),
            partner_id,
            prospect_key,
            prospect_name: String::new(),
            window_hours,
            started_at,
            due_at: started_at.plus(Duration::hours(i64::from(window_hours))),
            status: SlaStatus::Open,
            met_at: None,
            breached_at: None,
            due_soon_at: None,
            escalated_at: None,
            ended_at: None,
            rev: 0,
        }
    }

    /// Met by an event that happened at `at`: only an open timer, and only
    /// when `at <= due_at`. A late event changes nothing: breached is final.
    pub fn meet(&self, at: Timestamp) -> Option<SlaTimer> {
        (self.status == SlaStatus::Open && self.ended_at.is_none() && at <= self.due_at).then(|| SlaTimer {
            status: SlaStatus::Met,
            met_at: Some(at),
            rev: self.rev + 1,
            ..self.clone()
        })
    }

    /// Stops a timer whose obligation ended at `at`: met if still in time;
    /// if already overdue, the sweep still breaches it (breaches are never
    /// lost) but it is not escalated.
    pub fn end(&self, at: Timestamp) -> Option<SlaTimer> {
        if self.status == SlaStatus::Met || self.ended_at.is_some() {
            return None;
        }
        self.meet(at).or_else(|| Some(SlaTimer { ended_at: Some(at), rev: self.rev + 1, ..self.clone() }))
    }

    pub fn window(&self) -> Duration {
        Duration::hours(i64::from(self.window_hours))
    }

    /// When 75% of the window has passed.
    pub fn due_soon_threshold(&self) -> Timestamp {
        self.started_at.plus(Duration::minutes(i64::from(self.window_hours) * 45))
    }

    /// One more window after `due_at`.
    pub fn escalation_threshold(&self) -> Timestamp {
        self.due_at.plus(self.window())
    }

    /// The next instant at which a sweep has something to decide about this
    /// timer, or `None` once nothing more can happen to it. The due-time
    /// index holds exactly the timers for which this is `Some`.
    pub fn next_check_at(&self) -> Option<Timestamp> {
        if self.ended_at.is_some() {
            // An ended timer that was already overdue still owes its breach.
            return (self.status == SlaStatus::Open).then_some(self.due_at);
        }
        match self.status {
            SlaStatus::Met => None,
            SlaStatus::Open if self.due_soon_at.is_none() && self.due_soon_threshold() < self.due_at => {
                Some(self.due_soon_threshold())
            }
            SlaStatus::Open => Some(self.due_at),
            SlaStatus::Breached if self.escalated_at.is_none() => Some(self.escalation_threshold()),
            SlaStatus::Breached => None,
        }
    }

    pub fn view(&self) -> SlaView {
        SlaView {
            kind: self.kind,
            due_at: self.due_at,
            status: self.status,
            met_at: self.met_at,
            breached_at: self.breached_at,
        }
    }
}

/// The `slas` entry of an API body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaView {
    pub kind: SlaKind,
    pub due_at: Timestamp,
    pub status: SlaStatus,
    pub met_at: Option<Timestamp>,
    pub breached_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn timer() -> SlaTimer {
        SlaTimer::start(
            SlaSubject::Referral("ref_x".into()),
            SlaKind::OpportunityCreation,
            "0",
            PartnerId::parse("acme").unwrap(),
            ProspectKey::from_stored("globex.com".into()),
            at("2026-11-22T00:00:00Z"),
            24,
        )
    }

    fn signals(t: &SlaTimer, now: &str) -> Vec<SlaSignal> {
        sweep_timer(t, at(now)).map(|(_, s)| s).unwrap_or_default()
    }

    #[test]
    fn a_timer_walks_through_due_soon_breach_and_escalation_once_each() {
        let t = timer();
        assert!(signals(&t, "2026-11-22T17:59:59.999Z").is_empty());
        let (t, s) = sweep_timer(&t, at("2026-11-22T18:00:00Z")).unwrap();
        assert_eq!(s, [SlaSignal::DueSoon]);
        assert!(signals(&t, "2026-11-22T20:00:00Z").is_empty(), "due soon once");
        assert!(signals(&t, "2026-11-23T00:00:00Z").is_empty(), "a timer due exactly now is not breached");
        assert_eq!(t.next_check_at(), Some(at("2026-11-23T00:00:00Z")));
        let (t, s) = sweep_timer(&t, at("2026-11-23T00:00:00.001Z")).unwrap();
        assert_eq!(s, [SlaSignal::Breached]);
        assert_eq!(t.status, SlaStatus::Breached);
        assert_eq!(t.next_check_at(), Some(at("2026-11-24T00:00:00Z")));
        assert!(signals(&t, "2026-11-24T00:00:00Z").is_empty());
        let (t, s) = sweep_timer(&t, at("2026-11-24T00:05:00Z")).unwrap();
        assert_eq!(s, [SlaSignal::Escalated]);
        assert_eq!(t.next_check_at(), None, "nothing more can happen: it leaves the due index");
        assert!(signals(&t, "2027-01-01T00:00:00Z").is_empty());
        assert_eq!(t.rev, 3);
    }

    #[test]
    fn a_late_first_sweep_breaches_and_escalates_without_a_belated_due_soon() {
        assert_eq!(signals(&timer(), "2026-11-23T01:00:00Z"), [SlaSignal::Breached]);
        assert_eq!(signals(&timer(), "2026-11-25T00:00:00Z"), [SlaSignal::Breached, SlaSignal::Escalated]);
    }

    #[test]
    fn an_overdue_timer_that_ends_is_still_breached_but_never_escalated() {
        let ended = timer().end(at("2026-11-23T00:00:01Z")).unwrap();
        assert_eq!(ended.status, SlaStatus::Open);
        assert_eq!(ended.next_check_at(), Some(at("2026-11-23T00:00:00Z")), "it stays in the due index");
        let (breached, signals) = sweep_timer(&ended, at("2026-11-23T00:05:00Z")).unwrap();
        assert_eq!(signals, [SlaSignal::Breached]);
        assert_eq!(breached.next_check_at(), None);
        assert_eq!(sweep_timer(&breached, at("2026-12-30T00:00:00Z")), None, "no escalation once ended");
        let in_time = timer().end(at("2026-11-22T12:00:00Z")).unwrap();
        assert_eq!(in_time.status, SlaStatus::Met);
    }

    #[test]
    fn met_timers_never_signal() {
        let met = SlaTimer { status: SlaStatus::Met, met_at: Some(at("2026-11-22T01:00:00Z")), ..timer() };
        assert_eq!(sweep_timer(&met, at("2026-12-01T00:00:00Z")), None);
        assert_eq!(met.next_check_at(), None);
    }

    #[test]
    fn a_new_timer_is_checked_first_at_three_quarters_of_its_window() {
        let start = Timestamp::parse("2026-11-22T00:00:00Z").unwrap();
        let timer = SlaTimer::start(
            SlaSubject::Referral("ref_x".into()),
            SlaKind::OpportunityCreation,
            "0",
            PartnerId::parse("acme").unwrap(),
            ProspectKey::from_stored("globex.com".into()),
            start,
            24,
        );
        assert_eq!(timer.due_at.to_rfc3339(), "2026-11-23T00:00:00.000Z");
        assert_eq!(timer.next_check_at().map(|t| t.to_rfc3339()).as_deref(), Some("2026-11-22T18:00:00.000Z"));
        assert_eq!(timer.escalation_threshold().to_rfc3339(), "2026-11-24T00:00:00.000Z");
    }
}
