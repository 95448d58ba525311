//! Where handlers get `now` from. Lambdas use the system clock; the dev stack
//! uses a clock that tests move and freeze.

use chrono::Utc;
use partnerops_domain::Timestamp;
use std::sync::{Arc, RwLock};

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(Utc::now())
    }
}

/// A clock that stands still until it is moved: every request between two
/// moves sees the same instant, which makes SLA tests exact.
#[derive(Debug, Clone)]
pub struct FixedClock(Arc<RwLock<Timestamp>>);

impl FixedClock {
    pub fn new(at: Timestamp) -> Self {
        Self(Arc::new(RwLock::new(at)))
    }

    pub fn set(&self, at: Timestamp) {
        if let Ok(mut guard) = self.0.write() {
            *guard = at;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0.read().map(|t| *t).unwrap_or_else(|poisoned| *poisoned.into_inner())
    }
}
