//! Which values and comments are encrypted: sops's six selection rules.
//!
//! Regular expressions are unanchored searches (Go's `regexp.Match`), applied to each key of
//! the path separately; the comment rules look at the comments stack (see [`CommentStack`]).

use regex::Regex;

/// The suffix sops assumes when a file names no selection rule.
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// One selection rule. Exactly one is in force for a file.
#[derive(Clone, Debug)]
pub enum Selector {
    /// Keys ending with the suffix (and everything below them) stay plaintext.
    UnencryptedSuffix(String),
    /// Only keys ending with the suffix (and everything below them) are encrypted.
    EncryptedSuffix(String),
    /// Keys matching the regex (and everything below) stay plaintext.
    UnencryptedRegex(Regex),
    /// Only keys matching the regex (and everything below) are encrypted.
    EncryptedRegex(Regex),
    /// Values marked by a comment matching the regex stay plaintext.
    UnencryptedCommentRegex(Regex),
    /// Only values marked by a comment matching the regex are encrypted.
    EncryptedCommentRegex(Regex),
}

impl Default for Selector {
    fn default() -> Self {
        Selector::UnencryptedSuffix(DEFAULT_UNENCRYPTED_SUFFIX.into())
    }
}

/// A selection rule could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// More than one rule was given.
    #[error("only one of {0} may be set")]
    Conflict(String),
    /// A regular expression does not compile.
    #[error("invalid regular expression for {field}: {reason}")]
    Regex {
        /// The option name.
        field: &'static str,
        /// The compiler's message.
        reason: String,
    },
}

/// The six options as they appear in metadata, `.sops.yaml` and flags (field name, value).
pub const FIELDS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

impl Selector {
    /// Builds the selector from `(field, value)` pairs; empty values are ignored. None set
    /// gives `Ok(None)` (the caller decides the default).
    pub fn from_fields<'a>(
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Option<Selector>, SelectError> {
        let set: Vec<(&str, &str)> = fields.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        if set.len() > 1 {
            return Err(SelectError::Conflict(FIELDS.join(", ")));
        }
        let Some(&(field, value)) = set.first() else {
            return Ok(None);
        };
        let re = |field: &'static str| {
            Regex::new(value).map_err(|e| SelectError::Regex {
                field,
                reason: e.to_string(),
            })
        };
        Ok(Some(match field {
            "unencrypted_suffix" => Selector::UnencryptedSuffix(value.into()),
            "encrypted_suffix" => Selector::EncryptedSuffix(value.into()),
            "unencrypted_regex" => Selector::UnencryptedRegex(re("unencrypted_regex")?),
            "encrypted_regex" => Selector::EncryptedRegex(re("encrypted_regex")?),
            "unencrypted_comment_regex" => {
                Selector::UnencryptedCommentRegex(re("unencrypted_comment_regex")?)
            }
            "encrypted_comment_regex" => {
                Selector::EncryptedCommentRegex(re("encrypted_comment_regex")?)
            }
            other => unreachable!("unknown selection field {other}"),
        }))
    }

    /// The metadata field name and value of this rule.
    pub fn field(&self) -> (&'static str, String) {
        match self {
            Selector::UnencryptedSuffix(s) => ("unencrypted_suffix", s.clone()),
            Selector::EncryptedSuffix(s) => ("encrypted_suffix", s.clone()),
            Selector::UnencryptedRegex(r) => ("unencrypted_regex", r.as_str().into()),
            Selector::EncryptedRegex(r) => ("encrypted_regex", r.as_str().into()),
            Selector::UnencryptedCommentRegex(r) => {
                ("unencrypted_comment_regex", r.as_str().into())
            }
            Selector::EncryptedCommentRegex(r) => ("encrypted_comment_regex", r.as_str().into()),
        }
    }

    /// Whether the leaf at `path` is encrypted, given the comments stack. `is_comment` is true
    /// when the leaf is itself a comment (then it is the last entry of the innermost level).
    pub fn should_encrypt(&self, path: &[String], stack: &CommentStack, is_comment: bool) -> bool {
        match self {
            Selector::UnencryptedSuffix(s) => !path.iter().any(|k| k.ends_with(s.as_str())),
            Selector::EncryptedSuffix(s) => path.iter().any(|k| k.ends_with(s.as_str())),
            Selector::UnencryptedRegex(r) => !path.iter().any(|k| r.is_match(k)),
            Selector::EncryptedRegex(r) => path.iter().any(|k| r.is_match(k)),
            Selector::UnencryptedCommentRegex(r) => {
                !stack.any(is_comment, false, |c| r.is_match(c))
            }
            Selector::EncryptedCommentRegex(r) => stack.any(is_comment, true, |c| r.is_match(c)),
        }
    }
}

