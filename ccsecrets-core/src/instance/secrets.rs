//! The instance's secret set as types: what `secrets/secrets.yaml` holds once decrypted, and
//! where each secret is installed on the host.
//!
//! ```yaml
//! tls:      { fullchain: <PEM, leaf first>, privkey: <PEM> }
//! drone:    { oauth_client_id: …, oauth_client_secret: …, rpc_secret: <32 hex> }
//! webhook:  { hmac: <64 hex> }
//! registry: { LABEL: { host: registry.example.org, username: …, password: … }, … }  # optional
//! extra:    { NAME: value, … }                                                        # optional
//! ```
//!
//! `registry` is keyed by a label of your choosing (`ghcr`, `internal`) so that sops-nix can
//! address each credential (`registry/ghcr/password`). The older list form
//! (`registry: [ { host: …, username: …, password: … } ]`) is still read and installed, but
//! sops-nix cannot declare list items, so `ccsecrets nix` refuses it:
//!
//! ```yaml
//! registry: { ghcr: { host: ghcr.io, username: ci-bot, password: … } }
//! ```
//!
//! Any other top-level key is refused, so that a typo (`webhok:`) is caught rather than
//! silently ignored; an instance's own secrets go under `extra:`.
//!
//! Values are held in [`SecretValue`]s: wiped on drop, with no `Debug`, `Display` or
//! serialisation. Messages name keys, kinds and lengths, never values.

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::PLACEHOLDER_PREFIX;
use crate::sops::tree::{Map, Value};

/// A secret value: wiped on drop, never printed.
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    /// Wraps a value.
    pub fn new(value: String) -> Self {
        SecretValue(Zeroizing::new(value))
    }

    /// The plaintext. Do not print it, log it or write it anywhere but its install target.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its length in bytes (safe to print).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True while the value still holds the placeholder `ccsecrets init` writes
    /// ([`PLACEHOLDER_PREFIX`]).
    pub fn is_placeholder(&self) -> bool {
        self.0.starts_with(PLACEHOLDER_PREFIX)
    }
}

/// Where a secret is installed on the host, and what consumes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallTarget {
    /// Absolute path of the file on the host.
    pub path: PathBuf,
    /// File owner.
    pub owner: String,
    /// File group.
    pub group: String,
    /// Permission bits (`0o400`).
    pub mode: u32,
    /// systemd units restarted when the value changes.
    pub restart_units: Vec<String>,
}

/// Where the wildcard certificate chain goes (the plan's path; Traefik reads it).
pub const TLS_FULLCHAIN_PATH: &str = "/var/lib/ci-certs/live/fullchain.pem";
/// Where the certificate's private key goes.
pub const TLS_PRIVKEY_PATH: &str = "/var/lib/ci-certs/live/privkey.pem";
/// Where every other secret goes: `/run/secrets/` + its sops-nix key (`drone/rpc_secret`),
/// sops-nix's own default.
pub const RUN_SECRETS_DIR: &str = "/run/secrets";

impl InstallTarget {
    /// The default target of the secret named `name` (`tls.fullchain`, `drone.rpc_secret`,
    /// `registry[0].password`, `extra.NAME`): see `docs/secrets.md` for the table.
    pub fn default_for(name: &str) -> InstallTarget {
        let root = |mode: u32, units: &[&str]| InstallTarget {
            path: PathBuf::from(RUN_SECRETS_DIR).join(sops_nix_key(name)),
            owner: "root".into(),
            group: "root".into(),
            mode,
            restart_units: units.iter().map(|u| u.to_string()).collect(),
        };
        match name {
            "tls.fullchain" => InstallTarget {
                path: TLS_FULLCHAIN_PATH.into(),
                ..root(0o444, &["cc-ci-proxy.service"])
            },
            "tls.privkey" => InstallTarget {
                path: TLS_PRIVKEY_PATH.into(),
                ..root(0o400, &["cc-ci-proxy.service"])
            },
            n if n.starts_with("drone.") => root(0o400, &["cc-ci-drone.service"]),
            n if n.starts_with("webhook.") => root(0o400, &["cc-ci-bridge.service"]),
            n if n.starts_with("registry[") || n.starts_with("registry.") => {
                root(0o400, &["cc-ci-drone.service"])
            }
            _ => root(0o400, &[]),
        }
    }
}

