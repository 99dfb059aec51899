//! Audit tests.
