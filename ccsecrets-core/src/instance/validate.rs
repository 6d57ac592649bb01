//! Validation of a decrypted [`SecretSet`]: findings that name secrets, fingerprints, dates
//! and lengths — never a value.

use std::fmt;
use std::time::SystemTime;

use super::cert::{self, CertInfo};
use super::facts::is_dns_name;
use super::secrets::{KeyProblem, Secret, SecretSet, SecretSetError};
use super::PLACEHOLDER_PREFIX;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; does not fail `validate`.
    Warning,
    /// The instance must not be deployed like this.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One thing found about one secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The secret's name (`tls.fullchain`, `registry[0].host`).
    pub secret: String,
    /// What is wrong, with names, fingerprints, dates and lengths only.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.secret, self.severity, self.message)
    }
}

/// Default warning window for certificate expiry, in days.
pub const DEFAULT_WARN_DAYS: u32 = 30;
/// Minimum bits of randomness of `drone.rpc_secret` (32 hex characters).
pub const RPC_SECRET_MIN_BITS: f64 = 128.0;
/// Minimum bits of randomness of `webhook.hmac` (64 hex characters).
pub const HMAC_MIN_BITS: f64 = 256.0;

/// What to validate against.
#[derive(Clone, Debug)]
pub struct ValidateOptions {
    /// The instance's domain: the leaf must cover `*.DOMAIN` and `DOMAIN`.
    pub domain: String,
    /// The time to judge expiry at (a parameter, so tests can move the clock).
    pub now: SystemTime,
    /// Warn when a certificate expires within this many days.
    pub warn_days: u32,
}

impl ValidateOptions {
    /// Options for `domain` at `now`, with the default warning window.
    pub fn new(domain: impl Into<String>, now: SystemTime) -> Self {
        ValidateOptions {
            domain: domain.into(),
            now,
            warn_days: DEFAULT_WARN_DAYS,
        }
    }
}

/// The result of a validation.
#[derive(Clone, Debug, Default)]
pub struct Validation {
    /// Every finding, grouped by secret in the model's order.
    pub findings: Vec<Finding>,
    /// The leaf certificate's public facts, when the chain parsed.
    pub leaf: Option<CertInfo>,
    /// The names of the secrets that were checked.
    pub checked: Vec<String>,
}

impl Validation {
    /// True when any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }

    /// How many findings have this severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The findings about one secret.
    pub fn about<'a>(&'a self, secret: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.secret == secret)
    }
}

/// Turns a model error into findings, one per key (so `validate` reports a document that
/// does not fit the model the same way as bad values).
pub fn model_findings(err: &SecretSetError) -> Vec<Finding> {
    match err {
        SecretSetError::Keys(problems) => problems
            .iter()
            .map(|p: &KeyProblem| Finding {
                severity: Severity::Error,
                secret: p.key().to_owned(),
                message: p.to_string(),
            })
            .collect(),
        other => vec![Finding {
            severity: Severity::Error,
            secret: "secrets".into(),
            message: other.to_string(),
        }],
    }
}

/// Validates every secret of the set.
pub fn validate(set: &SecretSet, opts: &ValidateOptions) -> Validation {
    let mut out = Vec::new();
    let now = cert::unix_seconds(opts.now);
    let checked = set.secrets().iter().map(|s| s.name.clone()).collect();

    // A placeholder makes every other check on that secret meaningless.
    for s in set.secrets() {
        if s.value.is_placeholder() {
            let how = if s.name.starts_with("tls.") {
                "install the certificate and key with `ccsecrets cert renew`"
            } else {
                "set the real value with `ccsecrets set`"
            };
            out.push(error(
                &s.name,
                format!(
                    "still holds the `ccsecrets init` placeholder ({PLACEHOLDER_PREFIX}…); {how}"
                ),
            ));
        }
    }
    let real = |s: &Secret| !s.value.is_placeholder();

    let mut leaf = None;
    if real(&set.tls.fullchain) {
        let key = Some(&set.tls.privkey)
            .filter(|k| real(k))
            .map(|k| k.value.expose());
        leaf = cert::check_tls(
            set.tls.fullchain.value.expose(),
            key,
            &opts.domain,
            now,
            opts.warn_days,
            &mut out,
        );
    }
    if real(&set.tls.privkey) && set.tls.privkey.value.expose().trim().is_empty() {
        out.push(error("tls.privkey", "is empty".into()));
    }

    for s in [&set.drone.oauth_client_id, &set.drone.oauth_client_secret] {
        if real(s) && s.value.expose().trim().is_empty() {
            out.push(error(
                &s.name,
                "is empty; register an OAuth application at the forge".into(),
            ));
        }
    }
    for (s, min) in [
        (&set.drone.rpc_secret, RPC_SECRET_MIN_BITS),
        (&set.webhook.hmac, HMAC_MIN_BITS),
    ] {
        if real(s) {
            check_randomness(s, min, &mut out);
        }
    }

    for r in &set.registry {
        match r.name.strip_prefix("registry.") {
            None => out.push(Finding {
                severity: Severity::Warning,
                secret: r.name.clone(),
                message: "is an item of the list form of `registry`, which sops-nix cannot \
                          address; key it by a label: `registry: { LABEL: { host, username, \
                          password } }`"
                    .into(),
            }),
            Some(label) if label.is_empty() || label.contains(['.', '/']) => out.push(error(
                &r.name,
                "a registry label must not be empty or contain `.` or `/` (it is a path \
                 component of the sops-nix key)"
                    .into(),
            )),
            Some(_) => {}
        }
        let name = format!("{}.host", r.name);
        if let Some(why) = host_problem(&r.host) {
            out.push(error(&name, why));
        }
        for s in [&r.username, &r.password] {
            if real(s) && s.value.is_empty() {
                out.push(error(&s.name, "is empty".into()));
            }
        }
    }
    for s in &set.extra {
        if real(s) && s.value.is_empty() {
            out.push(Finding {
                severity: Severity::Warning,
                secret: s.name.clone(),
                message: "is empty".into(),
            });
        }
    }

    // Group by secret, in the model's order (stable within a secret).
    let mut order: Vec<String> = set.secrets().iter().map(|s| s.name.clone()).collect();
    for r in set.registry.iter().rev() {
        let at = order
            .iter()
            .position(|n| *n == format!("{}.username", r.name))
            .unwrap_or(order.len());
        order.insert(at, format!("{}.host", r.name));
        order.insert(at, r.name.clone());
    }
    let rank = |name: &str| order.iter().position(|n| n == name).unwrap_or(order.len());
    out.sort_by_key(|f| rank(&f.secret));
    Validation {
        findings: out,
        leaf,
        checked,
    }
}

