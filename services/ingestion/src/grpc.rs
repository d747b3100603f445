//! The `IngestionService` gRPC surface. Submit arrives with the write-path issue; until then
//! it answers UNIMPLEMENTED, after authentication.

use pmd_error::ServiceError;
use pmd_proto::ingestion::v1::{self as pb, ingestion_service_server::IngestionService};
use tonic::{Request, Response, Status};

use crate::State;

pub struct Grpc {
    #[allow(dead_code)] // used by Submit, which the write path adds
    pub(crate) state: State,
}

#[tonic::async_trait]
impl IngestionService for Grpc {
    async fn submit(
        &self,
        _request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        Err(ServiceError::unimplemented("ingestion submit").into())
    }
}
