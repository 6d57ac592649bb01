//! Value encryption exactly as sops does it: AES-256-GCM with a 32-byte IV, the
//! `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` syntax, the key-path AAD and typed plaintexts.
//!
//! Pure functions over a [`DataKey`]; the [`IvStash`] lets unchanged values keep their exact
//! ciphertext when a document is re-encrypted (minimal diffs, as sops does).

use std::collections::HashMap;

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use zeroize::{Zeroize, Zeroizing};

use super::tree::{Timestamp, Value};

type Aes256Gcm32 = AesGcm<Aes256, U32>;

/// The 32-byte sops data key, with its AES key schedule computed once. Wiped on drop; never
/// printed.
pub struct DataKey {
    key: Zeroizing<[u8; 32]>,
    aead: Aes256Gcm32,
}

impl DataKey {
    fn from_array(key: Zeroizing<[u8; 32]>) -> Self {
        let aead = Aes256Gcm32::new(GenericArray::from_slice(key.as_ref()));
        DataKey { key, aead }
    }

    /// A fresh random data key from the OS CSPRNG.
    pub fn generate() -> Result<Self, CipherError> {
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(k.as_mut()).map_err(|_| CipherError::Random)?;
        Ok(DataKey::from_array(k))
    }

    /// Wraps 32 key bytes (e.g. recovered from an age stanza).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey::from_array(Zeroizing::new(arr)))
    }

    /// The raw key bytes, for wrapping to recipients.
    pub fn expose(&self) -> &[u8; 32] {
        &self.key
    }

    fn aead(&self) -> &Aes256Gcm32 {
        &self.aead
    }
}

impl Clone for DataKey {
    fn clone(&self) -> Self {
        DataKey::from_array(Zeroizing::new(*self.key))
    }
}

/// Why a value could not be encrypted or decrypted. Never carries the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CipherError {
    /// The text is not an `ENC[AES256_GCM,…]` value.
    #[error("value does not match sops' data format")]
    NotEncrypted,
    /// A base64 field of the `ENC[…]` value is invalid.
    #[error("invalid base64 in the {0} field")]
    Base64(&'static str),
    /// The IV is not 32 bytes or the tag not 16 bytes.
    #[error("unsupported IV or tag length")]
    BadLength,
    /// Authentication failed: wrong key, or the value or its key path was changed.
    #[error("authentication failed (wrong data key, or the value or its key path was changed)")]
    Authentication,
    /// The `type:` field names a type sops does not know.
    #[error("unknown datatype")]
    UnknownType,
    /// The decrypted plaintext does not parse as its declared type.
    #[error("decrypted plaintext is not a valid {0}")]
    BadPlaintext(&'static str),
    /// The value kind cannot be encrypted (maps, lists, null).
    #[error("cannot encrypt a {0}")]
    Unencryptable(&'static str),
    /// The OS random source failed.
    #[error("the system random number generator failed")]
    Random,
}

/// The parsed fields of an `ENC[…]` value.
struct EncParts {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    typ: String,
}

/// True when `s` looks like an `ENC[AES256_GCM,…]` value.
pub fn is_encrypted(s: &str) -> bool {
    parse_enc(s).is_ok()
}

/// Parses `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` as sops's (greedy, start-anchored)
/// regular expression does.
/// The four text fields of an `ENC[…]` value: data, iv, tag, type.
fn split_enc(s: &str) -> Result<(&str, &str, &str, &str), CipherError> {
    let body = s
        .strip_prefix("ENC[AES256_GCM,")
        .ok_or(CipherError::NotEncrypted)?;
    // Base64 and type names contain no commas, so the four fields split unambiguously.
    let mut parts = body.splitn(4, ',');
    let mut field = |name: &str| {
        parts
            .next()
            .and_then(|p| p.strip_prefix(name))
            .ok_or(CipherError::NotEncrypted)
    };
    let (data, iv, tag, typ) = (
        field("data:")?,
        field("iv:")?,
        field("tag:")?,
        field("type:")?,
    );
    let typ = typ.strip_suffix(']').unwrap_or(typ);
    let typ = typ.split(']').next().unwrap_or(typ);
    if data.is_empty() || iv.is_empty() || tag.is_empty() || typ.is_empty() {
        return Err(CipherError::NotEncrypted);
    }
    if !s.contains(']') {
        return Err(CipherError::NotEncrypted);
    }
    Ok((data, iv, tag, typ))
}

fn parse_enc(s: &str) -> Result<EncParts, CipherError> {
    let (data, iv, tag, typ) = split_enc(s)?;
    Ok(EncParts {
        data: B64.decode(data).map_err(|_| CipherError::Base64("data"))?,
        iv: B64.decode(iv).map_err(|_| CipherError::Base64("iv"))?,
        tag: B64.decode(tag).map_err(|_| CipherError::Base64("tag"))?,
        typ: typ.to_owned(),
    })
}

/// Go `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits, never an exponent.
pub fn format_float_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        // Rust's Display is the shortest round-trip representation without an exponent.
        format!("{f}")
    }
}

