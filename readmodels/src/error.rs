use journal::StoreError;

/// Why a read-model operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    /// The read models' own SQLite database failed.
    #[error("read model storage: {context}: {source}")]
    Storage {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The read models' directory or files cannot be created or removed.
    #[error("read model files: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
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
    pub(crate) fn storage(context: impl Into<String>, source: rusqlite::Error) -> ReadModelError {
        ReadModelError::Storage {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> ReadModelError {
        ReadModelError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Names what failed, for a SQLite result.
pub(crate) trait Context<T> {
    fn context(self, what: &str) -> Result<T, ReadModelError>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn context(self, what: &str) -> Result<T, ReadModelError> {
        self.map_err(|e| ReadModelError::storage(what, e))
    }
}
