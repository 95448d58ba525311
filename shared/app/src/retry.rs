//! Read, decide, write under optimistic concurrency: every conditional write
//! that can lose to a concurrent one is retried from a fresh read, a bounded
//! number of times.

use partnerops_aws::StoreError;
use std::future::Future;

/// What a record that kept changing under every attempt is called in the
/// conflict that ends the retries.
pub const KEPT_CHANGING: &str = "a record that kept changing under every attempt";

/// Why one attempt did not finish: its write lost to a concurrent one (read
/// again and decide again), or a final answer.
#[derive(Debug)]
pub enum Attempt<E> {
    Conflict,
    Failed(E),
}

impl<E: From<StoreError>> From<StoreError> for Attempt<E> {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(_) => Self::Conflict,
            other => Self::Failed(E::from(other)),
        }
    }
}

/// Runs `attempt` until it finishes without a write conflict, at most
/// `attempts` times. When every attempt lost, the answer is the store's
/// conflict ([`KEPT_CHANGING`]), which callers report as busy.
pub async fn retry_on_conflict<T, E, F, Fut>(attempts: usize, mut attempt: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    for _ in 0..attempts {
        match attempt().await {
            Ok(done) => return Ok(done),
            Err(Attempt::Conflict) => continue,
            Err(Attempt::Failed(error)) => return Err(error),
        }
    }
    Err(E::from(StoreError::Conflict(KEPT_CHANGING)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test]
    async fn a_conflict_is_tried_again_and_a_failure_is_final() {
        let tries = Cell::new(0);
        let done: Result<u32, StoreError> = retry_on_conflict(3, || async {
            tries.set(tries.get() + 1);
            if tries.get() < 3 { Err(StoreError::Conflict("x").into()) } else { Ok(7) }
        })
        .await;
        assert_eq!(done.ok(), Some(7));
        assert_eq!(tries.get(), 3);

        let tries = Cell::new(0);
        let lost: Result<u32, StoreError> = retry_on_conflict(2, || async {
            tries.set(tries.get() + 1);
            Err(StoreError::Conflict("x").into())
        })
        .await;
        assert!(matches!(lost, Err(StoreError::Conflict(KEPT_CHANGING))));
        assert_eq!(tries.get(), 2);

        let tries = Cell::new(0);
        let failed: Result<u32, StoreError> = retry_on_conflict(5, || async {
            tries.set(tries.get() + 1);
            Err(Attempt::Failed(StoreError::InvalidCursor))
        })
        .await;
        assert!(matches!(failed, Err(StoreError::InvalidCursor)));
        assert_eq!(tries.get(), 1);
    }
}
