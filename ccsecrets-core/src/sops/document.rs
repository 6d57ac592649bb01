//! The operations on a sops document: [`encrypt`], [`EncryptedFile::decrypt`], and
//! re-encryption with IV reuse ([`PlainFile::reencrypt`]).
//!
//! Identities and recipients come in as values; nothing here reads the environment.

use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroize;

use super::cipher::{self, CipherError, DataKey, IvStash};
use super::metadata::{
    canonical_rfc3339, now_rfc3339, AgeKey, KeyGroup, Metadata, MetadataError, SOPS_VERSION,
};
use super::select::{CommentStack, Selector};
use super::store::{self, Format, StoreError, StoreOptions};
use super::tree::{Item, Map, Value};
use crate::keys::{self, shamir, Identity, Recipient};

/// An encrypted sops file: its documents (values as `ENC[…]` strings) and metadata.
#[derive(Clone, Debug)]
pub struct EncryptedFile {
    /// One map per document, without the `sops` key.
    pub branches: Vec<Map>,
    /// The parsed `sops` block.
    pub metadata: Metadata,
}

/// A decrypted document, with what is needed to re-encrypt it with minimal changes.
/// Its plaintext is wiped on drop.
pub struct PlainFile {
    /// The plaintext documents.
    pub branches: Vec<Map>,
    /// The metadata it was decrypted from.
    pub metadata: Metadata,
    /// Things the user should know (e.g. a comment that could not be decrypted). Never values.
    pub warnings: Vec<String>,
    data_key: DataKey,
    stash: IvStash,
}

impl Drop for PlainFile {
    fn drop(&mut self) {
        for b in &mut self.branches {
            b.zeroize();
        }
    }
}

/// Options for [`EncryptedFile::decrypt`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DecryptOptions {
    /// Skip MAC verification (`--ignore-mac`).
    pub ignore_mac: bool,
    /// Remember every value's IV so that [`PlainFile::reencrypt`] reproduces the exact
    /// ciphertext of unchanged values (set it when the file will be written back; plain
    /// decryption skips the bookkeeping).
    pub keep_ivs: bool,
}

/// Why a file could not be decrypted. Never names a value or a key's secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The bytes are not a valid file of the format, or have no sops metadata.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The `sops` block is malformed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// None of the identities opens the data key.
    #[error("no identity matches any recipient of this file")]
    NoIdentity {
        /// The file's recipients (public).
        recipients: Vec<String>,
        /// Public forms of the identities that were tried.
        tried: Vec<String>,
        /// Key groups opened / needed, when Shamir sharing is used.
        groups: Option<(usize, usize)>,
    },
    /// The data key recovered from the metadata is malformed.
    #[error("the data key recovered from the metadata is invalid: {0}")]
    DataKey(String),
    /// A value that must be encrypted could not be decrypted.
    #[error("could not decrypt the value at `{path}`: {source}")]
    Value {
        /// Key path (`a:b:`), as sops names it.
        path: String,
        /// The cipher error.
        source: CipherError,
    },
    /// The file has no MAC.
    #[error("file has no MAC")]
    MacMissing,
    /// The MAC itself could not be decrypted (its `lastmodified` or ciphertext changed).
    #[error("cannot decrypt MAC: the file's lastmodified or mac was altered")]
    MacUndecryptable,
    /// The values do not match the MAC: the file was tampered with or corrupted.
    #[error("MAC mismatch: the file's values, their order, or an unencrypted value were changed")]
    MacMismatch,
}

