//! The rebuild procedure as documented: the shell blocks of `docs/install.md` whose fence
//! reads ```` ```sh rebuild-step NAME ````. They are the procedure — the test of the harness
//! executes exactly these blocks, in order, in a scratch environment — so the documented steps
//! and the tested steps cannot drift apart.
//!
//! ```
//! use ccsecrets_core::rebuild::procedure;
//!
//! let doc = "# Install\n\n```sh rebuild-step clone\ngit clone \"$BASE_URL\" \"$SRC/base\"\n```\n";
//! let steps = procedure::parse(doc).unwrap();
//! assert_eq!(steps[0].name, "clone");
//! assert_eq!(steps[0].script, "git clone \"$BASE_URL\" \"$SRC/base\"\n");
//! ```

/// The info-string word that marks a fenced block as a step of the rebuild procedure.
pub const MARKER: &str = "rebuild-step";

/// One documented step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocStep {
    /// The step's name (the word after the marker).
    pub name: String,
    /// The block's text, each line ending in a newline.
    pub script: String,
    /// The 1-based line of the opening fence.
    pub line: usize,
}

/// Why the procedure could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProcedureError {
    /// A marked block has no step name.
    #[error("line {line}: a ```sh {MARKER} block needs a step name")]
    NoName {
        /// The fence's line.
        line: usize,
    },
    /// A marked block is not closed.
    #[error("line {line}: the {MARKER} block `{name}` is not closed")]
    Unclosed {
        /// The fence's line.
        line: usize,
        /// The step.
        name: String,
    },
    /// Two blocks have the same name.
    #[error("line {line}: step `{name}` is documented twice")]
    Duplicate {
        /// The second fence's line.
        line: usize,
        /// The step.
        name: String,
    },
}

/// The marked blocks of `markdown`, in order. Other fenced blocks (other languages, or `sh`
/// blocks without the marker) are not steps.
pub fn parse(markdown: &str) -> Result<Vec<DocStep>, ProcedureError> {
    let mut steps: Vec<DocStep> = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            continue;
        };
        let mut words = info.split_whitespace();
        let marked = words
            .next()
            .is_some_and(|lang| lang == "sh" || lang == "bash")
            && words.next() == Some(MARKER);
        if !marked {
            // Skip to the end of this (unmarked) block.
            for (_, l) in lines.by_ref() {
                if l.trim_start().starts_with("```") {
                    break;
                }
            }
            continue;
        }
        let line_no = i + 1;
        let name = words
            .next()
            .ok_or(ProcedureError::NoName { line: line_no })?
            .to_owned();
        if steps.iter().any(|s| s.name == name) {
            return Err(ProcedureError::Duplicate {
                line: line_no,
                name,
            });
        }
        let mut script = String::new();
        let mut closed = false;
        for (_, l) in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                closed = true;
                break;
            }
            script.push_str(l);
            script.push('\n');
        }
        if !closed {
            return Err(ProcedureError::Unclosed {
                line: line_no,
                name,
            });
        }
        steps.push(DocStep {
            name,
            script,
            line: line_no,
        });
    }
    Ok(steps)
}
