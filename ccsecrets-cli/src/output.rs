//! Terminal output helpers: warnings and errors go to stderr, prefixed with the tool name.

use std::io::Write;

pub fn warn(msg: &str) {
    let _ = writeln!(std::io::stderr(), "ccsecrets: warning: {msg}");
}

pub fn error(msg: &str) {
    let _ = writeln!(std::io::stderr(), "ccsecrets: {msg}");
}

pub fn info(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}
