use journal::StoreError;

/// Why a read-model operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    /// The read models' own sled database failed.
    #[error("read model storage: {context}: {source}")]
    Storage {
        context: String,
        #[source]
        source: sled::Error,
    },
    /// Reading the journal failed.
    #[error(transparent)]
    Journal(#[from] StoreError),
    /// A cursor that no listing of this kind handed out (or from another sort).
    #[error("the cursor is not valid for this listing")]
    InvalidCursor,
    /// A query parameter out of range (the message says which and why).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A row of the read models' own database cannot be decoded (rebuild to repair).
    #[error("read model row is unreadable: {0}")]
    Corrupt(String),
    /// A background task applying events stopped (the runtime is shutting down).
    #[error("the read model task stopped")]
    Closed,
}

impl ReadModelError {
    pub(crate) fn storage(context: impl Into<String>, source: sled::Error) -> ReadModelError {
        ReadModelError::Storage {
            context: context.into(),
            source,
        }
    }
}
