//! The `StorageService` gRPC surface. Append, Query, Latest and Get arrive with the
//! write-path and read-path issues; until then they answer UNIMPLEMENTED, after the caller
//! was authenticated by the server's auth layer.

use pmd_error::ServiceError;
use pmd_proto::storage::v1::{self as pb, storage_service_server::StorageService};
use tonic::{Request, Response, Status};

use crate::State;

pub struct Grpc {
    #[allow(dead_code)] // used by the RPCs the write and read paths add
    pub(crate) state: State,
}

#[tonic::async_trait]
impl StorageService for Grpc {
    async fn append(
        &self,
        _request: Request<pb::AppendRequest>,
    ) -> Result<Response<pb::AppendResponse>, Status> {
        Err(ServiceError::unimplemented("storage append").into())
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
