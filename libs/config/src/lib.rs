//! Layered configuration: defaults (in the clap definition) → `PMD_*` environment → command
//! line. The environment is passed in as a map, so tests never touch the process
//! environment. Every `--some-flag` can be set as `PMD_SOME_FLAG`; an explicit flag wins.
//!
//! After parsing, each service runs one `validate()` that reports every problem at once
//! through [`Problems`].

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;

use clap::{ArgAction, Command, CommandFactory, FromArgMatches};

/// The environment variable that sets `--long`: `PMD_` + the flag upper-cased, `-` → `_`.
pub fn env_name(long: &str) -> String {
    format!("PMD_{}", long.to_uppercase().replace('-', "_"))
}

/// Parse `C` from command-line `args` (the first is the program name) layered over `env`.
///
/// Flags of the top-level command, and of the subcommand named on the command line, are
/// looked up in `env`. Boolean flags are set by `1`, `true`, `yes` or `on`.
pub fn parse<C: CommandFactory + FromArgMatches>(
    args: impl IntoIterator<Item = impl Into<OsString>>,
    env: &HashMap<String, String>,
) -> Result<C, clap::Error> {
    let command = C::command()
        .args_override_self(true)
        .after_help("Every --flag can also be set as PMD_FLAG in the environment (e.g. --database-url as PMD_DATABASE_URL); a flag on the command line wins.");
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let layered = layer(&command, &args, env);
    let mut command = command;
    let matches = command.try_get_matches_from_mut(layered)?;
    C::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

/// Parse from the real process arguments and environment.
pub fn parse_process<C: CommandFactory + FromArgMatches>() -> Result<C, clap::Error> {
    let env: HashMap<String, String> = std::env::vars().collect();
    parse(std::env::args_os(), &env)
}

fn layer(command: &Command, args: &[OsString], env: &HashMap<String, String>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len() + 8);
    let mut rest = args.iter();
    if let Some(program) = rest.next() {
        out.push(program.clone());
    }
    out.extend(env_args(command, env));
    let rest: Vec<&OsString> = rest.collect();
    // Insert the subcommand's environment right after the subcommand's name.
    let sub_at = rest.iter().position(|a| {
        a.to_str()
            .is_some_and(|s| command.get_subcommands().any(|c| c.get_name() == s))
    });
    match sub_at {
        Some(i) => {
            out.extend(rest[..=i].iter().map(|a| (*a).clone()));
            if let Some(sub) = rest[i]
                .to_str()
                .and_then(|name| command.find_subcommand(name))
            {
                out.extend(env_args(sub, env));
            }
            out.extend(rest[i + 1..].iter().map(|a| (*a).clone()));
        }
        None => out.extend(rest.into_iter().cloned()),
    }
    out
}

fn env_args(command: &Command, env: &HashMap<String, String>) -> Vec<OsString> {
    let mut out = Vec::new();
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if long == "help" || long == "version" {
            continue;
        }
        let Some(value) = env.get(&env_name(long)) else {
            continue;
        };
        match arg.get_action() {
            ArgAction::SetTrue => {
                if is_truthy(value) {
                    out.push(OsString::from(format!("--{long}")));
                }
            }
            ArgAction::SetFalse => {
                if !is_truthy(value) {
                    out.push(OsString::from(format!("--{long}")));
                }
            }
            ArgAction::Append => {
                for part in value.split(',').filter(|p| !p.is_empty()) {
                    out.push(OsString::from(format!("--{long}={part}")));
                }
            }
            _ => out.push(OsString::from(format!("--{long}={value}"))),
        }
    }
    out
}

fn is_truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Every problem found by a configuration's `validate()`, reported together.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record a problem when `bad` holds.
    pub fn check(&mut self, bad: bool, problem: impl Into<String>) {
        if bad {
            self.0.push(problem.into());
        }
    }

    pub fn push(&mut self, problem: impl Into<String>) {
        self.0.push(problem.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// `Ok(())` when nothing was found, else every problem.
    pub fn into_result(self) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(self))
        }
    }
}

/// A configuration that failed validation; displays every problem on its own line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError(pub Problems);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration ({} problems):", self.0.0.len())?;
        for problem in &self.0.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

