//! Shamir secret sharing as sops uses it for key groups (HashiCorp Vault's scheme).
//!
//! Arithmetic is in GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1 (0x11B). A share is the
//! y byte for every secret byte followed by one x byte; group `i` (0-based) gets x = i+1.

use zeroize::Zeroizing;

/// Sharing parameters are out of range, or shares cannot be combined.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShamirError {
    /// Threshold below 2, above the number of parts, or more than 255 parts.
    #[error("invalid Shamir parameters: threshold {threshold} of {parts} parts")]
    Parameters {
        /// Requested threshold.
        threshold: usize,
        /// Requested number of parts.
        parts: usize,
    },
    /// Fewer than two shares, unequal lengths, or repeated x coordinates.
    #[error(
        "the key shares cannot be combined (need at least two distinct shares of equal length)"
    )]
    BadShares,
    /// The OS random source failed.
    #[error("the system random number generator failed")]
    Random,
}

fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut r = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            r ^= a;
        }
        let carry = a & 0x80;
        a <<= 1;
        if carry != 0 {
            a ^= 0x1B;
        }
        b >>= 1;
    }
    r
}

fn inverse(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8); 0 maps to 0.
    let mut r = 1u8;
    let mut base = a;
    let mut e = 254u32;
    while e > 0 {
        if e & 1 == 1 {
            r = mul(r, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    r
}

/// Splits `secret` into `parts` shares, any `threshold` of which recover it.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    if threshold < 2 || threshold > parts || parts > 255 || secret.is_empty() {
        return Err(ShamirError::Parameters { threshold, parts });
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = (0..parts)
        .map(|_| Zeroizing::new(Vec::with_capacity(secret.len() + 1)))
        .collect();
    let mut coeffs = Zeroizing::new(vec![0u8; threshold]);
    for &byte in secret {
        coeffs[0] = byte;
        getrandom::getrandom(&mut coeffs[1..]).map_err(|_| ShamirError::Random)?;
        for (i, share) in shares.iter_mut().enumerate() {
            let x = (i + 1) as u8;
            // Horner's rule from the highest coefficient down.
            let y = coeffs.iter().rev().fold(0u8, |acc, &c| mul(acc, x) ^ c);
            share.push(y);
        }
    }
    for (i, share) in shares.iter_mut().enumerate() {
        share.push((i + 1) as u8);
    }
    Ok(shares)
}

/// Recombines shares (Lagrange interpolation at 0).
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    let len = shares.first().map(|s| s.len()).unwrap_or(0);
    if shares.len() < 2 || len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err(ShamirError::BadShares);
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for (i, a) in xs.iter().enumerate() {
        if xs[i + 1..].contains(a) {
            return Err(ShamirError::BadShares);
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (j, out) in secret.iter_mut().enumerate() {
        let mut acc = 0u8;
        for (i, share) in shares.iter().enumerate() {
            let mut basis = 1u8;
            for (m, &xm) in xs.iter().enumerate() {
                if m != i {
                    basis = mul(basis, mul(xm, inverse(xs[i] ^ xm)));
                }
            }
            acc ^= mul(share[j], basis);
        }
        *out = acc;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn field_inverse() {
        for a in 1..=255u8 {
            assert_eq!(mul(a, inverse(a)), 1, "{a}");
        }
    }

    #[test]
    fn share_layout_is_y_then_x() {
        let shares = split(&[1, 2, 3], 3, 2).unwrap();
        for (i, s) in shares.iter().enumerate() {
            assert_eq!(s.len(), 4);
            assert_eq!(s[3], i as u8 + 1);
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(split(&[1], 3, 1).is_err());
        assert!(split(&[1], 2, 3).is_err());
        assert!(combine(&[&[1, 1]]).is_err());
        assert!(combine(&[&[1, 1], &[2, 1]]).is_err(), "same x twice");
    }

    proptest! {
        #[test]
        fn any_threshold_subset_recovers(secret in proptest::collection::vec(any::<u8>(), 1..40),
                                         parts in 2usize..6, t_off in 0usize..4, skip in 0usize..6) {
            let threshold = 2 + t_off % (parts - 1);
            let shares = split(&secret, parts, threshold).unwrap();
            let chosen: Vec<&[u8]> = (0..threshold).map(|k| shares[(k + skip) % parts].as_slice()).collect();
            prop_assert_eq!(&combine(&chosen).unwrap()[..], &secret[..]);
        }
    }
}