/// Why a document could not be encrypted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The input has no document.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No recipient was given.
    #[error("no recipients: give --age or a .sops.yaml creation rule with keys")]
    NoRecipients,
    /// A value could not be encrypted.
    #[error("could not encrypt the value at `{path}`: {source}")]
    Value {
        /// Key path.
        path: String,
        /// The cipher error.
        source: CipherError,
    },
    /// The data key could not be wrapped for a recipient.
    #[error(transparent)]
    Wrap(#[from] keys::WrapError),
    /// Key-group parameters are invalid.
    #[error(transparent)]
    Shamir(#[from] shamir::ShamirError),
    /// The selection rule would produce a file that cannot be decrypted.
    #[error("{0}")]
    Unsafe(String),
}

/// How to encrypt a new document.
#[derive(Clone, Debug, Default)]
pub struct EncryptOptions {
    /// Key groups of recipients; one group unless Shamir sharing is wanted.
    pub key_groups: Vec<Vec<Recipient>>,
    /// Shamir threshold (0: all groups).
    pub shamir_threshold: usize,
    /// The selection rule (`None`: the default `_unencrypted` suffix, written to the file).
    pub selector: Option<Selector>,
    /// Only encrypted values enter the MAC.
    pub mac_only_encrypted: bool,
    /// Binary files: no selection rule applies or is written.
    pub binary: bool,
}

/// SHA-256("sops"), the MAC prefix for `mac_only_encrypted` files.
fn mac_only_prefix() -> [u8; 32] {
    Sha256::digest(b"sops").into()
}

/// The AAD sops binds a value to: its key path joined with `:` plus a trailing `:` (`":"`
/// at the top level). `built` is that text kept incrementally (empty at the top level).
fn current_aad(built: &str) -> &str {
    if built.is_empty() {
        ":"
    } else {
        built
    }
}

enum Mode<'a> {
    Encrypt {
        key: &'a DataKey,
        stash: Option<&'a IvStash>,
    },
    Decrypt {
        key: &'a DataKey,
        stash: Option<&'a mut IvStash>,
    },
}

/// One depth-first pass over the documents in sops's walk order, encrypting or decrypting
/// the selected leaves and hashing the MAC input.
struct Walk<'a> {
    selector: &'a Selector,
    mac_only: bool,
    hasher: Sha512,
    stack: CommentStack,
    path: Vec<String>,
    /// The AAD of `path` (`a:b:`), kept up to date as keys are entered and left.
    aad: String,
    mode: Mode<'a>,
    warnings: Vec<String>,
}

#[derive(Debug)]
enum WalkError {
    Cipher(String, CipherError),
}

impl<'a> Walk<'a> {
    fn new(selector: &'a Selector, mac_only: bool, mode: Mode<'a>) -> Self {
        let mut hasher = Sha512::new();
        if mac_only {
            hasher.update(mac_only_prefix());
        }
        Walk {
            selector,
            mac_only,
            hasher,
            stack: CommentStack::default(),
            path: Vec::new(),
            aad: String::new(),
            mode,
            warnings: Vec::new(),
        }
    }

    fn hash(&mut self, v: &Value) {
        if let Some((bytes, _)) = cipher::plaintext_of(v) {
            self.hasher.update(&bytes[..]);
        }
    }

    fn map(&mut self, m: &mut Map) -> Result<(), WalkError> {
        self.stack.push_level();
        for item in &mut m.0 {
            match item {
                Item::Comment(c) => {
                    self.stack.add(c);
                    if self.selector.should_encrypt(&self.path, &self.stack, true) {
                        self.comment(c)?;
                    }
                }
                Item::Entry(k, v) => {
                    // The key is moved into the path and back (no copy per entry).
                    let mark = self.aad.len();
                    self.aad.push_str(k);
                    self.aad.push(':');
                    self.path.push(std::mem::take(k));
                    let r = self.value(v);
                    *k = self.path.pop().unwrap_or_default();
                    self.aad.truncate(mark);
                    r?;
                    self.stack.clear_level();
                }
            }
        }
        self.stack.pop_level();
        Ok(())
    }

    /// A mapping comment selected for encryption.
    fn comment(&mut self, c: &mut String) -> Result<(), WalkError> {
        let aad = current_aad(&self.aad).to_owned();
        match &mut self.mode {
            Mode::Encrypt { key, stash } => {
                let enc = cipher::encrypt_value(key, &Value::Comment(c.clone()), &aad, *stash)
                    .map_err(|e| WalkError::Cipher(aad.clone(), e))?;
                c.zeroize();
                *c = enc;
            }
            Mode::Decrypt { key, stash } => {
                if cipher::is_encrypted(c) {
                    match cipher::decrypt_value(key, c, &aad, stash.as_deref_mut()) {
                        Ok(Value::Comment(p)) => *c = p,
                        _ => self.warnings.push(format!(
                            "a comment under `{aad}` could not be decrypted and was kept as it is"
                        )),
                    }
                }
            }
        }
        Ok(())
    }