fn error(secret: &str, message: String) -> Finding {
    Finding {
        severity: Severity::Error,
        secret: secret.to_owned(),
        message,
    }
}

/// The smallest usual alphabet that holds every character of `s`: its name and size.
pub fn alphabet_of(s: &str) -> (&'static str, u32) {
    let all = |f: fn(char) -> bool| s.chars().all(f);
    if all(|c| c.is_ascii_digit()) {
        ("decimal", 10)
    } else if all(|c| matches!(c, '0'..='9' | 'a'..='f'))
        || all(|c| matches!(c, '0'..='9' | 'A'..='F'))
    {
        ("hex", 16)
    } else if all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        || all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        ("one-case alphanumeric", 36)
    } else if all(|c| c.is_ascii_alphanumeric()) {
        ("alphanumeric", 62)
    } else if all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        || all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '='))
    {
        ("base64", 64)
    } else {
        ("printable", 95)
    }
}

/// Bits of randomness a value can hold at most, judged from its length and alphabet (base64
/// padding not counted).
pub fn estimated_bits(s: &str) -> f64 {
    let (_, size) = alphabet_of(s);
    let len = s.trim_end_matches('=').chars().count();
    len as f64 * f64::from(size).log2()
}

fn check_randomness(s: &Secret, min_bits: f64, out: &mut Vec<Finding>) {
    let v = s.value.expose();
    let (alphabet, size) = alphabet_of(v);
    let bits = estimated_bits(v);
    let len = v.chars().count();
    if bits < min_bits {
        let hex_len = (min_bits / 4.0).ceil() as usize;
        out.push(error(
            &s.name,
            format!(
                "too short: {len} {alphabet} characters give at most {bits:.0} bits, need \
                 {min_bits:.0} ({hex_len} random hex characters, e.g. `openssl rand -hex {}`)",
                hex_len / 2
            ),
        ));
        return;
    }
    // A long but repetitive value (`aaaa…`, `0101…`) is not random.
    let mut distinct: Vec<char> = v.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let need = 8.min(size as usize);
    if distinct.len() < need {
        out.push(error(
            &s.name,
            format!(
                "does not look random: {len} characters but only {} distinct",
                distinct.len()
            ),
        ));
    }
}

/// Why `host` is not a registry host name (`registry.example.org`, `host:5000`), if it is not.
pub fn host_problem(host: &str) -> Option<String> {
    if host.contains("://") {
        return Some(format!(
            "{host:?} has a URL scheme; give the host name only (`registry.example.org`)"
        ));
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    if let Some(p) = port {
        if !p.parse::<u16>().is_ok_and(|p| p > 0) {
            return Some(format!("{host:?} has an invalid port"));
        }
    }
    if !is_dns_name(name) {
        return Some(format!("{host:?} is not a host name"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabets_and_bits() {
        assert_eq!(alphabet_of("0123"), ("decimal", 10));
        assert_eq!(alphabet_of("f5257467204745134b5cfb03e257c8fa"), ("hex", 16));
        assert_eq!(alphabet_of("F525A"), ("hex", 16));
        assert_eq!(alphabet_of("aF525"), ("alphanumeric", 62));
        assert_eq!(alphabet_of("gto_2o4j").0, "base64");
        assert_eq!(alphabet_of("a b!").0, "printable");
        assert_eq!(estimated_bits(&"a".repeat(32)), 128.0);
        assert_eq!(estimated_bits(&"ab".repeat(32)), 256.0);
        assert!(estimated_bits(&"ab".repeat(31)) < HMAC_MIN_BITS);
        // base64 of 32 random bytes: 43 characters + `=`, 258 bits.
        assert!(estimated_bits(&format!("{}=", "A/".repeat(21) + "x")) >= HMAC_MIN_BITS);
    }

    #[test]
    fn registry_hosts() {
        assert_eq!(host_problem("registry.example.org"), None);
        assert_eq!(host_problem("localhost:5000"), None);
        assert!(host_problem("https://r.example.org")
            .unwrap()
            .contains("scheme"));
        assert!(host_problem("r.example.org:0").unwrap().contains("port"));
        assert!(host_problem("r.example.org:http").unwrap().contains("port"));
        assert!(host_problem("not a host").unwrap().contains("not a host"));
        assert!(host_problem("").is_some());
    }
}
