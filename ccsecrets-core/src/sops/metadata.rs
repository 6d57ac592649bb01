//! The `sops` metadata block: key groups, threshold, selection rule, `lastmodified`, `mac`,
//! `version` — read tolerantly (older writers' layouts) and written in sops 3.11's exact
//! field order.

use super::select::{Selector, FIELDS};
use super::tree::{Map, Value};

/// The sops version we write into new files (and mimic).
pub const SOPS_VERSION: &str = "3.11.0";

/// Master-key types other than age, kept verbatim so files that also carry them round-trip.
const OTHER_TYPES: [&str; 6] = ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp"];

/// One age stanza: the recipient and the armored age file holding the data key (or share).
#[derive(Clone, Debug, PartialEq)]
pub struct AgeKey {
    /// The recipient string as written.
    pub recipient: String,
    /// The armored age file.
    pub enc: String,
}

/// A key group: any one of its keys opens the group's data key (or Shamir share).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyGroup {
    /// age stanzas.
    pub age: Vec<AgeKey>,
    /// Other master-key types (pgp, kms, …), kept verbatim as `(type, entries)`.
    pub others: Vec<(String, Vec<Value>)>,
}

impl KeyGroup {
    fn others_of(&self, typ: &str) -> &[Value] {
        self.others
            .iter()
            .find(|(t, _)| t == typ)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// True when the group has no keys at all.
    pub fn is_empty(&self) -> bool {
        self.age.is_empty() && self.others.iter().all(|(_, v)| v.is_empty())
    }
}

/// The parsed metadata of an encrypted file.
#[derive(Clone, Debug)]
pub struct Metadata {
    /// Key groups; one group unless Shamir sharing is used.
    pub key_groups: Vec<KeyGroup>,
    /// `shamir_threshold` (0 when absent).
    pub shamir_threshold: usize,
    /// `lastmodified` as written.
    pub lastmodified: String,
    /// The encrypted MAC (`""` when missing).
    pub mac: String,
    /// The selection rule written in the file (`None` when the file names none).
    pub selector: Option<Selector>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// `version`.
    pub version: String,
}

/// The metadata block is malformed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// A field has the wrong type or an invalid value.
    #[error("invalid sops metadata field `{field}`: {reason}")]
    Field {
        /// Field name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// No master key at all.
    #[error("no keys found in file metadata")]
    NoKeys,
    /// A selection rule is invalid or more than one is set.
    #[error(transparent)]
    Select(#[from] super::select::SelectError),
}

fn field_err(field: &str, reason: &str) -> MetadataError {
    MetadataError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Time(t) => Some(t.as_str().to_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(super::cipher::format_float_f(*f)),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn list_of<'a>(m: &'a Map, key: &str) -> Result<&'a [Value], MetadataError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Seq(s)) => Ok(s),
        Some(_) => Err(field_err(key, "expected a list")),
    }
}

fn group_from(m: &Map, prefix: &str) -> Result<KeyGroup, MetadataError> {
    let mut g = KeyGroup::default();
    for entry in list_of(m, "age")? {
        let e = entry
            .as_map()
            .ok_or_else(|| field_err(&format!("{prefix}age"), "expected a list of mappings"))?;
        let get = |k: &str| {
            e.get(k)
                .and_then(|v| v.as_str())
                .map(|s| s.to_owned())
                .ok_or_else(|| field_err(&format!("{prefix}age.{k}"), "missing or not a string"))
        };
        g.age.push(AgeKey {
            recipient: get("recipient")?.trim().to_owned(),
            enc: get("enc")?,
        });
    }
    for typ in OTHER_TYPES {
        let list = list_of(m, typ)?;
        if !list.is_empty() {
            g.others.push((typ.to_owned(), list.to_vec()));
        }
    }
    Ok(g)
}

/// Parses RFC 3339 and returns the text Go's `time.Format(time.RFC3339)` gives for it:
/// fractional seconds dropped, a zero offset written as `Z`.
pub fn canonical_rfc3339(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19))
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => "Z".to_owned(),
        o if o.len() == 6
            && (o.starts_with('+') || o.starts_with('-'))
            && o.as_bytes()[3] == b':'
            && o[1..3].bytes().all(|c| c.is_ascii_digit())
            && o[4..6].bytes().all(|c| c.is_ascii_digit()) =>
        {
            if &o[1..] == "00:00" {
                "Z".to_owned()
            } else {
                o.to_owned()
            }
        }
        _ => return None,
    };
    Some(format!("{}T{}{}", &s[..10], &s[11..19], offset))
}

