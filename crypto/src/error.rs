//! The crate's single error type. Messages never quote a data value or key material.

use shuyu_privacy::Fault;

/// Every failure of `shuyu-crypto`.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// A value is above the column's declared bound; the import refuses the whole chunk.
    #[error("value at row {row} of column `{column}` is above the declared bound {bound}; fix the source data or declare a larger bound")]
    AboveBound {
        /// Column name.
        column: String,
        /// Row index within the input (no value is quoted).
        row: u64,
        /// The declared bound.
        bound: u32,
    },
    /// The zero-knowledge proof of a compact ciphertext list did not verify.
    #[error("the zero-knowledge bound proof of column `{column}` chunk {chunk} does not verify; the bundle was not produced with the domain's CRS and public key, or was tampered with")]
    ProofRejected {
        /// Column name.
        column: String,
        /// Chunk index.
        chunk: u64,
    },
    /// An aggregate would leave the exactness budget of its tier.
    #[error("capacity exceeded: {0}")]
    Capacity(String),
    /// Inputs of an operation do not fit together (lengths, group ids, parameters).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A serialized object is malformed, of another version, or fails its checksum.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The keyholder refuses a release request.
    #[error("release refused: {0}")]
    ReleaseRefused(String),
    /// An error reported by TFHE-rs.
    #[error("TFHE-rs: {0}")]
    Tfhe(String),
    /// Long work was stopped before it completed (the server is shutting down).
    #[error("{0} was stopped before it completed: the server is shutting down")]
    Stopped(&'static str),
    /// File input/output.
    #[error("i/o on {path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl From<tfhe::Error> for CryptoError {
    fn from(e: tfhe::Error) -> Self {
        CryptoError::Tfhe(e.to_string())
    }
}

impl CryptoError {
    /// The fault class: a bundle, key, proof or request that does not hold up is the
    /// caller's; the keyholder refusing a release is a refused permission; TFHE-rs and file
    /// failures are the server's. The domain's server and the keyholder both answer by it.
    pub fn fault(&self) -> Fault {
        match self {
            CryptoError::AboveBound { .. }
            | CryptoError::ProofRejected { .. }
            | CryptoError::Capacity(_)
            | CryptoError::InvalidInput(_)
            | CryptoError::Malformed { .. } => Fault::InvalidArgument,
            CryptoError::ReleaseRefused(_) => Fault::PermissionDenied,
            CryptoError::Stopped(_) => Fault::Unavailable,
            CryptoError::Tfhe(_) | CryptoError::Io { .. } => Fault::Internal,
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        CryptoError::Io { path: path.display().to_string(), source }
    }
    pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        CryptoError::Malformed { what, reason: reason.into() }
    }
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, CryptoError>;
