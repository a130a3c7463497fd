//! Traces of test runs (being written).
