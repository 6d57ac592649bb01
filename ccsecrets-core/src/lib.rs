//! ccsecrets-core: a sops-compatible secrets engine.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod sops;