/// The sops-nix key of a secret: its path in `secrets.yaml` joined by `/`
/// (`drone.rpc_secret` → `drone/rpc_secret`, `registry.ghcr.password` →
/// `registry/ghcr/password`, `registry[0].password` → `registry/0/password`).
pub fn sops_nix_key(name: &str) -> String {
    name.replace("].", "/").replace(['[', '.'], "/")
}

/// One secret: its name (`drone.rpc_secret`), value and install target.
pub struct Secret {
    /// The dotted path in `secrets.yaml` (`tls.fullchain`, `registry[0].password`).
    pub name: String,
    /// The value.
    pub value: SecretValue,
    /// Where it is installed.
    pub target: InstallTarget,
}

impl Secret {
    /// A secret with its default install target.
    pub fn new(name: impl Into<String>, value: String) -> Secret {
        let name = name.into();
        let target = InstallTarget::default_for(&name);
        Secret {
            name,
            value: SecretValue::new(value),
            target,
        }
    }
}

// Never the value: the name, the length and the target.
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("name", &self.name)
            .field("len", &self.value.len())
            .field("target", &self.target)
            .finish()
    }
}

/// The wildcard certificate and its key.
#[derive(Debug)]
pub struct Tls {
    /// PEM certificates, leaf first, then the intermediates.
    pub fullchain: Secret,
    /// PEM private key of the leaf (PKCS#8, SEC1 or PKCS#1).
    pub privkey: Secret,
}

/// Drone CI's secrets.
#[derive(Debug)]
pub struct Drone {
    /// OAuth application client id (at the forge).
    pub oauth_client_id: Secret,
    /// OAuth application client secret.
    pub oauth_client_secret: Secret,
    /// Shared secret between the Drone server and its runners.
    pub rpc_secret: Secret,
}

/// The forge webhook's secret.
#[derive(Debug)]
pub struct Webhook {
    /// HMAC key that signs webhook deliveries.
    pub hmac: Secret,
}

/// Credentials for one container registry.
#[derive(Debug)]
pub struct RegistryCredential {
    /// Its place in `secrets.yaml`: `registry.LABEL` (or `registry[N]` in the list form).
    pub name: String,
    /// The registry host (`registry.example.org`, `host:5000`); not a secret.
    pub host: String,
    /// User name.
    pub username: Secret,
    /// Password or token.
    pub password: Secret,
}

/// The instance's whole secret set.
#[derive(Debug)]
pub struct SecretSet {
    /// `tls`.
    pub tls: Tls,
    /// `drone`.
    pub drone: Drone,
    /// `webhook`.
    pub webhook: Webhook,
    /// `registry` (may be empty).
    pub registry: Vec<RegistryCredential>,
    /// `extra`: an instance's own secrets, named `extra.NAME`.
    pub extra: Vec<Secret>,
}

/// The top-level keys of `secrets.yaml`.
pub const TOP_LEVEL_KEYS: [&str; 5] = ["tls", "drone", "webhook", "registry", "extra"];

/// What is wrong with one key of the decrypted document. Never holds a value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyProblem {
    /// A required key is absent (or `null`).
    Missing {
        /// The dotted key (`drone.rpc_secret`).
        key: String,
    },
    /// A key holds the wrong kind of value.
    WrongType {
        /// The dotted key.
        key: String,
        /// What was expected (`string`, `mapping`, `sequence`).
        expected: &'static str,
        /// What was found (a kind, never the value).
        found: &'static str,
    },
    /// A key the model does not know.
    Unknown {
        /// The dotted key.
        key: String,
    },
}

