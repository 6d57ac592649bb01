//! The `ccsecrets` binary: parse flags, read the environment once, run one subcommand, map
//! its error to an exit code. No format or crypto logic lives here.
#![forbid(unsafe_code)]

mod cleanup;
mod cli;
mod commands;
mod env;
mod error;
mod legacy;
mod output;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::CliError;

fn run(cli: Cli, env: &env::Env) -> Result<(), CliError> {
    let global = commands::Global {
        config: cli.config.clone().or_else(|| env.sops_config.clone()),
        indent: cli.indent,
        mac_only_encrypted: cli.mac_only_encrypted,
        encrypted_comment_regex: cli.encrypted_comment_regex.clone(),
        unencrypted_comment_regex: cli.unencrypted_comment_regex.clone(),
    };
    match cli.command {
        Command::Encrypt(args) => commands::encrypt::run(args, &global, env),
        Command::Decrypt(args) => commands::decrypt::run(args, &global, env),
        Command::Filestatus(args) => commands::filestatus::run(args),
        Command::Set(args) => commands::set::run(args, &global, env),
        Command::Unset(args) => commands::unset::run(args, &global, env),
        Command::Rotate(args) => commands::rotate::run(args, &global, env),
        Command::Updatekeys(args) => commands::updatekeys::run(args, &global, env),
        Command::Groups(args) => commands::groups::run(args, &global, env),
        Command::Edit(args) => commands::edit::run(args, &global, env),
        Command::ExecEnv(args) => commands::exec_env::run(args, env),
        Command::ExecFile(args) => commands::exec_file::run(args, env),
        Command::SshToAge(args) => commands::ssh_to_age::run(args),
        Command::Keygen(args) => commands::keygen::run(args),
        Command::Validate(args) => commands::validate::run(args, env),
        Command::Nix(args) => commands::nix::run(args),
        Command::Install(args) => commands::install::run(args, env),
        Command::Init(args) => commands::init::run(args, env),
        Command::Cert(args) => commands::cert::run(args, env),
        Command::Recipients(args) => commands::recipients::run(args),
        Command::Rekey(args) => commands::rekey::run(args, env),
    }
}

fn main() {
    let cli = match Cli::try_parse_from(legacy::translate(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(e) => {
            // Usage errors exit 1, as in sops; --help and --version exit 0.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let env = env::Env::read();
    if let Err(e) = run(cli, &env) {
        output::error(&e.to_string());
        std::process::exit(e.code);
    }
}