/// The plaintext bytes and `type:` name sops uses for a leaf (sops's `ToBytes`).
///
/// Returns `None` for values that are not leaves (maps, sequences, null).
pub fn plaintext_of(value: &Value) -> Option<(Zeroizing<Vec<u8>>, &'static str)> {
    let (bytes, typ) = match value {
        Value::Str(s) => (s.as_bytes().to_vec(), "str"),
        Value::Bytes(b) => (b.clone(), "str"),
        Value::Int(i) => (i.to_string().into_bytes(), "int"),
        Value::Float(f) => (format_float_f(*f).into_bytes(), "float"),
        Value::Bool(b) => (
            (if *b { "True" } else { "False" }).as_bytes().to_vec(),
            "bool",
        ),
        Value::Time(t) => (t.as_str().as_bytes().to_vec(), "time"),
        Value::Comment(c) => (c.as_bytes().to_vec(), "comment"),
        Value::Map(_) | Value::Seq(_) | Value::Null => return None,
    };
    Some((Zeroizing::new(bytes), typ))
}

/// Rebuilds a typed value from decrypted plaintext bytes.
/// [`decrypt_value`] without an IV stash, with one buffer decrypted in place. `None` when the
/// value's fields are not well-formed: the caller's general path then names the problem.
fn decrypt_in_place(key: &DataKey, text: &str, aad: &str) -> Result<Option<Value>, CipherError> {
    let Ok((data, iv, tag, typ)) = split_enc(text) else {
        return Ok(None);
    };
    let (mut iv_buf, mut tag_buf) = ([0u8; 48], [0u8; 32]);
    let (Ok(32), Ok(16)) = (
        B64.decode_slice(iv, &mut iv_buf),
        B64.decode_slice(tag, &mut tag_buf),
    ) else {
        return Ok(None);
    };
    let mut buf = Zeroizing::new(Vec::with_capacity(data.len() / 4 * 3 + 3));
    if B64.decode_vec(data, &mut buf).is_err() {
        return Ok(None);
    }
    key.aead()
        .decrypt_in_place_detached(
            GenericArray::from_slice(&iv_buf[..32]),
            aad.as_bytes(),
            &mut buf,
            GenericArray::from_slice(&tag_buf[..16]),
        )
        .map_err(|_| CipherError::Authentication)?;
    value_from_plaintext(buf, typ).map(Some)
}

fn value_from_plaintext(mut bytes: Zeroizing<Vec<u8>>, typ: &str) -> Result<Value, CipherError> {
    if matches!(typ, "str" | "bytes") {
        // Moved, not copied: the tree value owns (and later wipes) the plaintext.
        return Ok(match String::from_utf8(std::mem::take(&mut *bytes)) {
            Ok(s) => Value::Str(s),
            Err(e) => Value::Bytes(e.into_bytes()),
        });
    }
    let text = || std::str::from_utf8(&bytes).ok();
    Ok(match typ {
        "str" | "bytes" => match String::from_utf8(bytes.to_vec()) {
            Ok(s) => Value::Str(s),
            Err(e) => Value::Bytes(e.into_bytes()),
        },
        "comment" => Value::Comment(text().ok_or(CipherError::BadPlaintext("comment"))?.into()),
        "int" => Value::Int(parse_go_int(
            text().ok_or(CipherError::BadPlaintext("int"))?,
        )?),
        "float" => Value::Float(
            parse_go_float(text().ok_or(CipherError::BadPlaintext("float"))?)
                .ok_or(CipherError::BadPlaintext("float"))?,
        ),
        "bool" => Value::Bool(match text() {
            Some("1" | "t" | "T" | "TRUE" | "true" | "True") => true,
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => false,
            _ => return Err(CipherError::BadPlaintext("bool")),
        }),
        "time" => {
            let t = text().ok_or(CipherError::BadPlaintext("time"))?;
            if !looks_like_rfc3339(t) {
                return Err(CipherError::BadPlaintext("time"));
            }
            Value::Time(Timestamp::from_canonical(t.to_owned()))
        }
        _ => return Err(CipherError::UnknownType),
    })
}