    fn value(&mut self, v: &mut Value) -> Result<(), WalkError> {
        match v {
            Value::Map(m) => self.map(m),
            Value::Seq(items) => {
                self.stack.push_level();
                for e in items.iter_mut() {
                    if let Value::Comment(c) = e {
                        self.stack.add(c);
                        let enc = self.selector.should_encrypt(&self.path, &self.stack, true);
                        if enc {
                            if let Mode::Encrypt { key, stash } = &self.mode {
                                let aad = current_aad(&self.aad).to_owned();
                                // In a sequence an encrypted comment is stored as a string element.
                                let s = cipher::encrypt_value(key, e, &aad, *stash)
                                    .map_err(|err| WalkError::Cipher(aad.clone(), err))?;
                                e.zeroize();
                                *e = Value::Str(s);
                            } else if let Value::Comment(c) = e {
                                // An encrypted comment element (sops writes one when a list
                                // item's mapping starts with a comment: it is read back as the
                                // list's comment); sops decrypts it where it finds it.
                                self.comment(c)?;
                            }
                        }
                    } else {
                        self.value(e)?;
                        self.stack.clear_level();
                    }
                }
                self.stack.pop_level();
                Ok(())
            }
            Value::Null => Ok(()),
            Value::Comment(_) => Ok(()),
            _ => self.leaf(v),
        }
    }

    fn leaf(&mut self, v: &mut Value) -> Result<(), WalkError> {
        // Borrowed out of `self` for the call (no AAD string per value), then put back.
        let aad = std::mem::take(&mut self.aad);
        let r = self.leaf_with_aad(v, current_aad(&aad));
        self.aad = aad;
        r
    }

    fn leaf_with_aad(&mut self, v: &mut Value, aad: &str) -> Result<(), WalkError> {
        let encrypt = self.selector.should_encrypt(&self.path, &self.stack, false);
        match &mut self.mode {
            Mode::Encrypt { key, stash } => {
                let (key, stash) = (*key, *stash);
                if encrypt || !self.mac_only {
                    self.hash(v);
                }
                if encrypt {
                    let s = cipher::encrypt_value(key, v, aad, stash)
                        .map_err(|e| WalkError::Cipher(aad.to_owned(), e))?;
                    v.zeroize();
                    *v = Value::Str(s);
                }
            }
            Mode::Decrypt { key, stash } => {
                if encrypt {
                    let Value::Str(s) = &*v else {
                        return Err(WalkError::Cipher(aad.to_owned(), CipherError::NotEncrypted));
                    };
                    let plain = cipher::decrypt_value(key, s, aad, stash.as_deref_mut())
                        .map_err(|e| WalkError::Cipher(aad.to_owned(), e))?;
                    *v = plain;
                    if !matches!(v, Value::Comment(_)) {
                        self.hash(v);
                    }
                } else if !self.mac_only {
                    self.hash(v);
                }
            }
        }
        Ok(())
    }

    fn digest_hex(self) -> String {
        let d = self.hasher.finalize();
        let mut s = String::with_capacity(128);
        for b in d {
            s.push_str(&format!("{b:02X}"));
        }
        s
    }
}

/// Encrypts plaintext documents for the given recipients with a fresh data key.
pub fn encrypt(
    mut branches: Vec<Map>,
    opts: &EncryptOptions,
) -> Result<EncryptedFile, EncryptError> {
    // The plaintext is wiped whatever happens: by the walk as it is encrypted, here on refusal.
    let prepared = prepare_encryption(&branches, opts);
    match prepared {
        Ok((metadata, data_key)) => seal_document(branches, metadata, &data_key, None),
        Err(e) => {
            wipe(&mut branches);
            Err(e)
        }
    }
}

fn wipe(branches: &mut [Map]) {
    for b in branches {
        b.zeroize();
    }
}

/// The checks, data key and metadata of [`encrypt`], before any value is touched.
fn prepare_encryption(
    branches: &[Map],
    opts: &EncryptOptions,
) -> Result<(Metadata, DataKey), EncryptError> {
    if branches.is_empty() {
        return Err(StoreError::Empty.into());
    }
    if branches.iter().any(|b| b.get("sops").is_some()) {
        return Err(StoreError::AlreadyEncrypted.into());
    }
    let groups: Vec<&Vec<Recipient>> = opts.key_groups.iter().filter(|g| !g.is_empty()).collect();
    if groups.is_empty() {
        return Err(EncryptError::NoRecipients);
    }
    let data_key = DataKey::generate().map_err(|e| EncryptError::Value {
        path: String::new(),
        source: e,
    })?;
    let mut threshold = opts.shamir_threshold;
    if groups.len() > 1 && threshold == 0 {
        threshold = groups.len();
    }
    let key_groups = wrap_groups(&data_key, &groups, threshold)?;
    let metadata = Metadata {
        key_groups,
        shamir_threshold: threshold,
        lastmodified: String::new(),
        mac: String::new(),
        selector: if opts.binary {
            None
        } else {
            Some(opts.selector.clone().unwrap_or_default())
        },
        mac_only_encrypted: opts.mac_only_encrypted && !opts.binary,
        version: SOPS_VERSION.into(),
    };
    Ok((metadata, data_key))
}

