//! Scalar text forms shared by the stores and the cipher: Go's float formatting, YAML
//! timestamps, and yaml.v3's resolution of plain scalars.

use super::tree::{Timestamp, Value};

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: the shortest digits that read back as `f`,
/// in exponent form when the decimal exponent is < -4 or >= 6 (`1e+06`, `1e-05`, `3.14`,
/// `1`, `-0`, `+Inf`, `-Inf`, `NaN`).
pub fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    }
}

/// Parses a plain YAML scalar as yaml.v3 resolves a timestamp (`2001-12-14`,
/// `2001-12-14t21:59:43.10-05:00`, `2001-12-14 21:59:43.10`) and returns Go's
/// `time.MarshalText` form (`2001-12-14T21:59:43.1-05:00`). `None` when it is not a
/// timestamp for yaml.v3.
pub fn parse_timestamp(plain: &str) -> Option<Timestamp> {
    let b = plain.as_bytes();
    // Quick check: YYYY- prefix.
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let year: u32 = plain[..4].parse().ok()?;
    let mut p = Cursor { b, i: 5 };
    let month = p.num12()?;
    p.expect(b'-')?;
    let day = p.num12()?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if p.i == b.len() {
        return Some(Timestamp::from_canonical(format!("{date}T00:00:00Z")));
    }
    // Formats: 'T' or 't' with mandatory zone, or ' ' without zone.
    let sep = b[p.i];
    p.i += 1;
    let zoned = match sep {
        b'T' | b't' => true,
        b' ' => false,
        _ => return None,
    };
    let hour = p.num12()?;
    p.expect(b':')?;
    let min = p.num12()?;
    p.expect(b':')?;
    let sec = p.num12()?;
    if hour >= 24 || min >= 60 || sec >= 60 {
        return None;
    }
    let mut nanos = 0u32;
    if p.i + 1 < b.len() && (b[p.i] == b'.' || b[p.i] == b',') && b[p.i + 1].is_ascii_digit() {
        p.i += 1;
        let start = p.i;
        while p.i < b.len() && b[p.i].is_ascii_digit() {
            p.i += 1;
        }
        let frac = &plain[start..p.i];
        let mut n = 0u32;
        for (k, c) in frac.bytes().take(9).enumerate() {
            let _ = k;
            n = n * 10 + u32::from(c - b'0');
        }
        for _ in frac.len().min(9)..9 {
            n *= 10;
        }
        nanos = n;
    }
    let zone = if zoned {
        match b.get(p.i) {
            Some(b'Z') => {
                p.i += 1;
                "Z".to_string()
            }
            Some(&s @ (b'+' | b'-')) => {
                let rest = b.get(p.i + 1..p.i + 6)?;
                if !(rest[0].is_ascii_digit()
                    && rest[1].is_ascii_digit()
                    && rest[2] == b':'
                    && rest[3].is_ascii_digit()
                    && rest[4].is_ascii_digit())
                {
                    return None;
                }
                let hh = u32::from(rest[0] - b'0') * 10 + u32::from(rest[1] - b'0');
                let mm = u32::from(rest[3] - b'0') * 10 + u32::from(rest[4] - b'0');
                if hh >= 24 || mm >= 60 {
                    return None;
                }
                p.i += 6;
                if hh == 0 && mm == 0 {
                    "Z".to_string()
                } else {
                    format!("{}{hh:02}:{mm:02}", s as char)
                }
            }
            _ => return None,
        }
    } else {
        "Z".to_string()
    };
    if p.i != b.len() {
        return None;
    }
    let frac = if nanos == 0 {
        String::new()
    } else {
        let s = format!(".{nanos:09}");
        s.trim_end_matches('0').to_string()
    };
    Some(Timestamp::from_canonical(format!(
        "{date}T{hour:02}:{min:02}:{sec:02}{frac}{zone}"
    )))
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    /// One or two digits (Go's `getnum(value, false)`).
    fn num12(&mut self) -> Option<u32> {
        let d0 = *self.b.get(self.i)?;
        if !d0.is_ascii_digit() {
            return None;
        }
        self.i += 1;
        let mut n = u32::from(d0 - b'0');
        if let Some(&d1) = self.b.get(self.i) {
            if d1.is_ascii_digit() {
                self.i += 1;
                n = n * 10 + u32::from(d1 - b'0');
            }
        }
        Some(n)
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 => {
            if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) {
                29
            } else {
                28
            }
        }
        _ => 31,
    }
}

