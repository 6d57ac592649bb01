//! sops's legacy flag form (`sops -d FILE`, `-e -i FILE`, `-r FILE`, `--set 'PATH VALUE' FILE`,
//! bare `sops FILE` to edit), rewritten into the subcommand form before parsing, so scripts
//! written for sops work unchanged.

use std::ffi::OsString;

const SUBCOMMANDS: &[&str] = &[
    "encrypt",
    "decrypt",
    "filestatus",
    "set",
    "unset",
    "rotate",
    "updatekeys",
    "groups",
    "edit",
    "exec-env",
    "exec-file",
    "ssh-to-age",
    "keygen",
    "validate",
    "nix",
    "install",
    "init",
    "cert",
    "recipients",
    "rekey",
    "help",
    "completion",
    "version",
];

/// Global flags that take a value (skipped when looking for the first word).
const GLOBAL_WITH_VALUE: [&str; 4] = [
    "--config",
    "--indent",
    "--encrypted-comment-regex",
    "--unencrypted-comment-regex",
];

/// Global switches (skipped when looking for the first word).
const GLOBAL_SWITCHES: [&str; 1] = ["--mac-only-encrypted"];

/// Rewrites a legacy invocation; anything else is returned unchanged.
pub fn translate(args: Vec<OsString>) -> Vec<OsString> {
    let strs: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // Find the first word that is not a global flag (or its value).
    let mut i = 1;
    while i < strs.len() {
        let a = strs[i].as_str();
        if GLOBAL_WITH_VALUE.contains(&a) {
            i += 2;
        } else if GLOBAL_SWITCHES.contains(&a)
            || GLOBAL_WITH_VALUE
                .iter()
                .any(|g| a.starts_with(&format!("{g}=")))
        {
            i += 1;
        } else {
            break;
        }
    }
    let Some(first) = strs.get(i) else {
        return args;
    };
    if SUBCOMMANDS.contains(&first.as_str())
        || matches!(first.as_str(), "-h" | "--help" | "-V" | "--version")
    {
        return args;
    }
    let mut mode: Option<&str> = None;
    let mut set_arg: Option<String> = None;
    let mut rest: Vec<String> = Vec::new();
    let mut in_place = false;
    let mut j = 1;
    while j < strs.len() {
        let a = strs[j].as_str();
        match a {
            "-d" | "--decrypt" => mode = Some("decrypt"),
            "-e" | "--encrypt" => mode = Some("encrypt"),
            "-r" | "--rotate" => mode = Some("rotate"),
            "-i" | "--in-place" => in_place = true,
            "-s" | "--show-master-keys" => {}
            "--set" => {
                mode = Some("set");
                set_arg = strs.get(j + 1).cloned();
                j += 1;
            }
            _ if a.starts_with("--set=") => {
                mode = Some("set");
                set_arg = Some(a["--set=".len()..].to_owned());
            }
            _ => rest.push(a.to_owned()),
        }
        j += 1;
    }
    let mode = mode.unwrap_or("edit");
    let mut out: Vec<OsString> = vec![args[0].clone(), mode.into()];
    if in_place && matches!(mode, "decrypt" | "encrypt" | "rotate") {
        out.push("--in-place".into());
    }
    if mode == "set" {
        // 'PATH VALUE': the path ends at the first "] ".
        let spec = set_arg.unwrap_or_default();
        let (path, value) = match spec.find("] ") {
            Some(pos) => (spec[..=pos].to_owned(), spec[pos + 2..].to_owned()),
            None => (spec.clone(), String::new()),
        };
        // Flags first, then FILE PATH VALUE (the file is the last word).
        let file = rest.pop().unwrap_or_default();
        out.extend(rest.into_iter().map(OsString::from));
        out.push("--".into());
        out.push(file.into());
        out.push(path.into());
        out.push(value.into());
        return out;
    }
    out.extend(rest.into_iter().map(OsString::from));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(args: &[&str]) -> Vec<String> {
        translate(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn legacy_forms() {
        assert_eq!(t(&["c", "-d", "f.yaml"]), ["c", "decrypt", "f.yaml"]);
        assert_eq!(
            t(&["c", "-i", "-d", "f.yaml"]),
            ["c", "decrypt", "--in-place", "f.yaml"]
        );
        assert_eq!(
            t(&["c", "-e", "-i", "--age", "age1x", "f.yaml"]),
            ["c", "encrypt", "--in-place", "--age", "age1x", "f.yaml"]
        );
        assert_eq!(
            t(&["c", "--indent", "2", "-d", "f"]),
            ["c", "decrypt", "--indent", "2", "f"]
        );
        assert_eq!(t(&["c", "f.yaml"]), ["c", "edit", "f.yaml"]);
        assert_eq!(t(&["c", "-i", "f.yaml"]), ["c", "edit", "f.yaml"]);
        assert_eq!(
            t(&["c", "-r", "--add-age", "age1x", "f"]),
            ["c", "rotate", "--add-age", "age1x", "f"]
        );
        assert_eq!(
            t(&["c", "--set", "[\"a\"][0] \"v w\"", "f.json"]),
            ["c", "set", "--", "f.json", "[\"a\"][0]", "\"v w\""]
        );
        assert_eq!(t(&["c", "decrypt", "-d"]), ["c", "decrypt", "-d"]);
        // Global flags before a subcommand keep it a subcommand.
        assert_eq!(
            t(&["c", "--mac-only-encrypted", "encrypt", "f"]),
            ["c", "--mac-only-encrypted", "encrypt", "f"]
        );
        assert_eq!(
            t(&["c", "--encrypted-comment-regex", "x", "encrypt", "f"]),
            ["c", "--encrypted-comment-regex", "x", "encrypt", "f"]
        );
        assert_eq!(
            t(&["c", "--mac-only-encrypted", "-e", "f"]),
            ["c", "encrypt", "--mac-only-encrypted", "f"]
        );
        assert_eq!(t(&["c", "--help"]), ["c", "--help"]);
    }
}