/// The comments seen so far at each nesting level of the walk. A comment marks the next key
/// or element of its level and everything below it; a level is cleared after each
/// non-comment item.
#[derive(Default)]
pub struct CommentStack {
    levels: Vec<Vec<String>>,
}

impl CommentStack {
    /// Enters a mapping or sequence.
    pub fn push_level(&mut self) {
        self.levels.push(Vec::new());
    }

    /// Leaves a mapping or sequence.
    pub fn pop_level(&mut self) {
        self.levels.pop();
    }

    /// Records a comment met at the current level.
    pub fn add(&mut self, comment: &str) {
        if let Some(level) = self.levels.last_mut() {
            level.push(comment.to_owned());
        }
    }

    /// Forgets the current level's comments (after a key or element).
    pub fn clear_level(&mut self) {
        if let Some(level) = self.levels.last_mut() {
            level.clear();
        }
    }

    fn any(&self, leaf_is_comment: bool, skip_leaf: bool, f: impl Fn(&str) -> bool) -> bool {
        let last_level = self.levels.len().saturating_sub(1);
        self.levels.iter().enumerate().any(|(li, level)| {
            let n = if skip_leaf && leaf_is_comment && li == last_level {
                level.len().saturating_sub(1)
            } else {
                level.len()
            };
            level[..n].iter().any(|c| f(c))
        })
    }
}

impl Drop for CommentStack {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for level in &mut self.levels {
            for c in level.iter_mut() {
                c.zeroize();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn suffix_rules_apply_to_every_component() {
        let s = Selector::default();
        let st = CommentStack::default();
        assert!(s.should_encrypt(&path(&["a", "b"]), &st, false));
        assert!(!s.should_encrypt(&path(&["a_unencrypted", "b"]), &st, false));
        let e = Selector::EncryptedSuffix("_secret".into());
        assert!(e.should_encrypt(&path(&["x_secret", "y"]), &st, false));
        assert!(!e.should_encrypt(&path(&["x"]), &st, false));
    }

    #[test]
    fn regex_is_unanchored() {
        let s = Selector::EncryptedRegex(Regex::new("pass").unwrap());
        let st = CommentStack::default();
        assert!(s.should_encrypt(&path(&["db_password"]), &st, false));
    }

    #[test]
    fn at_most_one_rule() {
        assert!(
            Selector::from_fields([("encrypted_regex", "a"), ("unencrypted_suffix", "b")]).is_err()
        );
        assert!(
            Selector::from_fields([("encrypted_regex", ""), ("unencrypted_suffix", "")])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn encrypted_comment_regex_excludes_the_marker_itself() {
        let s = Selector::EncryptedCommentRegex(Regex::new("sops:enc").unwrap());
        let mut st = CommentStack::default();
        st.push_level();
        st.add(" sops:enc");
        assert!(!s.should_encrypt(&[], &st, true), "marker stays plain");
        assert!(
            s.should_encrypt(&path(&["k"]), &st, false),
            "marked value is encrypted"
        );
        st.clear_level();
        assert!(!s.should_encrypt(&path(&["j"]), &st, false));
    }
}