/// Check that `value` parses as a socket address, recording a problem naming `flag`.
pub fn check_socket_addr(problems: &mut Problems, flag: &str, value: &str) {
    if value.parse::<std::net::SocketAddr>().is_err() {
        problems.push(format!(
            "--{flag} must be host:port with an IP address, got {value:?}"
        ));
    }
}

/// Check that `value` looks like an http(s) URL, recording a problem naming `flag`.
pub fn check_http_url(problems: &mut Problems, flag: &str, value: &str) {
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        problems.push(format!(
            "--{flag} must be an http:// or https:// URL, got {value:?}"
        ));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::{Args, Parser, Subcommand};

    #[derive(Parser, Debug)]
    struct Demo {
        #[arg(long, default_value = "127.0.0.1:1")]
        grpc_addr: String,
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long)]
        no_seed: bool,
        #[arg(long)]
        upstream: Vec<String>,
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let demo: Demo = parse(["demo"], &env(&[])).unwrap();
        assert_eq!(demo.grpc_addr, "127.0.0.1:1");
        assert_eq!(demo.database_url, None);
        assert!(!demo.no_seed);
    }

    #[test]
    fn environment_overrides_defaults() {
        let demo: Demo = parse(
            ["demo"],
            &env(&[
                ("PMD_GRPC_ADDR", "0.0.0.0:50051"),
                ("PMD_DATABASE_URL", "postgres://x"),
                ("PMD_NO_SEED", "true"),
                ("PMD_UPSTREAM", "a,b"),
            ]),
        )
        .unwrap();
        assert_eq!(demo.grpc_addr, "0.0.0.0:50051");
        assert_eq!(demo.database_url.as_deref(), Some("postgres://x"));
        assert!(demo.no_seed);
        assert_eq!(demo.upstream, vec!["a", "b"]);
    }

    #[test]
    fn command_line_overrides_environment() {
        let demo: Demo = parse(
            ["demo", "--grpc-addr", "127.0.0.1:9"],
            &env(&[("PMD_GRPC_ADDR", "0.0.0.0:50051")]),
        )
        .unwrap();
        assert_eq!(demo.grpc_addr, "127.0.0.1:9");
    }

    #[test]
    fn false_boolean_in_environment_leaves_flag_off() {
        let demo: Demo = parse(["demo"], &env(&[("PMD_NO_SEED", "0")])).unwrap();
        assert!(!demo.no_seed);
    }

    #[derive(Parser, Debug)]
    struct Tool {
        #[arg(long, global = true, default_value = "./data")]
        data_dir: String,
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(Subcommand, Debug)]
    enum Cmd {
        Up(UpArgs),
    }

    #[derive(Args, Debug)]
    struct UpArgs {
        #[arg(long, default_value_t = 8080)]
        http_port: u16,
    }

    #[test]
    fn subcommand_flags_come_from_the_environment_too() {
        let tool: Tool = parse(
            ["pmd", "up"],
            &env(&[("PMD_HTTP_PORT", "0"), ("PMD_DATA_DIR", "/tmp/x")]),
        )
        .unwrap();
        let Cmd::Up(up) = tool.command;
        assert_eq!(up.http_port, 0);
        assert_eq!(tool.data_dir, "/tmp/x");
    }

    #[test]
    fn problems_are_reported_all_at_once() {
        let mut problems = Problems::new();
        check_socket_addr(&mut problems, "grpc-addr", "nonsense");
        check_http_url(&mut problems, "storage-url", "ftp://x");
        problems.check(true, "--database-url is required");
        let text = problems.into_result().unwrap_err().to_string();
        assert!(text.contains("3 problems"), "{text}");
        assert!(text.contains("--grpc-addr"));
        assert!(text.contains("--storage-url"));
        assert!(text.contains("--database-url"));
    }
}

/// A configuration value that must never be printed (keys, passwords in URLs).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself; the caller takes responsibility for not logging it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod secret_tests {
    use super::Secret;

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret: Secret = "hunter2".parse().unwrap_or_else(|e| match e {});
        assert_eq!(format!("{secret:?} {secret}"), "Secret(***) ***");
        assert_eq!(secret.expose(), "hunter2");
    }
}
