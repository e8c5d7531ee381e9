//! The counted database layer: SQLite (embedded) and PostgreSQL, each counting queries twice (app and engine).
