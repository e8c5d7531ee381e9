//! Scenario errors and the places they point at.
//!
//! Every mistake in a file names `file:line` and the key; every mistake caused by a CLI
//! override names the flag instead. [`Origin`] records where each value came from so the
//! validator can say so without knowing how the value got there.

use std::path::PathBuf;

/// Why a scenario could not be loaded. Display is the one-line message a user sees.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read at all.
    #[error("{}: cannot read scenario file: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not valid TOML (reported by the toml parser).
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    /// A key that no table of the scenario format has.
    #[error("{file}:{line}: unknown key '{key}' (expected one of: {})", expected.join(", "))]
    UnknownKey {
        file: String,
        line: usize,
        /// Dotted path of the key (`rat`, `phases.warmup`).
        key: String,
        /// The keys valid in that table.
        expected: Vec<&'static str>,
    },
    /// A value of the file that is missing, of the wrong type or impossible.
    #[error("{file}:{line}: key '{key}': {message}")]
    Invalid {
        file: String,
        line: usize,
        /// Dotted path of the key (`rate`, `phases.measure_s`, `sweep.clients`).
        key: String,
        message: String,
    },
    /// A CLI override that is impossible for this scenario.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag as typed (`--rate`).
        flag: &'static str,
        message: String,
    },
}

impl ScenarioError {
    /// The 1-based line the error points at, when it points into a file.
    pub fn line(&self) -> Option<usize> {
        match self {
            ScenarioError::Syntax { line, .. }
            | ScenarioError::UnknownKey { line, .. }
            | ScenarioError::Invalid { line, .. } => Some(*line),
            ScenarioError::Read { .. } | ScenarioError::Flag { .. } => None,
        }
    }

    /// The key (dotted path) or flag the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ScenarioError::UnknownKey { key, .. } | ScenarioError::Invalid { key, .. } => Some(key),
            ScenarioError::Flag { flag, .. } => Some(flag),
            ScenarioError::Read { .. } | ScenarioError::Syntax { .. } => None,
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Origin {
    /// Written in the file (top level, a table, or one element of a `[sweep]` list).
    File { line: usize, key: String },
    /// Not written anywhere: a default, or a required key that is missing. `line` is the
    /// line that made it necessary (usually `workload`'s).
    Default { line: usize, key: String },
    /// A CLI override.
    Flag(&'static str),
}

impl Origin {
    /// The error for a wrong value from this origin.
    pub(crate) fn error(&self, file: &str, message: impl Into<String>) -> ScenarioError {
        match self {
            Origin::File { line, key } | Origin::Default { line, key } => ScenarioError::Invalid {
                file: file.to_string(),
                line: *line,
                key: key.clone(),
                message: message.into(),
            },
            Origin::Flag(flag) => ScenarioError::Flag {
                flag,
                message: message.into(),
            },
        }
    }

    /// Whether the value was written by the user (file or flag), not defaulted.
    pub(crate) fn is_given(&self) -> bool {
        !matches!(self, Origin::Default { .. })
    }
}

/// 1-based line of byte offset `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        let t = "a = 1\nb = 2\n\nc = 3";
        assert_eq!(line_of(t, 0), 1);
        assert_eq!(line_of(t, 5), 1);
        assert_eq!(line_of(t, 6), 2);
        assert_eq!(line_of(t, t.find('c').unwrap()), 4);
        assert_eq!(line_of(t, 10_000), 4);
    }

    #[test]
    fn messages_name_file_line_key_or_flag() {
        let e = Origin::File {
            line: 7,
            key: "rate".into(),
        }
        .error("s/echo.toml", "must be > 0");
        assert_eq!(e.to_string(), "s/echo.toml:7: key 'rate': must be > 0");
        assert_eq!((e.line(), e.key()), (Some(7), Some("rate")));
        let e = Origin::Flag("--rate").error("s/echo.toml", "must be > 0");
        assert_eq!(e.to_string(), "--rate: must be > 0");
        let e = ScenarioError::UnknownKey {
            file: "x.toml".into(),
            line: 3,
            key: "rat".into(),
            expected: vec!["name", "rate"],
        };
        assert_eq!(
            e.to_string(),
            "x.toml:3: unknown key 'rat' (expected one of: name, rate)"
        );
    }
}
