//! The `pmd` command as a user runs it: `pmd up` prints its ready line and serves; `pmd token`
//! prints only a token the services accept.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const PMD: &str = env!("CARGO_BIN_EXE_pmd");

/// Start `pmd up` and wait for its ready line; returns the base URL.
async fn pmd_up(data_dir: &std::path::Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(PMD)
        .arg("up")
        .args(["--http-port", "0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("pmd up printed nothing within 60 s")
        .unwrap()
        .expect("pmd up exited before it was ready");
    let url = line
        .strip_prefix("pmd ready ")
        .unwrap_or_else(|| panic!("unexpected first line on stdout: {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (child, url)
}

async fn stop(mut child: Child) {
    let pid = child.id().unwrap().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("pmd up did not stop within 30 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "pmd up exited with {status}");
}

#[tokio::test]
async fn pmd_up_prints_the_ready_line_then_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (child, url) = pmd_up(dir.path(), &[]).await;
    let ready = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(
        dir.path().join("storage.db").exists(),
        "SQLite files under the data dir"
    );
    stop(child).await;
}

#[tokio::test]
async fn pmd_up_runs_on_postgresql() {
    let db = pmd_testkit::fresh_database().await.unwrap();
    let redis = pmd_testkit::redis_url().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (child, url) = pmd_up(
        dir.path(),
        &["--database-url", &db.url, "--redis-url", &redis],
    )
    .await;
    let ready = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(
        !dir.path().join("storage.db").exists(),
        "no SQLite when PostgreSQL is given"
    );
    stop(child).await;
}

async fn pmd_token(args: &[&str]) -> std::process::Output {
    Command::new(PMD)
        .arg("token")
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn pmd_token_prints_only_a_token_that_the_services_accept() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let output = pmd_token(&[
        "personnel",
        "--hpr",
        "9144900",
        "--org",
        "974589095",
        "--data-dir",
        data_dir,
    ])
    .await;
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let token = stdout.strip_suffix('\n').unwrap();
    assert!(
        !token.contains('\n') && token.split('.').count() == 3,
        "{stdout:?}"
    );

    let issuer = pmd_auth::DevIssuer::load_or_create(dir.path()).unwrap();
    let verifier =
        pmd_auth::Verifier::new(pmd_auth::VerifierConfig::new(vec![issuer.trusted_issuer()]));
    let principal = verifier.verify(token).await.unwrap();
    assert!(principal.has_scope(pmd_auth::Scope::Read));
    let claims = decode_claims(token);
    assert_eq!(claims["helseid://claims/hpr/hpr_number"], "9144900");
    assert_eq!(claims["helseid://claims/identity/security_level"], "4");
    let exp = claims["exp"].as_i64().unwrap();
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(exp - iat, 3600, "default lifetime is one hour");
    let details = &claims["authorization_details"];
    let text = details.to_string();
    assert!(text.contains("TREAT"), "{text}");
    assert!(text.contains("Helsetjenester i hjemmet"), "{text}");
}

#[tokio::test]
async fn every_token_kind_can_be_minted() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    for args in [
        vec!["citizen", "--pid", "13116900216"],
        vec!["system", "--org", "974589095"],
        vec!["statistics"],
        vec![
            "personnel",
            "--hpr",
            "9144900",
            "--org",
            "974589095",
            "--child-org",
            "974589095",
            "--purpose",
            "BTG",
            "--name",
            "Kari Lege",
            "--ttl",
            "5m",
        ],
    ] {
        let mut full = args.clone();
        full.extend(["--data-dir", data_dir]);
        let output = pmd_token(&full).await;
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert_eq!(String::from_utf8(output.stdout).unwrap().lines().count(), 1);
    }
}

#[tokio::test]
async fn pmd_token_refuses_an_invalid_organisation_number() {
    let dir = tempfile::tempdir().unwrap();
    let output = pmd_token(&[
        "system",
        "--org",
        "974589096",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ])
    .await;
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing on stdout when refusing");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--org"), "{stderr}");
}

fn decode_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
