//! Exports of a trace to other tools' formats (being written).
