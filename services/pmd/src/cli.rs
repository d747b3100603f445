//! The `pmd` command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Pasientens måledata: the national service for home-monitoring measurements.
#[derive(Parser, Debug)]
#[command(name = "pmd", version, about)]
pub struct Cli {
    /// Where the embedded mode keeps its SQLite files, dev-issuer key and audit checkpoints.
    #[arg(long, global = true, default_value = "./pmd-data")]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run every service in this process (embedded default: SQLite, in-process cache, dev
    /// token issuer). Prints `pmd ready http://127.0.0.1:PORT` once all are SERVING.
    Up(UpArgs),
    /// Mint a development token from the dev issuer in the data dir (prints only the token).
    Token(TokenArgs),
    /// Print the dev issuer's public keys (JWKS JSON), for services that should trust it.
    Jwks,
    /// Benchmarks (see docs/benchmarks.md).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Batch Bundles through the REST edge into PostgreSQL: measurements/s and batch latency.
    Ingest(crate::bench::IngestArgs),
    /// Consent-checked, audited searches through the REST edge: searches/s and latency.
    Read(crate::bench_read::ReadArgs),
}

#[derive(Args, Debug, Clone)]
pub struct UpArgs {
    /// HTTP port of the edge on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 8080)]
    pub http_port: u16,
    /// Address the edge binds (use 0.0.0.0 to reach it from other machines).
    #[arg(long, default_value = "127.0.0.1")]
    pub http_host: String,
    /// PostgreSQL URL instead of SQLite files (each service in its own schema).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Redis URL for the consent decision cache instead of the in-process cache.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// Organisation register (CSV: orgnr,name,type,municipality_number) instead of the
    /// shipped sample organisations; used by the access log and statistics.
    #[arg(long, value_name = "PATH")]
    pub org_register: Option<PathBuf>,
    /// Start without the synthetic demo patients.
    #[arg(long)]
    pub no_seed: bool,
    /// Do not trust the dev token issuer (then --token-issuer and a JWKS are required).
    #[arg(long)]
    pub no_dev_issuer: bool,
    /// An external issuer to trust as well (e.g. HelseID).
    #[arg(long)]
    pub token_issuer: Option<String>,
    #[arg(long, default_value = "pmd")]
    pub token_audience: String,
    #[arg(long)]
    pub jwks_url: Option<String>,
    #[arg(long)]
    pub jwks_file: Option<PathBuf>,
    /// Log format: auto, json or pretty. Logs go to stderr.
    #[arg(long, default_value = "auto", value_parser = ["auto", "json", "pretty"])]
    pub log_format: String,
    #[arg(long, default_value = "info")]
    pub log_filter: String,
}

#[derive(Args, Debug, Clone)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub kind: TokenKind,
    /// Lifetime: seconds, or with a unit (`90s`, `30m`, `1h`, `2d`).
    #[arg(long, global = true, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: std::time::Duration,
}

#[derive(Subcommand, Debug, Clone)]
pub enum TokenKind {
    /// Health personnel (scope pmd:read) with the trust-framework attestation.
    Personnel {
        /// HPR number (1–9 digits).
        #[arg(long)]
        hpr: String,
        /// Legal entity's organisation number.
        #[arg(long)]
        org: String,
        /// Point of care's organisation number.
        #[arg(long)]
        child_org: Option<String>,
        /// Display name (default: a generated one).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_enum, default_value_t = PurposeArg::Treat)]
        purpose: PurposeArg,
        #[arg(long, default_value_t = 4)]
        security_level: u8,
        /// The practitioner's own national id, when wanted.
        #[arg(long)]
        pid: Option<String>,
    },
    /// A citizen (scope pmd:citizen).
    Citizen {
        /// The citizen's national id.
        #[arg(long)]
        pid: String,
    },
    /// A source system (scope pmd:write).
    System {
        /// The source's organisation number.
        #[arg(long)]
        org: String,
        #[arg(long)]
        child_org: Option<String>,
    },
    /// The health directorate's statistics client (scope pmd:statistics).
    Statistics,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
#[value(rename_all = "UPPER")]
pub enum PurposeArg {
    Treat,
    Etreat,
    Coc,
    Btg,
}

/// `3600`, `90s`, `30m`, `1h`, `2d`.
pub fn parse_ttl(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| {
        format!("ttl must be a number with an optional unit s, m, h or d, got {text:?}")
    })?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("unknown ttl unit {unit:?}; use s, m, h or d")),
    };
    if seconds == 0 {
        return Err("ttl must be positive".into());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ttl_accepts_plain_seconds_and_units() {
        assert_eq!(parse_ttl("3600").unwrap().as_secs(), 3600);
        assert_eq!(parse_ttl("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_ttl("30m").unwrap().as_secs(), 1800);
        assert_eq!(parse_ttl("1h").unwrap().as_secs(), 3600);
        assert_eq!(parse_ttl("2d").unwrap().as_secs(), 172_800);
        assert!(parse_ttl("0").is_err());
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("h").is_err());
    }

    #[test]
    fn data_dir_is_accepted_anywhere_on_the_line() {
        let env = std::collections::HashMap::new();
        let a: Cli = pmd_config::parse(
            [
                "pmd",
                "--data-dir",
                "/tmp/a",
                "token",
                "citizen",
                "--pid",
                "x",
            ],
            &env,
        )
        .unwrap();
        let b: Cli = pmd_config::parse(
            [
                "pmd",
                "token",
                "citizen",
                "--pid",
                "x",
                "--data-dir",
                "/tmp/a",
            ],
            &env,
        )
        .unwrap();
        assert_eq!(a.data_dir, PathBuf::from("/tmp/a"));
        assert_eq!(b.data_dir, PathBuf::from("/tmp/a"));
    }

    #[test]
    fn personnel_defaults_to_treat_and_level_four() {
        let cli: Cli = pmd_config::parse(
            [
                "pmd",
                "token",
                "personnel",
                "--hpr",
                "9144900",
                "--org",
                "974589095",
            ],
            &std::collections::HashMap::new(),
        )
        .unwrap();
        let Command::Token(TokenArgs {
            kind:
                TokenKind::Personnel {
                    purpose,
                    security_level,
                    ..
                },
            ttl,
        }) = cli.command
        else {
            panic!("expected a personnel token command");
        };
        assert_eq!(purpose, PurposeArg::Treat);
        assert_eq!(security_level, 4);
        assert_eq!(ttl.as_secs(), 3600);
    }
}