/// What a plain (unquoted, untagged) YAML scalar resolves to under yaml.v3's rules.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// A string (including anything that is not one of the forms below).
    Str,
    /// `~`, `null`, `Null`, `NULL`, empty.
    Null,
    /// `true`/`True`/`TRUE`/`false`/…
    Bool(bool),
    /// An integer that fits a Go `int`.
    Int(i64),
    /// An integer that only fits `uint64` (sops refuses to walk it).
    Uint(u64),
    /// A float.
    Float(f64),
    /// A timestamp.
    Time(Timestamp),
    /// The merge key `<<`.
    Merge,
}

/// Resolves a plain scalar as yaml.v3 does (its `resolve("", text)`).
pub fn resolve_plain(s: &str) -> Resolved {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        "<<" => return Resolved::Merge,
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => {
            if is_yaml_float(s) {
                if let Some(f) = parse_float(s) {
                    return Resolved::Float(f);
                }
            }
            Resolved::Str
        }
        b'0'..=b'9' | b'+' | b'-' => {
            if let Some(t) = parse_timestamp(s) {
                return Resolved::Time(t);
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Some(r) = go_parse_int(&plain) {
                return r;
            }
            if is_yaml_float(&plain) {
                if let Some(f) = parse_float(&plain) {
                    return Resolved::Float(f);
                }
            }
            let (neg, rest) = match plain.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, plain.as_str()),
            };
            for (prefix, radix) in [("0b", 2), ("0o", 8)] {
                if let Some(digits) = rest.strip_prefix(prefix) {
                    if let Some(r) = parse_radix(neg, digits, radix) {
                        return r;
                    }
                }
            }
            Resolved::Str
        }
        _ => Resolved::Str,
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's ParseFloat on a string the float regex accepted: `None` on overflow (ErrRange).
fn parse_float(s: &str) -> Option<f64> {
    let f: f64 = s.parse().ok()?;
    if f.is_infinite() {
        None
    } else {
        Some(f)
    }
}

