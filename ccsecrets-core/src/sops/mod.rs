//! The sops file format: tree, stores, cipher, MAC, metadata, selection rules, `.sops.yaml`.

pub mod scalar;
pub mod store;
pub mod tree;
