//! ccsecrets-core: a sops-compatible secrets engine and the model of a cc-ci instance.
//!
//! Which API for which job:
//! - read an encrypted file: [`sops::document::EncryptedFile::parse`], then
//!   [`decrypt`](sops::document::EncryptedFile::decrypt) with [`keys::Identity`]s;
//! - encrypt a plain document: [`sops::store::parse`] then [`sops::document::encrypt`] with
//!   [`keys::Recipient`]s, and [`EncryptedFile::emit`](sops::document::EncryptedFile::emit);
//! - change a decrypted document and write it back with minimal diffs:
//!   [`PlainFile::reencrypt`](sops::document::PlainFile::reencrypt);
//! - find the creation rule for a file: [`sops::rules::find_config`], [`sops::rules::Config`];
//! - write any file safely: [`fsutil::write_atomic`];
//! - read an instance repo and check its secrets: [`instance::Instance::open`],
//!   [`instance::SecretSet::from_map`], [`instance::validate()`];
//! - change an instance: [`instance::init()`], [`instance::renew()`] (certificate),
//!   [`instance::Policy`] (recipients) and [`instance::rekey::plan`]/[`instance::rekey::apply`];
//! - check, commit and scan the git repo: [`git::Repo`] (clean check, compare-and-swap commit,
//!   history/index/work-tree walks for the leak check).
//! - render the sops-nix declarations of an instance, or compare committed glue with its
//!   secrets file: [`nix::Declarations`], [`nix::glue_findings`];
//! - install an instance's secrets on a host (generations, modes, atomic switch):
//!   [`install::install`].
//!
//! The core never reads the environment, `$HOME` or the terminal: callers pass identities,
//! recipients and paths in.
//!
//! ```
//! use ccsecrets_core::keys::{Identity, Recipient};
//! use ccsecrets_core::sops::document::{encrypt, DecryptOptions, EncryptOptions};
//! use ccsecrets_core::sops::tree::{Map, Value};
//!
//! let (identity, _secret) = Identity::generate();
//! let recipient: Recipient = identity.public().parse().unwrap();
//! let mut doc = Map::new();
//! doc.push("rpc_secret", Value::Str("0123456789abcdef".into()));
//! let opts = EncryptOptions { key_groups: vec![vec![recipient]], ..Default::default() };
//! let encrypted = encrypt(vec![doc.clone()], &opts).unwrap();
//! let plain = encrypted.decrypt(&[identity], DecryptOptions::default()).unwrap();
//! assert_eq!(plain.branches, vec![doc]);
//! ```
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod fsutil;
pub mod git;
pub mod install;
pub mod instance;
pub mod keys;
pub mod nix;
pub mod sops;