/// Key groups are rebuilt from age recipients only; a file that also carries pgp/kms/vault
/// keys would silently lose them, so refuse instead.
fn refuse_non_age(metadata: &Metadata) -> Result<(), EncryptError> {
    let others: Vec<&str> = metadata
        .key_groups
        .iter()
        .flat_map(|g| {
            g.others
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(t, _)| t.as_str())
        })
        .collect();
    if others.is_empty() {
        Ok(())
    } else {
        Err(EncryptError::Unsafe(format!(
            "this file also has {} keys, which ccsecrets cannot re-wrap; changing its key groups would drop them \
             (use sops for this file, or remove those keys first)",
            others.join(", ")
        )))
    }
}

/// Wraps the data key (or its Shamir shares) for every recipient of every group.
fn wrap_groups(
    data_key: &DataKey,
    groups: &[&Vec<Recipient>],
    threshold: usize,
) -> Result<Vec<KeyGroup>, EncryptError> {
    let shares = if groups.len() > 1 {
        shamir::split(data_key.expose(), groups.len(), threshold)?
    } else {
        vec![zeroize::Zeroizing::new(data_key.expose().to_vec())]
    };
    groups
        .iter()
        .zip(shares.iter())
        .map(|(g, share)| {
            Ok(KeyGroup {
                age: g
                    .iter()
                    .map(|r| {
                        Ok(AgeKey {
                            recipient: r.as_str().to_owned(),
                            enc: keys::wrap(share, r)?,
                        })
                    })
                    .collect::<Result<_, keys::WrapError>>()?,
                others: Vec::new(),
            })
        })
        .collect()
}

/// With a comment rule, sops stores an encrypted comment inside a sequence as a string, which
/// changes how the next element is judged on decryption: the file could not be opened again
/// (getsops/sops#2281). Refuse instead of writing it.
fn check_comment_regex_in_sequences(
    branches: &[Map],
    selector: Option<&Selector>,
) -> Result<(), EncryptError> {
    if !matches!(
        selector,
        Some(Selector::EncryptedCommentRegex(_) | Selector::UnencryptedCommentRegex(_))
    ) {
        return Ok(());
    }
    fn seq_has_comment(v: &Value) -> bool {
        match v {
            Value::Seq(items) => items
                .iter()
                .any(|e| matches!(e, Value::Comment(_)) || seq_has_comment(e)),
            Value::Map(m) => m.entries().any(|(_, v)| seq_has_comment(v)),
            _ => false,
        }
    }
    if branches
        .iter()
        .any(|b| b.entries().any(|(_, v)| seq_has_comment(v)))
    {
        return Err(EncryptError::Unsafe(
            "a comment inside a list cannot be used with a comment-based selection rule: sops would \
             write a file that cannot be decrypted (getsops/sops#2281); move the comment out of the list"
                .into(),
        ));
    }
    Ok(())
}

/// Encrypts the selected leaves, computes and encrypts the MAC, stamps `lastmodified`.
fn seal_document(
    mut branches: Vec<Map>,
    mut metadata: Metadata,
    data_key: &DataKey,
    stash: Option<&IvStash>,
) -> Result<EncryptedFile, EncryptError> {
    if let Err(e) = check_comment_regex_in_sequences(&branches, metadata.selector.as_ref()) {
        wipe(&mut branches);
        return Err(e);
    }
    let selector = metadata.effective_selector();
    let mut walk = Walk::new(
        &selector,
        metadata.mac_only_encrypted,
        Mode::Encrypt {
            key: data_key,
            stash,
        },
    );
    let result = branches.iter_mut().try_for_each(|b| walk.map(b));
    if let Err(WalkError::Cipher(path, source)) = result {
        wipe(&mut branches);
        return Err(EncryptError::Value { path, source });
    }
    let mac = walk.digest_hex();
    let lastmodified = now_rfc3339();
    metadata.mac =
        cipher::encrypt_value(data_key, &Value::Str(mac), &lastmodified, None).map_err(|e| {
            EncryptError::Value {
                path: "sops:mac".into(),
                source: e,
            }
        })?;
    metadata.lastmodified = lastmodified;
    Ok(EncryptedFile { branches, metadata })
}

