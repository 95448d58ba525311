//! What a store call can come to besides its answer.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost to a concurrent one; re-read and decide again.
    #[error("a concurrent write changed {0}")]
    Conflict(&'static str),
    #[error("cursor is not valid for this list")]
    InvalidCursor,
    /// The CRM event was applied already (it is delivered at least once).
    #[error("the CRM event was applied already")]
    AlreadyApplied,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
