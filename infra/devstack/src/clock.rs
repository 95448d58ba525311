//! The dev stack's clock: real time until a test moves it, then frozen at
//! each instant it is moved to, so SLA arithmetic in tests is exact.

use chrono::Utc;
use partnerops_aws::Clock;
use partnerops_domain::Timestamp;
use std::sync::RwLock;

#[derive(Debug, Default)]
pub struct DevClock {
    frozen: RwLock<Option<Timestamp>>,
}

impl DevClock {
    pub fn set(&self, at: Timestamp) {
        *self.frozen.write().unwrap_or_else(|p| p.into_inner()) = Some(at);
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
