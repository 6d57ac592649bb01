//! `ccsecrets validate`: check an instance's secrets against the instance model.

use std::path::PathBuf;
use std::time::SystemTime;

use ccsecrets_core::instance::{
    model_findings, validate, Facts, Instance, InstanceError, SecretSet, Severity, ValidateOptions,
    Validation, DEFAULT_WARN_DAYS, SECRETS_FILE,
};

use super::open_encrypted;
use crate::error::{code, CliError};

/// Check an instance's secrets: the certificate chain parses and is leaf first, the key
/// matches the leaf, the SANs cover *.DOMAIN and DOMAIN, nothing has expired, the Drone RPC
/// secret and webhook HMAC are long and random enough, OAuth credentials are present,
/// registry hosts are host names, and no `ccsecrets init` placeholder is left.
///
/// Decrypts secrets/secrets.yaml in memory with the identities sops would use. Prints one
/// finding per line, grouped by secret, never a value. Exits 1 on any error; warnings
/// (such as a certificate expiring within --warn-days) alone exit 0.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The instance repository (holding instance.nix and secrets/secrets.yaml).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub instance: PathBuf,

    /// Warn when a certificate expires within N days.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_WARN_DAYS)]
    pub warn_days: u32,

    /// Check the certificate against this domain instead of instance.nix's `domain`.
    #[arg(long, value_name = "D")]
    pub domain: Option<String>,
}

pub fn run(args: Args, env: &crate::env::Env) -> Result<(), CliError> {
    let facts_err = |e: &dyn std::fmt::Display| CliError::new(code::GENERIC, e.to_string());
    let domain = match (Instance::open(&args.instance), args.domain) {
        (_, Some(d)) => Facts::for_domain(&d)
            .map_err(|e| facts_err(&e))?
            .domain()
            .to_owned(),
        (Ok(instance), None) => instance.facts.domain().to_owned(),
        (Err(e @ InstanceError::NotAnInstance(_)), None) => {
            return Err(facts_err(&e).hint("give --instance DIR, or --domain D"))
        }
        (Err(e), None) => return Err(facts_err(&e)),
    };

    let opened = open_encrypted(&args.instance.join(SECRETS_FILE), None, env)?;
    let opts = ValidateOptions {
        domain,
        now: SystemTime::now(),
        warn_days: args.warn_days,
    };
    let result = match SecretSet::from_documents(&opened.plain.branches) {
        Ok(set) => validate(&set, &opts),
        Err(e) => Validation {
            findings: model_findings(&e),
            ..Default::default()
        },
    };
    print(&opened.name(), &opts, &result)?;

    let errors = result.count(Severity::Error);
    if errors > 0 {
        return Err(CliError::new(
            code::GENERIC,
            format!(
                "{}: {errors} error{} found",
                opened.name().display(),
                if errors == 1 { "" } else { "s" }
            ),
        ));
    }
    Ok(())
}

fn print(file: &std::path::Path, opts: &ValidateOptions, v: &Validation) -> Result<(), CliError> {
    let mut text = String::new();
    if let Some(leaf) = &v.leaf {
        text.push_str(&format!(
            "tls.fullchain: leaf {} sha256 {} serial {} valid {} to {}, SANs {}\n",
            leaf.subject,
            leaf.sha256,
            leaf.serial,
            leaf.not_before_utc(),
            leaf.not_after_utc(),
            leaf.dns_names.join(", ")
        ));
    }
    for f in &v.findings {
        text.push_str(&format!("{f}\n"));
    }
    let (errors, warnings) = (v.count(Severity::Error), v.count(Severity::Warning));
    text.push_str(&format!(
        "{}: {} secrets checked for {}: {errors} error{}, {warnings} warning{}\n",
        file.display(),
        v.checked.len(),
        opts.domain,
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
    ));
    super::print(text.as_bytes())
}
