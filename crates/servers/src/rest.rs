//! The REST routes of DESIGN.md §4 (dashboard, stats), shared by every HTTP target.
