//! The results writer of a run directory, like hyperfine's exporters: the runner hands it
//! rows as they finish; it owns the file names (`summary.csv`, `meta.json`, one `.hgrm` per
//! row named by [`hgrm_file_name`]), their text (the pure serializers [`csv::serialize`],
//! [`hgrm::percentile_distribution`], [`Meta::to_json`]) and when they are written:
//!
//! - `meta.json` at the start, after every row and every failure, and at the finish (or
//!   abort), each time atomically, so a run that stops anywhere says how far it got and why;
//! - `summary.csv` rewritten atomically after every row (a crash loses at most the row in
//!   progress), and the row's `.hgrm` beside it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hdrhistogram::Histogram;

use crate::meta::{Meta, RowFailureRecord, rfc3339_utc};
use crate::row::SummaryRow;
use crate::run_dir::{META_JSON, SUMMARY_CSV, hgrm_file_name};
use crate::{ReportError, atomic_file, csv, hgrm};

/// The files of one run directory, kept up to date as the run goes.
#[derive(Debug)]
pub struct ResultsWriter {
    dir: PathBuf,
    meta: Meta,
    rows: Vec<SummaryRow>,
}

impl ResultsWriter {
    /// Creates `dir` (and its parents) and writes the run's first `meta.json`.
    pub fn create(dir: &Path, meta: Meta) -> Result<ResultsWriter, ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let w = ResultsWriter {
            dir: dir.to_path_buf(),
            meta,
            rows: Vec::new(),
        };
        w.write_meta()?;
        Ok(w)
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `meta.json` is (the terminal points there when something failed).
    pub fn meta_json(&self) -> PathBuf {
        self.dir.join(META_JSON)
    }

    /// Where `summary.csv` is.
    pub fn summary_csv(&self) -> PathBuf {
        self.dir.join(SUMMARY_CSV)
    }

    /// The rows written so far, in run order.
    pub fn rows(&self) -> &[SummaryRow] {
        &self.rows
    }

    /// A row finished: its `.hgrm`, then `summary.csv` with it, then `meta.json`.
    pub fn add_row(
        &mut self,
        row: SummaryRow,
        histogram: &Histogram<u64>,
    ) -> Result<(), ReportError> {
        let hgrm_path = self.dir.join(hgrm_file_name(&row));
        atomic_file::write_atomic(&hgrm_path, hgrm_text(histogram).as_bytes())?;
        self.rows.push(row);
        csv::write_atomic(&self.summary_csv(), &self.rows)?;
        self.write_meta()
    }

    /// Changes the run's `meta.json` (e.g. a capacity search's steps) and writes it at once.
    pub fn update_meta(&mut self, f: impl FnOnce(&mut Meta)) -> Result<(), ReportError> {
        f(&mut self.meta);
        self.write_meta()
    }

    /// A row could not be measured: recorded in `meta.json` at once.
    pub fn add_failure(&mut self, row: &str, message: &str) -> Result<(), ReportError> {
        self.meta.failures.push(RowFailureRecord {
            row: row.to_owned(),
            message: message.to_owned(),
        });
        self.write_meta()
    }

    /// The run stopped on `error`: recorded in `meta.json` with the time it stopped.
    pub fn abort(mut self, error: &str) -> Result<PathBuf, ReportError> {
        self.meta.error = Some(error.to_owned());
        self.meta.finished_at = Some(rfc3339_utc(SystemTime::now()));
        self.write_meta()?;
        Ok(self.meta_json())
    }

    /// The run ended (`interrupted`: by Ctrl-C); returns its rows.
    pub fn finish(mut self, interrupted: bool) -> Result<Vec<SummaryRow>, ReportError> {
        self.meta.finished_at = Some(rfc3339_utc(SystemTime::now()));
        self.meta.interrupted = interrupted;
        self.write_meta()?;
        Ok(self.rows)
    }

    fn write_meta(&self) -> Result<(), ReportError> {
        self.meta.write(&self.meta_json())
    }
}

/// A row's `.hgrm` text: microseconds shown as milliseconds, the default resolution.
pub fn hgrm_text(histogram: &Histogram<u64>) -> String {
    hgrm::percentile_distribution(histogram, hgrm::US_TO_MS, hgrm::DEFAULT_TICKS_PER_HALF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str) -> SummaryRow {
        SummaryRow {
            run_id: "r".into(),
            scenario: "echo".into(),
            target: target.into(),
            repeat: 1,
            ..SummaryRow::default()
        }
    }

    fn histogram() -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for v in [100, 200, 300] {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn every_row_is_on_disk_as_soon_as_it_is_added() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let mut w = ResultsWriter::create(&out, Meta::new("r", "")).unwrap();
        let meta = Meta::read(&w.meta_json()).unwrap();
        assert_eq!(meta.run_id, "r");
        assert!(meta.finished_at.is_none());
        assert!(!w.summary_csv().exists());

        w.add_row(row("tcp"), &histogram()).unwrap();
        assert_eq!(csv::read(&w.summary_csv()).unwrap(), vec![row("tcp")]);
        let hgrm = std::fs::read_to_string(out.join(hgrm_file_name(&row("tcp")))).unwrap();
        assert_eq!(hgrm, hgrm_text(&histogram()));
        w.add_row(row("ws-tungstenite"), &histogram()).unwrap();
        assert_eq!(csv::read(&w.summary_csv()).unwrap().len(), 2);

        let rows = w.finish(true).unwrap();
        assert_eq!(rows.len(), 2);
        let meta = Meta::read(&out.join(META_JSON)).unwrap();
        assert!(meta.interrupted && meta.finished_at.is_some());
    }

    #[test]
    fn failures_and_an_abort_say_why_in_meta_json() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ResultsWriter::create(dir.path(), Meta::new("r", "")).unwrap();
        w.add_failure("echo  r1 tcp", "connection refused").unwrap();
        let meta = Meta::read(&w.meta_json()).unwrap();
        assert_eq!(meta.failures.len(), 1);
        assert_eq!(meta.failures[0].message, "connection refused");
        let path = w.abort("cannot write summary.csv: disk full").unwrap();
        let meta = Meta::read(&path).unwrap();
        assert_eq!(
            meta.error.as_deref(),
            Some("cannot write summary.csv: disk full")
        );
        assert!(meta.finished_at.is_some() && !meta.interrupted);
    }
}