impl EncryptedFile {
    /// Parses an encrypted file in `format` (binary files are read as their JSON container).
    pub fn parse(bytes: &[u8], format: Format) -> Result<EncryptedFile, DecryptError> {
        let container = store::container_format(format);
        let mut branches = store::parse_encrypted(container, bytes)?;
        let meta_tree = store::split_metadata(&mut branches)?;
        let metadata = Metadata::from_tree(&meta_tree)?;
        Ok(EncryptedFile { branches, metadata })
    }

    /// Emits the file in `format` with the metadata appended to every document.
    pub fn emit(&self, format: Format, opts: &StoreOptions) -> Result<Vec<u8>, StoreError> {
        let container = store::container_format(format);
        let meta = self.metadata.to_tree(container != Format::Yaml);
        store::emit_encrypted_with_metadata(container, &self.branches, &meta, opts)
    }

    /// Recovers the data key with `identities` (any key of a group opens it; with Shamir,
    /// enough groups must open).
    pub fn data_key(&self, identities: &[Identity]) -> Result<DataKey, DecryptError> {
        let groups = &self.metadata.key_groups;
        let no_identity = |opened: Option<(usize, usize)>| DecryptError::NoIdentity {
            recipients: self.metadata.recipients(),
            tried: identities.iter().map(|i| i.public().to_owned()).collect(),
            groups: opened,
        };
        let open_group = |g: &KeyGroup| {
            g.age
                .iter()
                .find_map(|k| keys::unwrap(&k.enc, identities).ok())
        };
        if groups.len() <= 1 {
            let part = groups
                .first()
                .and_then(open_group)
                .ok_or_else(|| no_identity(None))?;
            return DataKey::from_bytes(&part).ok_or_else(|| {
                DecryptError::DataKey(format!("expected 32 bytes, got {}", part.len()))
            });
        }
        let threshold = if self.metadata.shamir_threshold == 0 {
            groups.len()
        } else {
            self.metadata.shamir_threshold
        };
        let parts: Vec<_> = groups.iter().filter_map(open_group).collect();
        if parts.len() < threshold {
            return Err(no_identity(Some((parts.len(), threshold))));
        }
        let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        let key = shamir::combine(&refs).map_err(|e| DecryptError::DataKey(e.to_string()))?;
        DataKey::from_bytes(&key)
            .ok_or_else(|| DecryptError::DataKey(format!("expected 32 bytes, got {}", key.len())))
    }

    /// Decrypts every selected value and verifies the MAC.
    pub fn decrypt(
        &self,
        identities: &[Identity],
        opts: DecryptOptions,
    ) -> Result<PlainFile, DecryptError> {
        let data_key = self.data_key(identities)?;
        self.decrypt_with_key(data_key, opts)
    }

    /// Decrypts with an already recovered data key.
    pub fn decrypt_with_key(
        &self,
        data_key: DataKey,
        opts: DecryptOptions,
    ) -> Result<PlainFile, DecryptError> {
        decrypt_parts(self.branches.clone(), self.metadata.clone(), data_key, opts)
    }

    /// Like [`EncryptedFile::decrypt`], consuming the file: its tree is decrypted where it
    /// is, without a copy (for a one-shot `decrypt` of a large file).
    pub fn into_decrypted(
        self,
        identities: &[Identity],
        opts: DecryptOptions,
    ) -> Result<PlainFile, DecryptError> {
        let data_key = self.data_key(identities)?;
        decrypt_parts(self.branches, self.metadata, data_key, opts)
    }

    /// True when the file counts as encrypted for `sops filestatus`: metadata with a
    /// non-empty `version` and `mac`.
    pub fn is_complete(&self) -> bool {
        !self.metadata.version.is_empty() && !self.metadata.mac.is_empty()
    }
}

/// Decrypts `branches` in place with `data_key` and checks the MAC (unless ignored).
fn decrypt_parts(
    mut branches: Vec<Map>,
    metadata: Metadata,
    data_key: DataKey,
    opts: DecryptOptions,
) -> Result<PlainFile, DecryptError> {
    let selector = metadata.effective_selector();
    let mut stash = IvStash::default();
    let (mac, warnings) = {
        let mut walk = Walk::new(
            &selector,
            metadata.mac_only_encrypted,
            Mode::Decrypt {
                key: &data_key,
                stash: opts.keep_ivs.then_some(&mut stash),
            },
        );
        if let Err(WalkError::Cipher(path, source)) =
            branches.iter_mut().try_for_each(|b| walk.map(b))
        {
            for b in &mut branches {
                b.zeroize();
            }
            return Err(DecryptError::Value { path, source });
        }
        let warnings = std::mem::take(&mut walk.warnings);
        (walk.digest_hex(), warnings)
    };
    let plain = PlainFile {
        branches,
        metadata,
        warnings,
        data_key,
        stash,
    };
    if !opts.ignore_mac {
        plain.verify_mac(&mac)?;
    }
    Ok(plain)
}