fn parse_go_int(s: &str) -> Result<i64, CipherError> {
    s.parse::<i64>()
        .map_err(|_| CipherError::BadPlaintext("int"))
}

fn parse_go_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse::<f64>().ok().filter(|f| f.is_finite()),
    }
}

fn looks_like_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && b[16] == b':'
}

/// Remembers the IV of every value decrypted in this session, keyed by (AAD, type,
/// plaintext), so re-encrypting an unchanged value reproduces its ciphertext exactly.
#[derive(Default)]
pub struct IvStash {
    ivs: HashMap<StashKey, [u8; 32]>,
}

#[derive(PartialEq, Eq)]
struct StashKey {
    aad: Zeroizing<Vec<u8>>,
    typ: &'static str,
    plaintext: Zeroizing<Vec<u8>>,
}

impl std::hash::Hash for StashKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.aad.as_slice().hash(state);
        self.typ.hash(state);
        self.plaintext.as_slice().hash(state);
    }
}

impl IvStash {
    fn get(&self, aad: &str, typ: &'static str, plaintext: &[u8]) -> Option<[u8; 32]> {
        let key = StashKey {
            aad: Zeroizing::new(aad.as_bytes().to_vec()),
            typ,
            plaintext: Zeroizing::new(plaintext.to_vec()),
        };
        self.ivs.get(&key).copied()
    }

    fn put(&mut self, aad: &str, typ: &'static str, plaintext: &[u8], iv: [u8; 32]) {
        let key = StashKey {
            aad: Zeroizing::new(aad.as_bytes().to_vec()),
            typ,
            plaintext: Zeroizing::new(plaintext.to_vec()),
        };
        self.ivs.insert(key, iv);
    }
}

impl Drop for IvStash {
    fn drop(&mut self) {
        for (_, iv) in self.ivs.iter_mut() {
            iv.zeroize();
        }
    }
}

/// Encrypts one leaf value under `aad` (`path:joined:`), reusing a stashed IV when this
/// exact value was decrypted from the same path earlier. Empty strings and empty comments
/// are returned as `""`, unencrypted, as sops does.
pub fn encrypt_value(
    key: &DataKey,
    value: &Value,
    aad: &str,
    stash: Option<&IvStash>,
) -> Result<String, CipherError> {
    let (plaintext, typ) = plaintext_of(value).ok_or(CipherError::Unencryptable(value.kind()))?;
    if plaintext.is_empty() && matches!(value, Value::Str(_) | Value::Comment(_)) {
        return Ok(String::new());
    }
    let iv = match stash.and_then(|s| s.get(aad, typ, &plaintext)) {
        Some(iv) => iv,
        None => {
            let mut iv = [0u8; 32];
            getrandom::getrandom(&mut iv).map_err(|_| CipherError::Random)?;
            iv
        }
    };
    Ok(seal(key, &plaintext, typ, aad, &iv))
}

/// Encrypts raw bytes with a given IV (the deterministic core of [`encrypt_value`]).
pub fn seal(key: &DataKey, plaintext: &[u8], typ: &str, aad: &str, iv: &[u8; 32]) -> String {
    let sealed = key
        .aead()
        .encrypt(
            GenericArray::from_slice(iv),
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        )
        .expect("AES-GCM encryption cannot fail for inputs below 64 GiB");
    let (data, tag) = sealed.split_at(sealed.len() - 16);
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
        B64.encode(data),
        B64.encode(iv),
        B64.encode(tag),
        typ
    )
}