/// The current UTC time as sops writes `lastmodified` (`2026-11-26T18:58:29Z`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format_unix_utc(secs)
}

/// Formats Unix seconds as RFC 3339 UTC.
pub fn format_unix_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), after Howard Hinnant's public-domain algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

impl Metadata {
    /// Reads the metadata mapping split off an encrypted file.
    pub fn from_tree(m: &Map) -> Result<Metadata, MetadataError> {
        let top = group_from(m, "")?;
        let key_groups = if !top.is_empty() {
            vec![top]
        } else {
            let mut groups = Vec::new();
            for (i, g) in list_of(m, "key_groups")?.iter().enumerate() {
                let gm = g
                    .as_map()
                    .ok_or_else(|| field_err("key_groups", "expected a list of mappings"))?;
                groups.push(group_from(gm, &format!("key_groups[{i}]."))?);
            }
            if groups.is_empty() || groups.iter().all(KeyGroup::is_empty) {
                return Err(MetadataError::NoKeys);
            }
            groups
        };
        let shamir_threshold = match m.get("shamir_threshold") {
            None | Some(Value::Null) => 0,
            Some(Value::Int(i)) if *i >= 0 => *i as usize,
            Some(Value::Float(f)) if *f >= 0.0 && f.fract() == 0.0 => *f as usize,
            Some(Value::Str(s)) => s
                .parse::<f64>()
                .ok()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as usize)
                .ok_or_else(|| field_err("shamir_threshold", "not a whole number"))?,
            Some(_) => return Err(field_err("shamir_threshold", "not a whole number")),
        };
        let lastmodified = m
            .get("lastmodified")
            .and_then(scalar_string)
            .ok_or_else(|| field_err("lastmodified", "missing"))?;
        if canonical_rfc3339(&lastmodified).is_none() {
            return Err(field_err("lastmodified", "not an RFC 3339 timestamp"));
        }
        let mac = match m.get("mac") {
            None | Some(Value::Null) => String::new(),
            Some(v) => scalar_string(v).ok_or_else(|| field_err("mac", "not a string"))?,
        };
        let version = match m.get("version") {
            None | Some(Value::Null) => String::new(),
            Some(Value::Str(s)) => s.clone(),
            Some(v) => scalar_string(v).ok_or_else(|| field_err("version", "not a string"))?,
        };
        let mac_only_encrypted = match m.get("mac_only_encrypted") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Str(s)) if s == "true" => true,
            Some(Value::Str(s)) if s == "false" => false,
            Some(_) => return Err(field_err("mac_only_encrypted", "not a boolean")),
        };
        let sel_values: Vec<(&str, String)> = FIELDS
            .iter()
            .filter_map(|f| m.get(f).and_then(scalar_string).map(|v| (*f, v)))
            .collect();
        let selector = Selector::from_fields(sel_values.iter().map(|(f, v)| (*f, v.as_str())))?;
        Ok(Metadata {
            key_groups,
            shamir_threshold,
            lastmodified,
            mac,
            selector,
            mac_only_encrypted,
            version,
        })
    }

    /// The selection rule in force (the default suffix when the file names none).
    pub fn effective_selector(&self) -> Selector {
        self.selector.clone().unwrap_or_default()
    }

    /// Every recipient in the file, group by group.
    pub fn recipients(&self) -> Vec<String> {
        self.key_groups
            .iter()
            .flat_map(|g| g.age.iter().map(|k| k.recipient.clone()))
            .collect()
    }

    /// Writes the metadata mapping in sops's field order. `json` selects JSON's spelling of
    /// empty key-group lists (`null`) instead of YAML's (`[]`).
    pub fn to_tree(&self, json: bool) -> Map {
        let mut m = Map::new();
        if self.shamir_threshold != 0 {
            m.push("shamir_threshold", Value::Int(self.shamir_threshold as i64));
        }
        let single = self.key_groups.len() <= 1;
        if !single {
            let groups = self
                .key_groups
                .iter()
                .map(|g| Value::Map(group_tree(g, json)))
                .collect();
            m.push("key_groups", Value::Seq(groups));
        }
        let empty = KeyGroup::default();
        let top = if single {
            self.key_groups.first().unwrap_or(&empty)
        } else {
            &empty
        };
        for typ in ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"] {
            let list = top.others_of(typ);
            if !list.is_empty() {
                m.push(typ, Value::Seq(list.to_vec()));
            }
        }
        if !top.age.is_empty() {
            m.push("age", age_list(&top.age));
        }
        m.push("lastmodified", Value::Str(self.lastmodified.clone()));
        m.push("mac", Value::Str(self.mac.clone()));
        let pgp = top.others_of("pgp");
        if !pgp.is_empty() {
            m.push("pgp", Value::Seq(pgp.to_vec()));
        }
        if let Some(sel) = &self.selector {
            let (field, value) = sel.field();
            m.push(field, Value::Str(value));
        }
        if self.mac_only_encrypted {
            m.push("mac_only_encrypted", Value::Bool(true));
        }
        m.push("version", Value::Str(self.version.clone()));
        m
    }
}