impl PlainFile {
    fn verify_mac(&self, computed: &str) -> Result<(), DecryptError> {
        if self.metadata.mac.is_empty() {
            return Err(DecryptError::MacMissing);
        }
        let aad =
            canonical_rfc3339(&self.metadata.lastmodified).ok_or(DecryptError::MacUndecryptable)?;
        let stored = match cipher::decrypt_value(&self.data_key, &self.metadata.mac, &aad, None) {
            Ok(Value::Str(s)) => s,
            _ => return Err(DecryptError::MacUndecryptable),
        };
        // Constant-time comparison of the two hex digests.
        let equal = stored.len() == computed.len()
            && stored
                .bytes()
                .zip(computed.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if equal {
            Ok(())
        } else {
            Err(DecryptError::MacMismatch)
        }
    }

    /// Re-encrypts the (possibly edited) documents with the same data key, reusing the IV of
    /// every value whose path and plaintext did not change, so only changed values, `mac` and
    /// `lastmodified` differ from the original file.
    pub fn reencrypt(&self) -> Result<EncryptedFile, EncryptError> {
        let branches = self.branches.clone();
        seal_document(
            branches,
            self.metadata.clone(),
            &self.data_key,
            Some(&self.stash),
        )
    }

    /// Re-encrypts for new key groups with a **new** data key (every value changes): what
    /// `rotate` and a recipient removal need.
    pub fn rotate(&self, key_groups: &[Vec<Recipient>]) -> Result<EncryptedFile, EncryptError> {
        refuse_non_age(&self.metadata)?;
        let groups: Vec<&Vec<Recipient>> = key_groups.iter().filter(|g| !g.is_empty()).collect();
        if groups.is_empty() {
            return Err(EncryptError::NoRecipients);
        }
        let data_key = DataKey::generate().map_err(|e| EncryptError::Value {
            path: String::new(),
            source: e,
        })?;
        let mut metadata = self.metadata.clone();
        let threshold = if groups.len() > 1 {
            match metadata.shamir_threshold {
                0 => groups.len(),
                t => t.min(groups.len()),
            }
        } else {
            metadata.shamir_threshold
        };
        metadata.shamir_threshold = threshold;
        metadata.key_groups = wrap_groups(&data_key, &groups, threshold)?;
        seal_document(self.branches.clone(), metadata, &data_key, None)
    }
}

/// How the recipients of a file change, group by group (keys compared by their text).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyDiff {
    /// `(group index, recipient)` pairs added.
    pub added: Vec<(usize, String)>,
    /// `(group index, recipient)` pairs removed.
    pub removed: Vec<(usize, String)>,
}

impl KeyDiff {
    /// True when nothing changes.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// The result of bringing a file to a set of key groups.
#[non_exhaustive]
pub enum KeyUpdate {
    /// The file already has exactly these recipients.
    Unchanged,
    /// Recipients were only added: the same data key is wrapped for the new groups; values,
    /// MAC and `lastmodified` are unchanged (as `sops updatekeys`).
    Rewrapped(EncryptedFile),
    /// A recipient was removed: a new data key was generated and every value re-encrypted,
    /// so the removed key cannot open this or any later version.
    Rotated(EncryptedFile),
}

impl EncryptedFile {
    /// The recipient diff from this file's groups to `groups`.
    pub fn key_diff(&self, groups: &[Vec<Recipient>]) -> KeyDiff {
        let mut diff = KeyDiff::default();
        let n = self.metadata.key_groups.len().max(groups.len());
        for i in 0..n {
            let old: Vec<&str> = self
                .metadata
                .key_groups
                .get(i)
                .map(|g| g.age.iter().map(|k| k.recipient.as_str()).collect())
                .unwrap_or_default();
            let new: Vec<&str> = groups
                .get(i)
                .map(|g| g.iter().map(|r| r.as_str()).collect())
                .unwrap_or_default();
            diff.added.extend(
                new.iter()
                    .filter(|r| !old.contains(r))
                    .map(|r| (i, r.to_string())),
            );
            diff.removed.extend(
                old.iter()
                    .filter(|r| !new.contains(r))
                    .map(|r| (i, r.to_string())),
            );
        }
        diff
    }

