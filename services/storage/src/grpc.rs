//! The `StorageService` gRPC surface.

use pmd_proto::storage::v1::{self as pb, storage_service_server::StorageService};
use tonic::{Request, Response, Status};

use crate::State;

pub struct Grpc {
    pub(crate) state: State,
}

#[tonic::async_trait]
impl StorageService for Grpc {
    async fn append(
        &self,
        request: Request<pb::AppendRequest>,
    ) -> Result<Response<pb::AppendResponse>, Status> {
        let principal = pmd_auth::principal_from_request(&request)?.clone();
        let (response, wrote_events) =
            crate::append::append(&self.state.db, &principal, request.into_inner()).await?;
        if wrote_events {
            self.state.relay_wake.notify_one();
        }
        Ok(Response::new(response))
    }

    async fn query(
        &self,
        request: Request<pb::QueryRequest>,
    ) -> Result<Response<pb::QueryResponse>, Status> {
        let principal = pmd_auth::principal_from_request(&request)?.clone();
        let state = &self.state;
        let response = crate::read::query(
            &state.db,
            &state.gate,
            &state.cursor_key,
            &principal,
            request.into_inner(),
        )
        .await?;
        Ok(Response::new(response))
    }

    async fn latest(
        &self,
        request: Request<pb::LatestRequest>,
    ) -> Result<Response<pb::LatestResponse>, Status> {
        let principal = pmd_auth::principal_from_request(&request)?.clone();
        let response = crate::read::latest(
            &self.state.db,
            &self.state.gate,
            &principal,
            request.into_inner(),
        )
        .await?;
        Ok(Response::new(response))
    }

    async fn get(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::GetResponse>, Status> {
        let principal = pmd_auth::principal_from_request(&request)?.clone();
        let response = crate::read::get(
            &self.state.db,
            &self.state.gate,
            &principal,
            request.into_inner(),
        )
        .await?;
        Ok(Response::new(response))
    }
}
