//! Who may ask: only tokens with scope `pmd:statistics`, over REST and gRPC.

use pmd_auth::TokenRequest;
use pmd_proto::statistics::v1::{AdoptionRequest, ExportRequest, UsageRequest};
use pmd_testkit::{Backend, spawn_mesh_on, with_token};

const PATHS: [&str; 3] = [
    "/api/statistics/usage",
    "/api/statistics/adoption",
    "/api/statistics/export",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statistics_refuse_every_token_without_the_statistics_scope() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let others = [
        ("personnel", TokenRequest::personnel("9144900", "974589095")),
        (
            "citizen",
            TokenRequest::citizen(pmd_domain::synthetic_fnr(3)),
        ),
        ("source system", TokenRequest::system("974589095")),
        ("platform service", TokenRequest::service("storage")),
    ];
    for path in PATHS {
        let anonymous = mesh.http.get(mesh.url(path)).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{path} without a token");
        for (who, request) in &others {
            let response = mesh
                .http
                .get(mesh.url(path))
                .bearer_auth(mesh.token(request))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 403, "{path} as {who}");
            let outcome: serde_json::Value = response.json().await.unwrap();
            assert_eq!(outcome["resourceType"], "OperationOutcome");
        }
        let allowed = mesh
            .http
            .get(mesh.url(path))
            .bearer_auth(mesh.token(&TokenRequest::statistics()))
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status(), 200, "{path} with pmd:statistics");
    }

    // gRPC the same: the service decides, not only the edge.
    let mut client = mesh.statistics();
    for (who, request) in &others {
        let token = mesh.token(request);
        let usage = client
            .usage(with_token(UsageRequest::default(), &token))
            .await
            .unwrap_err();
        assert_eq!(
            usage.code(),
            tonic::Code::PermissionDenied,
            "usage as {who}"
        );
        let adoption = client
            .adoption(with_token(AdoptionRequest::default(), &token))
            .await
            .unwrap_err();
        assert_eq!(
            adoption.code(),
            tonic::Code::PermissionDenied,
            "adoption as {who}"
        );
        let export = client
            .export(with_token(ExportRequest::default(), &token))
            .await
            .err()
            .map(|s| s.code());
        assert_eq!(
            export,
            Some(tonic::Code::PermissionDenied),
            "export as {who}"
        );
    }
    let unauthenticated = client.usage(UsageRequest::default()).await.unwrap_err();
    assert_eq!(unauthenticated.code(), tonic::Code::Unauthenticated);
    let token = mesh.token(&TokenRequest::statistics());
    assert!(
        client
            .usage(with_token(UsageRequest::default(), &token))
            .await
            .is_ok()
    );
    mesh.stop().await.unwrap();
}