impl KeyProblem {
    /// The dotted key the problem is about.
    pub fn key(&self) -> &str {
        match self {
            KeyProblem::Missing { key }
            | KeyProblem::WrongType { key, .. }
            | KeyProblem::Unknown { key } => key,
        }
    }
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::Missing { key } => write!(f, "`{key}` is missing"),
            KeyProblem::WrongType {
                key,
                expected,
                found,
            } => {
                write!(
                    f,
                    "`{key}` must be a {expected}, found {} {found}",
                    article(found)
                )?;
                if *expected == "string" && matches!(*found, "integer" | "float" | "boolean") {
                    f.write_str(" (quote it)")?;
                }
                Ok(())
            }
            KeyProblem::Unknown { key } if !key.contains(['.', '[']) => write!(
                f,
                "unknown key `{key}` (expected {}; an instance's own secrets go under `extra:`)",
                TOP_LEVEL_KEYS.join(", ")
            ),
            KeyProblem::Unknown { key } => write!(f, "unknown key `{key}`"),
        }
    }
}

/// Why a decrypted document is not a secret set: every problem found, not just the first.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretSetError {
    /// Keys are missing, mistyped or unknown.
    #[error("secrets file does not match the instance model: {}", join(.0))]
    Keys(Vec<KeyProblem>),
    /// The file has more than one YAML document.
    #[error("secrets file must hold exactly one document, found {0}")]
    Documents(usize),
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn join(problems: &[KeyProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

struct Reader {
    problems: Vec<KeyProblem>,
}

impl Reader {
    fn map<'a>(&mut self, parent: &'a Map, key: &str, full: &str) -> Option<&'a Map> {
        match parent.get(key) {
            None | Some(Value::Null) => {
                self.problems.push(KeyProblem::Missing { key: full.into() });
                None
            }
            Some(Value::Map(m)) => Some(m),
            Some(other) => {
                self.wrong(full, "mapping", other);
                None
            }
        }
    }

    fn string(&mut self, parent: Option<&Map>, key: &str, full: &str) -> Option<String> {
        match parent?.get(key) {
            None | Some(Value::Null) => {
                self.problems.push(KeyProblem::Missing { key: full.into() });
                None
            }
            Some(Value::Str(s)) => Some(s.clone()),
            Some(other) => {
                self.wrong(full, "string", other);
                None
            }
        }
    }

    fn secret(&mut self, parent: Option<&Map>, key: &str, full: &str) -> Option<Secret> {
        self.string(parent, key, full).map(|v| Secret::new(full, v))
    }

    fn wrong(&mut self, key: &str, expected: &'static str, found: &Value) {
        self.problems.push(KeyProblem::WrongType {
            key: key.into(),
            expected,
            found: found.kind(),
        });
    }

    fn only(&mut self, map: Option<&Map>, prefix: &str, known: &[&str]) {
        for (k, _) in map.into_iter().flat_map(Map::entries) {
            if !known.contains(&k) {
                self.problems.push(KeyProblem::Unknown {
                    key: format!("{prefix}{k}"),
                });
            }
        }
    }
}

impl SecretSet {
    /// Builds the set from the decrypted documents of `secrets.yaml` (exactly one).
    pub fn from_documents(branches: &[Map]) -> Result<SecretSet, SecretSetError> {
        match branches {
            [one] => SecretSet::from_map(one),
            other => Err(SecretSetError::Documents(other.len())),
        }
    }

