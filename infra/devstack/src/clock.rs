//! The dev stack's clock: real time until it is moved, then frozen at each
//! instant it is moved to, so SLA arithmetic in tests is exact. It only
//! moves forward: what the stack wrote carries the instants it was written
//! at, and a clock set before them would make timers fall due again, events
//! arrive before their causes and a month's export miss its deals.

use chrono::Utc;
use partnerops_aws::Clock;
use partnerops_domain::Timestamp;
use std::sync::RwLock;

#[derive(Debug, Default)]
pub struct DevClock {
    frozen: RwLock<Option<Timestamp>>,
}

/// A move that would take the clock back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stack's clock reads {now} and only moves forward; {asked} is earlier (restart the stack to start again)")]
pub struct Backwards {
    pub now: Timestamp,
    pub asked: Timestamp,
}

impl DevClock {
    /// Frozen at `start`, or on real time when it is `None`.
    pub fn starting_at(start: Option<Timestamp>) -> Self {
        Self { frozen: RwLock::new(start) }
    }

    /// Freezes the clock at `at`, which may not be before its reading.
    pub fn set(&self, at: Timestamp) -> Result<(), Backwards> {
        let mut guard = self.frozen.write().unwrap_or_else(|p| p.into_inner());
        let now = guard.unwrap_or_else(real_now);
        if at < now {
            return Err(Backwards { now, asked: at });
        }
        *guard = Some(at);
        Ok(())
    }

    pub fn advance(&self, by: chrono::Duration) -> Timestamp {
        let mut guard = self.frozen.write().unwrap_or_else(|p| p.into_inner());
        let base = guard.unwrap_or_else(real_now);
        let next = base.plus(by);
        *guard = Some(next);
        next
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen.read().map(|g| g.is_some()).unwrap_or(true)
    }
}

/// Whole milliseconds, the precision every stored timestamp has.
fn real_now() -> Timestamp {
    let t = Timestamp::from_datetime(Utc::now());
    Timestamp::from_unix_millis(t.unix_millis()).unwrap_or(t)
}

impl Clock for DevClock {
    fn now(&self) -> Timestamp {
        self.frozen.read().ok().and_then(|g| *g).unwrap_or_else(real_now)
    }
}
