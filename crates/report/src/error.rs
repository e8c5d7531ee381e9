//! The report crate's error type: what failed, and on which file.

use std::path::PathBuf;

/// Failure while reading or writing a run's result files.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `summary.csv` text is malformed (line numbers are 1-based, the header is line 1).
    #[error("summary.csv line {line}: {message}")]
    Csv { line: usize, message: String },
    /// A CSV file on disk is malformed.
    #[error("{path}: line {line}: {message}")]
    CsvFile {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// `meta.json` could not be parsed or produced.
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A plot could not be drawn.
    #[error("plot {name}: {message}")]
    Plot { name: String, message: String },
}

impl ReportError {
    /// Attaches a file path to an in-memory CSV error.
    pub(crate) fn in_file(self, path: PathBuf) -> ReportError {
        match self {
            ReportError::Csv { line, message } => ReportError::CsvFile {
                path,
                line,
                message,
            },
            other => other,
        }
    }
}
