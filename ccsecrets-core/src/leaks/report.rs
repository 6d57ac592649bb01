//! Renderers for a [`Report`]: human text (grouped by file, a fix hint per finding), JSON,
//! and SARIF 2.1.0 for code-scanning upload. None of them can print a secret value: findings
//! do not hold one.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{Finding, Kind, Report, Severity, Source};

/// The report as text: findings grouped by repository and file, each with its source
/// (commit, index, work tree), line, rule, message, fingerprint and a one-line fix; then a
/// summary line.
pub fn human(report: &Report) -> String {
    let mut groups: BTreeMap<(super::RepoRole, String), Vec<&Finding>> = BTreeMap::new();
    for f in &report.findings {
        let key = match (&f.path, f.source) {
            (Some(p), _) => p.clone(),
            (None, Source::CommitMessage(_)) => "(commit messages)".into(),
            (None, Source::TagMessage(_)) => "(tag messages)".into(),
            (None, _) => "(repository)".into(),
        };
        groups.entry((f.repo, key)).or_default().push(f);
    }
    let mut out = String::new();
    for ((repo, file), list) in &groups {
        out.push_str(&format!("{}:{file}\n", repo.name()));
        for f in list {
            let mut at = Vec::new();
            match f.source {
                Source::Commit(id) => at.push(format!("commit {id}")),
                Source::CommitMessage(id) => at.push(format!("commit {id} message")),
                Source::TagMessage(id) => at.push(format!("tag {id} message")),
                Source::Index => at.push("staged".into()),
                Source::Ref => at.push("ref".into()),
                Source::Worktree => {}
            }
            if let Some(l) = f.line {
                at.push(format!("line {l}"));
            }
            let at = if at.is_empty() {
                String::new()
            } else {
                format!("{}: ", at.join(", "))
            };
            out.push_str(&format!(
                "  {at}{} [{}] {} (fingerprint {})\n    fix: {}\n",
                f.severity,
                f.kind.id(),
                f.message,
                f.fingerprint,
                f.hint()
            ));
        }
    }
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = report.findings.len() - errors;
    let scanned: Vec<String> = report
        .stats
        .iter()
        .map(|(role, s)| {
            format!(
                "{}: {} commits, {} history blobs, {} other files, {} sops files",
                role.name(),
                s.commits,
                s.blobs,
                s.files,
                s.sops_files
            )
        })
        .collect();
    out.push_str(&format!(
        "ccsecrets check: {errors} error{}, {warnings} warning{}, {} allowed; {}{}\n",
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
        report.allowed.len(),
        if report.keyed { "keyed; " } else { "keyless; " },
        scanned.join("; ")
    ));
    out
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "kind": f.kind.id(),
        "severity": f.severity.to_string(),
        "repo": f.repo.name(),
        "source": f.source.name(),
        "commit": f.source.object().map(|id| id.to_string()),
        "path": f.path,
        "line": f.line,
        "secret": f.secret,
        "message": f.message,
        "hint": f.hint(),
        "fingerprint": f.fingerprint,
    })
}

/// The report as one JSON object: `findings`, `allowed` (each with its `reason`), `summary`.
pub fn json(report: &Report) -> String {
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let v = json!({
        "version": 1,
        "keyed": report.keyed,
        "findings": report.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "allowed": report.allowed.iter().map(|(f, reason)| {
            let mut v = finding_json(f);
            v["reason"] = json!(reason);
            v
        }).collect::<Vec<_>>(),
        "summary": {
            "errors": errors,
            "warnings": report.findings.len() - errors,
            "allowed": report.allowed.len(),
            "repos": report.stats.iter().map(|(role, s)| json!({
                "repo": role.name(),
                "commits": s.commits,
                "history_blobs": s.blobs,
                "files": s.files,
                "sops_files": s.sops_files,
            })).collect::<Vec<_>>(),
        },
    });
    let mut s = serde_json::to_string_pretty(&v).expect("a JSON value serialises");
    s.push('\n');
    s
}

/// The report as a SARIF 2.1.0 log with one run; every rule is listed in the driver.
///
/// Each result has a physical location (GitHub code scanning requires one): the file and line,
/// or for a commit or tag message the pseudo-file `.git/COMMIT_EDITMSG` with the commit in
/// the message and in `properties`. `partialFingerprints` carries the finding's fingerprint.
pub fn sarif(report: &Report) -> String {
    let rules: Vec<Value> = Kind::ALL
        .iter()
        .map(|k| {
            json!({
                "id": k.id(),
                "name": k.id(),
                "shortDescription": { "text": k.description() },
                "fullDescription": { "text": k.description() },
                "help": { "text": k.hint() },
                "defaultConfiguration": {
                    "level": if *k == Kind::StaleAllowlistEntry { "warning" } else { "error" }
                },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = Kind::ALL.iter().position(|k| *k == f.kind).unwrap_or(0);
            let uri = f.path.clone().unwrap_or_else(|| ".git/COMMIT_EDITMSG".into());
            let mut physical = json!({
                "artifactLocation": { "uri": uri, "uriBaseId": f.repo.name().to_ascii_uppercase() },
            });
            physical["region"] = json!({ "startLine": f.line.unwrap_or(1) });
            let mut text = f.message.clone();
            if let Some(id) = f.source.object() {
                text.push_str(&format!(" ({} {id})", f.source.name()));
            }
            text.push_str(&format!(". Fix: {}", f.hint()));
            json!({
                "ruleId": f.kind.id(),
                "ruleIndex": index,
                "level": match f.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": { "text": text },
                "locations": [ { "physicalLocation": physical } ],
                "partialFingerprints": { "ccsecretsFingerprint/v1": f.fingerprint },
                "properties": {
                    "repo": f.repo.name(),
                    "source": f.source.name(),
                    "commit": f.source.object().map(|id| id.to_string()),
                    "secret": f.secret,
                },
            })
        })
        .collect();
    let v = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "ccsecrets",
                "informationUri": "https://example.invalid/ccsecrets",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&v).expect("a JSON value serialises");
    s.push('\n');
    s
}
