//! Results: the flat [`row::SummaryRow`] (docs/design.md §7) and everything made from it —
//! `summary.csv` ([`csv`]), `.hgrm` percentile files ([`hgrm`]), `meta.json` ([`meta`]),
//! SVG plots ([`plot`]), `report.md` ([`markdown`], [`report_dir`]; the fault rows' table in
//! `fault_table`) and run-to-run
//! comparison with thresholds ([`compare`]). Exporters are pure functions over in-memory
//! rows; only [`writer`] (a run's files as it goes), [`run_dir`] and the `write_*`/`read`
//! helpers touch the filesystem.

pub mod atomic_file;
pub mod capacity;
pub mod compare;
pub mod csv;
mod error;
mod fault_table;
pub mod hgrm;
pub mod markdown;
pub mod meta;
pub mod metric;
pub mod plot;
pub mod row;
pub mod run_dir;
pub mod writer;

pub use compare::{Comparison, Threshold, Violation, compare, parse_threshold};
pub use error::ReportError;
pub use meta::{Machine, Meta, collect_machine};
pub use row::SummaryRow;
pub use run_dir::{ReportSummary, hgrm_file_name, report_dir};
pub use writer::ResultsWriter;