    /// Wraps `data_key` for new key groups, keeping every value, the MAC and `lastmodified`.
    /// The file's Shamir threshold is kept, capped at the number of groups.
    pub fn rewrap(
        &self,
        data_key: &DataKey,
        groups: &[Vec<Recipient>],
    ) -> Result<EncryptedFile, EncryptError> {
        refuse_non_age(&self.metadata)?;
        let groups: Vec<&Vec<Recipient>> = groups.iter().filter(|g| !g.is_empty()).collect();
        if groups.is_empty() {
            return Err(EncryptError::NoRecipients);
        }
        let mut metadata = self.metadata.clone();
        if groups.len() > 1 {
            metadata.shamir_threshold = match metadata.shamir_threshold {
                0 => groups.len(),
                t => t.min(groups.len()),
            };
        }
        metadata.key_groups = wrap_groups(data_key, &groups, metadata.shamir_threshold)?;
        Ok(EncryptedFile {
            branches: self.branches.clone(),
            metadata,
        })
    }

    /// Brings the file to exactly `groups`: re-wraps the data key when recipients were only
    /// added, rotates it (new data key, all values re-encrypted, MAC verified first) when any
    /// recipient was removed.
    pub fn update_keys(
        &self,
        identities: &[Identity],
        groups: &[Vec<Recipient>],
    ) -> Result<(KeyDiff, KeyUpdate), UpdateKeysError> {
        let diff = self.key_diff(groups);
        if diff.is_empty() {
            return Ok((diff, KeyUpdate::Unchanged));
        }
        if diff.removed.is_empty() {
            let key = self.data_key(identities)?;
            return Ok((diff, KeyUpdate::Rewrapped(self.rewrap(&key, groups)?)));
        }
        let plain = self.decrypt(identities, DecryptOptions::default())?;
        Ok((diff, KeyUpdate::Rotated(plain.rotate(groups)?)))
    }
}

/// Why a file's keys could not be updated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateKeysError {
    /// The file could not be opened or verified.
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    /// The new groups could not be written.
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Map {
        let mut inner = Map::new();
        inner.push("port", Value::Int(5432));
        inner.push("password", Value::Str("s3cret".into()));
        inner.0.push(Item::Comment(" trailing note".into()));
        let mut m = Map::new();
        m.0.push(Item::Comment(" header".into()));
        m.push("db", Value::Map(inner));
        m.push(
            "list",
            Value::Seq(vec![
                Value::Str("a".into()),
                Value::Comment(" in list".into()),
                Value::Float(1.5),
                Value::Null,
                Value::Bool(true),
            ]),
        );
        m.push("empty", Value::Str(String::new()));
        m.push("note_unencrypted", Value::Str("visible".into()));
        m
    }

    fn opts(r: &Recipient) -> EncryptOptions {
        EncryptOptions {
            key_groups: vec![vec![r.clone()]],
            ..Default::default()
        }
    }

    #[test]
    fn round_trip_and_selection() {
        let (id, _s) = Identity::generate();
        let r: Recipient = id.public().parse().unwrap();
        let enc = encrypt(vec![sample()], &opts(&r)).unwrap();
        let b = &enc.branches[0];
        assert_eq!(
            b.get("note_unencrypted"),
            Some(&Value::Str("visible".into()))
        );
        assert_eq!(b.get("empty"), Some(&Value::Str(String::new())));
        assert!(cipher::is_encrypted(
            b.get("db")
                .unwrap()
                .as_map()
                .unwrap()
                .get("password")
                .unwrap()
                .as_str()
                .unwrap()
        ));
        let list = b.get("list").unwrap().as_seq().unwrap();
        assert!(
            cipher::is_encrypted(list[1].as_str().unwrap()),
            "list comment stored as ENC string"
        );
        assert_eq!(list[3], Value::Null);
        let plain = enc.decrypt(&[id], DecryptOptions::default()).unwrap();
        assert_eq!(plain.branches, vec![sample()]);
    }

