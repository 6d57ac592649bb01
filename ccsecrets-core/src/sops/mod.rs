//! The sops file format: tree, stores, cipher, MAC, metadata, selection rules, `.sops.yaml`.

pub mod cipher;
pub mod document;
pub mod metadata;
pub mod path;
pub mod rules;
pub mod scalar;
pub mod select;
pub mod store;
pub mod tree;