/// Go's `ParseInt(s, 0, 64)` then `ParseUint(s, 0, 64)`.
fn go_parse_int(s: &str) -> Option<Resolved> {
    let (neg, signed, rest) = if let Some(r) = s.strip_prefix('-') {
        (true, true, r)
    } else if let Some(r) = s.strip_prefix('+') {
        (false, true, r)
    } else {
        (false, false, s)
    };
    let (radix, digits) =
        if let Some(d) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = rest.strip_prefix("0o").or_else(|| rest.strip_prefix("0O")) {
            (8, d)
        } else if let Some(d) = rest.strip_prefix("0b").or_else(|| rest.strip_prefix("0B")) {
            (2, d)
        } else if rest.len() > 1 && rest.starts_with('0') {
            (8, &rest[1..])
        } else {
            (10, rest)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u128::from_str_radix(digits, radix).ok()?;
    if neg {
        if mag <= 1u128 << 63 {
            return Some(Resolved::Int((-(mag as i128)) as i64));
        }
        return None;
    }
    if mag <= i64::MAX as u128 {
        return Some(Resolved::Int(mag as i64));
    }
    if !signed && mag <= u128::from(u64::MAX) {
        return Some(Resolved::Uint(mag as u64));
    }
    None
}

fn parse_radix(neg: bool, digits: &str, radix: u32) -> Option<Resolved> {
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u128::from_str_radix(digits, radix).ok()?;
    if neg {
        if mag <= 1u128 << 63 {
            return Some(Resolved::Int((-(mag as i128)) as i64));
        }
        return None;
    }
    if mag <= i64::MAX as u128 {
        Some(Resolved::Int(mag as i64))
    } else if mag <= u128::from(u64::MAX) {
        Some(Resolved::Uint(mag as u64))
    } else {
        None
    }
}

/// True for the YAML 1.1 booleans yaml.v3 still quotes on output (`y`, `yes`, `on`, `off`, …).
pub fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// True for YAML 1.1 base-60 floats (`1:20`, `-190:20:30.15`), which yaml.v3 quotes on output.
pub fn is_base60_float(s: &str) -> bool {
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() && i - st < 2 {
            i += 1;
        }
        let n = i - st;
        if n == 0 || (n == 2 && b[st] > b'5') {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// True when yaml.v3 would write this string plain (its resolved type is string and it is
/// no YAML 1.1 bool or base-60 float). The emitter may still quote it for syntax reasons.
pub fn plain_is_string(s: &str) -> bool {
    matches!(resolve_plain(s), Resolved::Str) && !is_old_bool(s) && !is_base60_float(s)
}

/// The text yaml.v3 writes for a non-string scalar value (`None` for strings, containers
/// and comments).
pub fn yaml_scalar_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => match format_float_g(*f).as_str() {
            "+Inf" => ".inf".into(),
            "-Inf" => "-.inf".into(),
            "NaN" => ".nan".into(),
            s => s.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Time(t) => t.as_str().to_string(),
        Value::Null => "null".into(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::approx_constant)]
    fn floats_format_as_go_g() {
        // Values as sops 3.11 prints them in YAML output (floats.yaml, yamlstyles.json).
        for (f, s) in [
            (3.14, "3.14"),
            (1.0, "1"),
            (100.0, "100"),
            (1000.0, "1000"),
            (0.5, "0.5"),
            (0.001, "0.001"),
            (1000.5, "1000.5"),
            (1e6, "1e+06"),
            (1e10, "1e+10"),
            (1e20, "1e+20"),
            (1e-5, "1e-05"),
            (1e-7, "1e-07"),
            (0.0001, "0.0001"),
            (123_456.0, "123456"),
            (123_456_789.0, "1.23456789e+08"),
            (-0.0, "-0"),
            (2.5, "2.5"),
            (1e300, "1e+300"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(format_float_g(f), s, "{f}");
        }
        assert_eq!(
            yaml_scalar_text(&Value::Float(f64::INFINITY)).unwrap(),
            ".inf"
        );
        assert_eq!(
            yaml_scalar_text(&Value::Float(f64::NEG_INFINITY)).unwrap(),
            "-.inf"
        );
        assert_eq!(yaml_scalar_text(&Value::Float(f64::NAN)).unwrap(), ".nan");
    }

    #[test]
    fn timestamps_resolve_as_yaml_v3() {
        let t = |s: &str| parse_timestamp(s).map(|t| t.as_str().to_string());
        // From scalars.yaml decrypted by sops 3.11.
        assert_eq!(t("2002-12-14").unwrap(), "2002-12-14T00:00:00Z");
        assert_eq!(
            t("2001-12-14t21:59:43.10-05:00").unwrap(),
            "2001-12-14T21:59:43.1-05:00"
        );
        assert_eq!(
            t("2001-12-14 21:59:43.10").unwrap(),
            "2001-12-14T21:59:43.1Z"
        );
        assert_eq!(t("2024-01-02T03:04:05Z").unwrap(), "2024-01-02T03:04:05Z");
        assert_eq!(t("2024-1-2T3:4:5+00:00").unwrap(), "2024-01-02T03:04:05Z");
        assert_eq!(
            t("2024-01-02T03:04:05.123456789123+01:30").unwrap(),
            "2024-01-02T03:04:05.123456789+01:30"
        );
        for bad in [
            "2001-12-14 21:59:43.10 -5",
            "2024-02-30",
            "2024-13-01",
            "24-01-01",
            "2024-01-02T03:04:05",
            "2024-01-02T25:00:00Z",
            "2024-01-02x",
            "20240102",
        ] {
            assert!(t(bad).is_none(), "{bad}");
        }
        assert!(t("2024-02-29").is_some());
        assert!(t("2023-02-29").is_none());
    }

    #[test]
    fn plain_scalars_resolve_as_yaml_v3() {
        use Resolved as R;
        for (s, r) in [
            ("yes", R::Str),
            ("on", R::Str),
            ("True", R::Bool(true)),
            ("FALSE", R::Bool(false)),
            ("~", R::Null),
            ("", R::Null),
            ("42", R::Int(42)),
            ("+12", R::Int(12)),
            ("-7", R::Int(-7)),
            ("0777", R::Int(511)),
            ("0o777", R::Int(511)),
            ("0x1f", R::Int(31)),
            ("0b101", R::Int(5)),
            ("-0b101", R::Int(-5)),
            ("1_000", R::Int(1000)),
            ("08", R::Float(8.0)),
            ("9223372036854775807", R::Int(i64::MAX)),
            ("18446744073709551615", R::Uint(u64::MAX)),
            ("99999999999999999999", R::Float(1e20)),
            ("1e3", R::Float(1000.0)),
            (".5", R::Float(0.5)),
            ("5.", R::Float(5.0)),
            ("1_000.5", R::Float(1000.5)),
            ("1e400", R::Str),
            ("-.inf", R::Float(f64::NEG_INFINITY)),
            ("<<", R::Merge),
            ("1:20", R::Str),
            ("0x", R::Str),
            ("-", R::Str),
            ("abc", R::Str),
        ] {
            assert_eq!(resolve_plain(s), r, "{s}");
        }
        assert!(matches!(resolve_plain(".NaN"), R::Float(f) if f.is_nan()));
        assert!(!plain_is_string("y") && !plain_is_string("1:20") && !plain_is_string("123"));
        assert!(plain_is_string("hello") && plain_is_string("tRue"));
    }
}
