//! The `bhtrace` command-line tool (being written).
fn main() {}
