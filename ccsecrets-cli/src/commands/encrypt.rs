//! `ccsecrets encrypt`: sops encrypt.

use std::path::PathBuf;

use ccsecrets_core::keys::Recipient;
use ccsecrets_core::sops::document::{encrypt, EncryptOptions};
use ccsecrets_core::sops::select::Selector;
use ccsecrets_core::sops::store::{self, Format, StoreOptions};

use super::{apply_indent, destination, format_for, load_config, read_input, write_output, Global};
use crate::env::Env;
use crate::error::{code, CliError};

/// Encrypt a file with age recipients from --age or the matching .sops.yaml creation rule.
#[derive(clap::Args)]
pub struct Args {
    /// The plaintext file; stdin when absent or `-` (then --filename-override is required).
    pub file: Option<PathBuf>,

    /// Comma-separated age recipients (also SOPS_AGE_RECIPIENTS); replaces the rule's keys.
    #[arg(long, value_name = "RECIPIENTS")]
    pub age: Option<String>,

    /// Encrypt only values whose key matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,

    /// Leave values whose key matches this regex unencrypted.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,

    /// Encrypt only values whose key ends with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,

    /// Leave values whose key ends with this suffix unencrypted (default `_unencrypted`).
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,

    /// Number of key groups needed to decrypt (Shamir).
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,

    /// Format of the input: yaml, json, dotenv, ini or binary (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,

    /// Format of the output (default: from the file's extension).
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,

    /// Use this path for formats and creation rules instead of FILE's.
    #[arg(long, value_name = "PATH")]
    pub filename_override: Option<PathBuf>,

    /// Write the encrypted file over the input file.
    #[arg(short = 'i', long)]
    pub in_place: bool,

    /// Write the encrypted file here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: Args, global: &Global, env: &Env) -> Result<(), CliError> {
    let input = read_input(args.file.as_deref())?;
    let name = input.display_path();
    let rule_path = match (&args.filename_override, &input.path) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => p.clone(),
        (None, None) => {
            return Err(CliError::new(
                code::CONFLICTING_PARAMETERS,
                "must specify --filename-override when reading from stdin",
            ))
        }
    };
    let in_format = format_for(args.input_type.as_deref(), Some(&rule_path))?;
    let out_format = match &args.output_type {
        Some(t) => format_for(Some(t), None)?,
        None => Format::from_path(&rule_path),
    };
    let dest = destination(&input, args.in_place, args.output.as_deref())?;

    let config = load_config(global)?;
    let rule = match &config {
        Some(c) if c.has_rules() => Some(c.rule_for(&rule_path).map_err(|e| CliError::rules(&e))?),
        _ => None,
    };
    let stores = config
        .as_ref()
        .map(|c| c.stores)
        .unwrap_or_else(StoreOptions::default);
    let opts = apply_indent(stores, global.indent)?;

    let flag_recipients = args.age.clone().or_else(|| env.sops_age_recipients.clone());
    let key_groups: Vec<Vec<Recipient>> = match flag_recipients {
        Some(list) => vec![list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|r| {
                r.parse()
                    .map_err(|e: ccsecrets_core::keys::RecipientError| {
                        CliError::new(code::GENERIC, e.to_string())
                    })
            })
            .collect::<Result<_, _>>()?],
        None => rule.map(|r| r.key_groups.clone()).unwrap_or_default(),
    };
    if key_groups.iter().all(|g| g.is_empty()) {
        return Err(CliError::new(
            code::GENERIC,
            format!("{}: no recipients to encrypt to", name.display()),
        )
        .hint("pass --age age1… or add a creation rule with age keys to .sops.yaml"));
    }
    if key_groups.iter().flatten().any(|r| r.is_ssh()) {
        crate::output::warn(super::SSH_STANZA_WARNING);
    }
    let flag_fields = [
        ("unencrypted_suffix", args.unencrypted_suffix.as_deref()),
        ("encrypted_suffix", args.encrypted_suffix.as_deref()),
        ("unencrypted_regex", args.unencrypted_regex.as_deref()),
        ("encrypted_regex", args.encrypted_regex.as_deref()),
        (
            "unencrypted_comment_regex",
            global.unencrypted_comment_regex.as_deref(),
        ),
        (
            "encrypted_comment_regex",
            global.encrypted_comment_regex.as_deref(),
        ),
    ];
    let flag_selector =
        Selector::from_fields(flag_fields.iter().filter_map(|(f, v)| v.map(|v| (*f, v))))
            .map_err(|e| CliError::new(code::CONFLICTING_PARAMETERS, e.to_string()))?;
    let selector = flag_selector.or_else(|| rule.and_then(|r| r.selector.clone()));
    let binary = in_format == Format::Binary;
    if binary && selector.is_some() {
        crate::output::warn(
            "selection rules are ignored for binary files: the whole file is encrypted",
        );
    }
    let options = EncryptOptions {
        key_groups,
        shamir_threshold: args
            .shamir_secret_sharing_threshold
            .filter(|t| *t != 0)
            .or(rule.map(|r| r.shamir_threshold))
            .unwrap_or(0),
        selector,
        mac_only_encrypted: global.mac_only_encrypted || rule.is_some_and(|r| r.mac_only_encrypted),
        binary,
    };

    let branches = store::parse(in_format, &input.bytes).map_err(|e| CliError::store(&name, &e))?;
    let file = encrypt(branches, &options).map_err(|e| CliError::encrypt(&name, &e))?;
    let bytes = file
        .emit(out_format, &opts)
        .map_err(|e| CliError::store(&name, &e))?;
    write_output(dest, &bytes, false)
}
