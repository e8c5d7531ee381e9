//! ServerError, the one error type of this crate (bind, database, I/O).