/// Decrypts one `ENC[…]` value under `aad`, recording its IV in `stash`.
/// `""` decrypts to `""`.
pub fn decrypt_value(
    key: &DataKey,
    text: &str,
    aad: &str,
    stash: Option<&mut IvStash>,
) -> Result<Value, CipherError> {
    if text.is_empty() {
        return Ok(Value::Str(String::new()));
    }
    if stash.is_none() {
        if let Some(v) = decrypt_in_place(key, text, aad)? {
            return Ok(v);
        }
    }
    let parts = parse_enc(text)?;
    if parts.iv.len() != 32 || parts.tag.len() != 16 {
        return Err(CipherError::BadLength);
    }
    let mut sealed = parts.data.clone();
    sealed.extend_from_slice(&parts.tag);
    let plaintext = Zeroizing::new(
        key.aead()
            .decrypt(
                GenericArray::from_slice(&parts.iv),
                Payload {
                    msg: &sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CipherError::Authentication)?,
    );
    let value = value_from_plaintext(plaintext.clone(), &parts.typ)?;
    if let Some(stash) = stash {
        if let Some((_, typ)) = plaintext_of(&value) {
            let iv: [u8; 32] = parts
                .iv
                .as_slice()
                .try_into()
                .expect("length checked above");
            stash.put(aad, typ, &plaintext, iv);
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        // data_key_hex of the deterministic vectors in fixtures/vectors/ (made by an
        // independent implementation and accepted by the real sops).
        let hex = "39a5b2e087cb6e430af4b99a4d18a9d4c35f7d5f2d03784bf226951413a91b83";
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        DataKey::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn decrypts_a_vector_value() {
        let enc = "ENC[AES256_GCM,data:VoOSi04=,iv:2s1Ojgh2NVJ8t23lK94eSIVJRML05TFgx9EKp6K0rTI=,tag:wa5xsQskw5bxcnVjVA9/Vg==,type:str]";
        let v = decrypt_value(&key(), enc, "string:", None).unwrap();
        assert_eq!(v, Value::Str("hello".into()));
        // The AAD binds the value to its key path.
        assert_eq!(
            decrypt_value(&key(), enc, "other:", None),
            Err(CipherError::Authentication)
        );
    }

    #[test]
    fn stash_reuses_iv_for_unchanged_value() {
        let enc = "ENC[AES256_GCM,data:MAU=,iv:7SwecNiVoi3fEohEQQzRaieE45SlV5hHwXw9GxXdd+M=,tag:ZV/w1hdLLtxjh2haTbiU1w==,type:int]";
        let mut stash = IvStash::default();
        let v = decrypt_value(&key(), enc, "int:", Some(&mut stash)).unwrap();
        assert_eq!(v, Value::Int(42));
        assert_eq!(
            encrypt_value(&key(), &v, "int:", Some(&stash)).unwrap(),
            enc
        );
        // A changed value gets a fresh IV.
        let other = encrypt_value(&key(), &Value::Int(43), "int:", Some(&stash)).unwrap();
        assert_ne!(other, enc);
    }

    #[test]
    fn empty_strings_stay_clear() {
        assert_eq!(
            encrypt_value(&key(), &Value::Str(String::new()), "a:", None).unwrap(),
            ""
        );
        assert_eq!(
            decrypt_value(&key(), "", "a:", None).unwrap(),
            Value::Str(String::new())
        );
    }

    #[test]
    fn float_plaintext_never_uses_exponent() {
        assert_eq!(format_float_f(1e21), "1000000000000000000000");
        assert_eq!(format_float_f(1e-7), "0.0000001");
        assert_eq!(format_float_f(1.0), "1");
        assert_eq!(format_float_f(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn rejects_malformed_enc() {
        for bad in [
            "ENC[AES256_GCM,data:,iv:a,tag:b,type:str]",
            "hello",
            "ENC[AES256_GCM,data:x]",
        ] {
            assert!(decrypt_value(&key(), bad, "a:", None).is_err(), "{bad}");
        }
    }
}