fn age_list(keys: &[AgeKey]) -> Value {
    Value::Seq(
        keys.iter()
            .map(|k| {
                let mut e = Map::new();
                e.push("recipient", Value::Str(k.recipient.clone()));
                e.push("enc", Value::Str(k.enc.clone()));
                Value::Map(e)
            })
            .collect(),
    )
}

fn group_tree(g: &KeyGroup, json: bool) -> Map {
    let mut m = Map::new();
    for typ in ["pgp", "kms", "gcp_kms", "hckms", "azure_kv"] {
        let list = g.others_of(typ);
        if !list.is_empty() {
            m.push(typ, Value::Seq(list.to_vec()));
        }
    }
    let always = |list: Value, is_empty: bool| {
        if is_empty && json {
            Value::Null
        } else {
            list
        }
    };
    let vault = g.others_of("hc_vault");
    m.push(
        "hc_vault",
        always(Value::Seq(vault.to_vec()), vault.is_empty()),
    );
    m.push("age", always(age_list(&g.age), g.age.is_empty()));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lastmodified_canonical_form() {
        assert_eq!(
            canonical_rfc3339("2026-11-26T18:58:29Z").unwrap(),
            "2026-11-26T18:58:29Z"
        );
        assert_eq!(
            canonical_rfc3339("2026-11-26T18:58:29.999+00:00").unwrap(),
            "2026-11-26T18:58:29Z"
        );
        assert_eq!(
            canonical_rfc3339("2026-11-26T18:58:29+01:00").unwrap(),
            "2026-11-26T18:58:29+01:00"
        );
        assert!(canonical_rfc3339("yesterday").is_none());
        assert!(canonical_rfc3339("2026-11-26 18:58:29Z").is_none());
    }

    #[test]
    fn unix_formatting() {
        assert_eq!(format_unix_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix_utc(1_795_719_509), "2026-11-26T18:58:29Z");
    }

    #[test]
    fn round_trips_single_group_in_field_order() {
        let meta = Metadata {
            key_groups: vec![KeyGroup {
                age: vec![AgeKey {
                    recipient: "age1x".into(),
                    enc: "-----BEGIN AGE ENCRYPTED FILE-----\n".into(),
                }],
                others: vec![],
            }],
            shamir_threshold: 0,
            lastmodified: "2026-11-26T18:58:29Z".into(),
            mac: "ENC[…]".into(),
            selector: Some(Selector::default()),
            mac_only_encrypted: false,
            version: SOPS_VERSION.into(),
        };
        let t = meta.to_tree(false);
        let keys: Vec<&str> = t.entries().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "age",
                "lastmodified",
                "mac",
                "unencrypted_suffix",
                "version"
            ]
        );
        let back = Metadata::from_tree(&t).unwrap();
        assert_eq!(back.key_groups, meta.key_groups);
        assert_eq!(back.to_tree(false), t);
    }
}
