//! The `IngestionService` gRPC surface.

use pmd_proto::ingestion::v1::{self as pb, ingestion_service_server::IngestionService};
use tonic::{Request, Response, Status};

use crate::State;

pub struct Grpc {
    pub(crate) state: State,
}

#[tonic::async_trait]
impl IngestionService for Grpc {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let principal = pmd_auth::principal_from_request(&request)?.clone();
        let response = crate::submit::submit(
            &self.state.storage,
            &self.state.ids,
            &principal,
            request.into_inner(),
        )
        .await?;
        Ok(Response::new(response))
    }
}
