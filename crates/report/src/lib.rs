//! Results: the flat [`row::SummaryRow`] (DESIGN.md §7), and its exporters.

pub mod row;