    #[test]
    fn reencrypt_keeps_unchanged_ciphertexts() {
        let (id, _s) = Identity::generate();
        let r: Recipient = id.public().parse().unwrap();
        let enc = encrypt(vec![sample()], &opts(&r)).unwrap();
        let keep = DecryptOptions {
            keep_ivs: true,
            ..Default::default()
        };
        let mut plain = enc.decrypt(&[id], keep).unwrap();
        let again = plain.reencrypt().unwrap();
        assert_eq!(again.branches, enc.branches);
        if let Some(Value::Map(db)) = plain.branches[0].get_mut("db") {
            *db.get_mut("port").unwrap() = Value::Int(5433);
        }
        let changed = plain.reencrypt().unwrap();
        let port = |f: &EncryptedFile| {
            f.branches[0]
                .get("db")
                .unwrap()
                .as_map()
                .unwrap()
                .get("port")
                .cloned()
        };
        let pw = |f: &EncryptedFile| {
            f.branches[0]
                .get("db")
                .unwrap()
                .as_map()
                .unwrap()
                .get("password")
                .cloned()
        };
        assert_ne!(port(&changed), port(&enc));
        assert_eq!(pw(&changed), pw(&enc));
    }

    #[test]
    fn tampering_is_detected() {
        let (id, _s) = Identity::generate();
        let r: Recipient = id.public().parse().unwrap();
        let enc = encrypt(vec![sample()], &opts(&r)).unwrap();
        // Changing an unencrypted value breaks the MAC.
        let mut t = enc.clone();
        *t.branches[0].get_mut("note_unencrypted").unwrap() = Value::Str("changed".into());
        let (stranger, _) = Identity::generate();
        assert!(matches!(
            t.decrypt(&[stranger], DecryptOptions::default()),
            Err(DecryptError::NoIdentity { .. })
        ));
        let plain_err = t.decrypt(&[id], DecryptOptions::default()).err().unwrap();
        assert!(
            matches!(plain_err, DecryptError::MacMismatch),
            "{plain_err:?}"
        );
    }

    #[test]
    fn shamir_groups_need_threshold() {
        let ids: Vec<(Identity, _)> = (0..3).map(|_| Identity::generate()).collect();
        let groups: Vec<Vec<Recipient>> = ids
            .iter()
            .map(|(i, _)| vec![i.public().parse().unwrap()])
            .collect();
        let enc = encrypt(
            vec![sample()],
            &EncryptOptions {
                key_groups: groups,
                shamir_threshold: 2,
                ..Default::default()
            },
        )
        .unwrap();
        let mut ids: Vec<Identity> = ids.into_iter().map(|(i, _)| i).collect();
        let third = ids.pop().unwrap();
        let second = ids.pop().unwrap();
        assert!(matches!(
            enc.decrypt(&[third], DecryptOptions::default()),
            Err(DecryptError::NoIdentity {
                groups: Some((1, 2)),
                ..
            })
        ));
        ids.push(second);
        assert!(enc.decrypt(&ids, DecryptOptions::default()).is_ok());
    }

    #[test]
    fn update_keys_rewraps_on_add_and_rotates_on_remove() {
        let (a, _) = Identity::generate();
        let (b, _) = Identity::generate();
        let ra: Recipient = a.public().parse().unwrap();
        let rb: Recipient = b.public().parse().unwrap();
        let enc = encrypt(vec![sample()], &opts(&ra)).unwrap();
        let ids = [a];
        let (diff, up) = enc
            .update_keys(&ids, &[vec![ra.clone(), rb.clone()]])
            .unwrap();
        assert_eq!(diff.added, vec![(0, rb.as_str().to_owned())]);
        let KeyUpdate::Rewrapped(added) = up else {
            panic!("expected a rewrap")
        };
        assert_eq!(added.branches, enc.branches, "values unchanged");
        assert_eq!(added.metadata.mac, enc.metadata.mac);
        let (diff, up) = added.update_keys(&ids, &[vec![rb.clone()]]).unwrap();
        assert_eq!(diff.removed, vec![(0, ra.as_str().to_owned())]);
        let KeyUpdate::Rotated(rotated) = up else {
            panic!("expected a rotation")
        };
        assert_ne!(
            rotated.branches, enc.branches,
            "new data key re-encrypts every value"
        );
        assert!(matches!(
            rotated.decrypt(&ids, DecryptOptions::default()),
            Err(DecryptError::NoIdentity { .. })
        ));
        assert_eq!(
            rotated
                .decrypt(&[b], DecryptOptions::default())
                .unwrap()
                .branches,
            vec![sample()]
        );
        let (_, up) = rotated.update_keys(&[], &[vec![rb]]).unwrap();
        assert!(matches!(up, KeyUpdate::Unchanged));
    }
}
