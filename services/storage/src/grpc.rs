//! The `StorageService` gRPC surface. Query, Latest and Get arrive with the read-path issue;
//! until then they answer UNIMPLEMENTED, after authentication.

use pmd_error::ServiceError;
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
        _request: Request<pb::QueryRequest>,
    ) -> Result<Response<pb::QueryResponse>, Status> {
        Err(ServiceError::unimplemented("storage query").into())
    }

    async fn latest(
        &self,
        _request: Request<pb::LatestRequest>,
    ) -> Result<Response<pb::LatestResponse>, Status> {
        Err(ServiceError::unimplemented("storage latest").into())
    }

    async fn get(
        &self,
        _request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::GetResponse>, Status> {
        Err(ServiceError::unimplemented("storage get").into())
    }
}
