//! The `ConsentService` gRPC surface. Check, CreateBlock, RevokeBlock and ListBlocks arrive
//! with the read-path issue; until then they answer UNIMPLEMENTED, after authentication.

use pmd_error::ServiceError;
use pmd_proto::consent::v1::{self as pb, consent_service_server::ConsentService};
use tonic::{Request, Response, Status};

use crate::State;

pub struct Grpc {
    #[allow(dead_code)] // used by the RPCs the read path adds
    pub(crate) state: State,
}

#[tonic::async_trait]
impl ConsentService for Grpc {
    async fn check(
        &self,
        _request: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        Err(ServiceError::unimplemented("consent check").into())
    }

    async fn create_block(
        &self,
        _request: Request<pb::CreateBlockRequest>,
    ) -> Result<Response<pb::Block>, Status> {
        Err(ServiceError::unimplemented("consent create block").into())
    }

    async fn revoke_block(
        &self,
        _request: Request<pb::RevokeBlockRequest>,
    ) -> Result<Response<pb::Block>, Status> {
        Err(ServiceError::unimplemented("consent revoke block").into())
    }

    async fn list_blocks(
        &self,
        _request: Request<pb::ListBlocksRequest>,
    ) -> Result<Response<pb::ListBlocksResponse>, Status> {
        Err(ServiceError::unimplemented("consent list blocks").into())
    }
}