    /// Builds the set from a decrypted document. Reports every missing, mistyped or unknown
    /// key at once.
    pub fn from_map(doc: &Map) -> Result<SecretSet, SecretSetError> {
        let mut r = Reader {
            problems: Vec::new(),
        };
        r.only(Some(doc), "", &TOP_LEVEL_KEYS);

        let tls = r.map(doc, "tls", "tls");
        r.only(tls, "tls.", &["fullchain", "privkey"]);
        let fullchain = r.secret(tls, "fullchain", "tls.fullchain");
        let privkey = r.secret(tls, "privkey", "tls.privkey");

        let drone = r.map(doc, "drone", "drone");
        r.only(
            drone,
            "drone.",
            &["oauth_client_id", "oauth_client_secret", "rpc_secret"],
        );
        let client_id = r.secret(drone, "oauth_client_id", "drone.oauth_client_id");
        let client_secret = r.secret(drone, "oauth_client_secret", "drone.oauth_client_secret");
        let rpc = r.secret(drone, "rpc_secret", "drone.rpc_secret");

        let webhook = r.map(doc, "webhook", "webhook");
        r.only(webhook, "webhook.", &["hmac"]);
        let hmac = r.secret(webhook, "hmac", "webhook.hmac");

        let mut registry = Vec::new();
        let mut credential = |r: &mut Reader, name: String, item: &Value| {
            let Value::Map(m) = item else {
                r.wrong(&name, "mapping", item);
                return;
            };
            r.only(
                Some(m),
                &format!("{name}."),
                &["host", "username", "password"],
            );
            let host = r.string(Some(m), "host", &format!("{name}.host"));
            let user = r.secret(Some(m), "username", &format!("{name}.username"));
            let pass = r.secret(Some(m), "password", &format!("{name}.password"));
            if let (Some(host), Some(username), Some(password)) = (host, user, pass) {
                registry.push(RegistryCredential {
                    name,
                    host,
                    username,
                    password,
                });
            }
        };
        match doc.get("registry") {
            // Absent or null: no credentials; most instances need none.
            None | Some(Value::Null) => {}
            Some(Value::Map(m)) => {
                for (label, item) in m.entries() {
                    credential(&mut r, format!("registry.{label}"), item);
                }
            }
            Some(Value::Seq(items)) => {
                let entries = items.iter().filter(|v| !matches!(v, Value::Comment(_)));
                for (i, item) in entries.enumerate() {
                    credential(&mut r, format!("registry[{i}]"), item);
                }
            }
            Some(other) => r.wrong("registry", "mapping", other),
        }

        let mut extra = Vec::new();
        match doc.get("extra") {
            None | Some(Value::Null) => {}
            Some(Value::Map(m)) => {
                for (k, v) in m.entries() {
                    let name = format!("extra.{k}");
                    match v {
                        Value::Str(s) => extra.push(Secret::new(name, s.clone())),
                        other => r.wrong(&name, "string", other),
                    }
                }
            }
            Some(other) => r.wrong("extra", "mapping", other),
        }

        match (fullchain, privkey, client_id, client_secret, rpc, hmac) {
            (
                Some(fullchain),
                Some(privkey),
                Some(oauth_client_id),
                Some(oauth_client_secret),
                Some(rpc_secret),
                Some(hmac),
            ) if r.problems.is_empty() => Ok(SecretSet {
                tls: Tls { fullchain, privkey },
                drone: Drone {
                    oauth_client_id,
                    oauth_client_secret,
                    rpc_secret,
                },
                webhook: Webhook { hmac },
                registry,
                extra,
            }),
            _ => Err(SecretSetError::Keys(r.problems)),
        }
    }

    /// Every secret in a stable order: tls, drone, webhook, registry, extra.
    pub fn secrets(&self) -> Vec<&Secret> {
        let mut all = vec![
            &self.tls.fullchain,
            &self.tls.privkey,
            &self.drone.oauth_client_id,
            &self.drone.oauth_client_secret,
            &self.drone.rpc_secret,
            &self.webhook.hmac,
        ];
        for r in &self.registry {
            all.push(&r.username);
            all.push(&r.password);
        }
        all.extend(self.extra.iter());
        all
    }

    /// Every secret, mutable (to change install targets).
    pub fn secrets_mut(&mut self) -> Vec<&mut Secret> {
        let mut all = vec![
            &mut self.tls.fullchain,
            &mut self.tls.privkey,
            &mut self.drone.oauth_client_id,
            &mut self.drone.oauth_client_secret,
            &mut self.drone.rpc_secret,
            &mut self.webhook.hmac,
        ];
        for r in &mut self.registry {
            all.push(&mut r.username);
            all.push(&mut r.password);
        }
        all.extend(self.extra.iter_mut());
        all
    }
}
