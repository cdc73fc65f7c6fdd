//! The error of an own domain (SPEC §8.6): a file or directory, and what is wrong with it.

/// Why an own domain cannot be used: the path and what is wrong (one line, naming the entry).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct OwnError {
    /// The file or directory.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl OwnError {
    /// An error about `path`.
    pub fn new(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.to_string(),
            message: message.into(),
        }
    }
}
