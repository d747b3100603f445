//! `pmd token` and `pmd jwks`: development tokens from the dev issuer kept in the data dir.
//! Identifiers are checked before a token is minted, so a typo fails here, not later.

use std::path::Path;

use anyhow::{Context, bail};
use pmd_auth::{DevIssuer, Purpose, TokenRequest};
use pmd_domain::{HprNumber, IdPolicy, NationalId, OrgNumber};

use crate::cli::{PurposeArg, TokenArgs, TokenKind};

/// Mint the token the arguments describe.
pub fn mint(data_dir: &Path, args: &TokenArgs) -> anyhow::Result<String> {
    let request = request(args)?;
    let issuer = DevIssuer::load_or_create(data_dir)
        .with_context(|| format!("dev issuer in {}", data_dir.display()))?;
    Ok(issuer.mint(&request)?)
}

/// The dev issuer's JWKS as JSON.
pub fn jwks(data_dir: &Path) -> anyhow::Result<String> {
    let issuer = DevIssuer::load_or_create(data_dir)
        .with_context(|| format!("dev issuer in {}", data_dir.display()))?;
    Ok(serde_json::to_string_pretty(&issuer.jwks())?)
}

/// The token request for the arguments, with identifiers validated.
pub fn request(args: &TokenArgs) -> anyhow::Result<TokenRequest> {
    // The embedded mode accepts synthetic test ids, so its tokens may carry them.
    let ids = IdPolicy::embedded();
    let request = match &args.kind {
        TokenKind::Personnel {
            hpr,
            org,
            child_org,
            name,
            purpose,
            security_level,
            pid,
        } => {
            HprNumber::parse(hpr).map_err(|e| anyhow::anyhow!("--hpr: {e}"))?;
            check_org("--org", org)?;
            if !matches!(security_level, 3 | 4) {
                bail!("--security-level must be 3 or 4");
            }
            let mut request = TokenRequest::personnel(hpr.clone(), org.clone())
                .purpose(match purpose {
                    PurposeArg::Treat => Purpose::Treat,
                    PurposeArg::Etreat => Purpose::Etreat,
                    PurposeArg::Coc => Purpose::Coc,
                    PurposeArg::Btg => Purpose::Btg,
                })
                .security_level(*security_level);
            if let Some(child) = child_org {
                check_org("--child-org", child)?;
                request = request.child_org(child.clone());
            }
            if let Some(name) = name {
                request = request.name(name.clone());
            }
            if let Some(pid) = pid {
                NationalId::parse(pid, &ids).map_err(|e| anyhow::anyhow!("--pid: {e}"))?;
                request = request.pid(pid.clone());
            }
            request
        }
        TokenKind::Citizen { pid } => {
            NationalId::parse(pid, &ids).map_err(|e| anyhow::anyhow!("--pid: {e}"))?;
            TokenRequest::citizen(pid.clone())
        }
        TokenKind::System { org, child_org } => {
            check_org("--org", org)?;
            let mut request = TokenRequest::system(org.clone());
            if let Some(child) = child_org {
                check_org("--child-org", child)?;
                request = request.child_org(child.clone());
            }
            request
        }
        TokenKind::Statistics => TokenRequest::statistics(),
    };
    Ok(request.ttl(args.ttl))
}

fn check_org(flag: &str, org: &str) -> anyhow::Result<()> {
    OrgNumber::parse(org).map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
    Ok(())
}
