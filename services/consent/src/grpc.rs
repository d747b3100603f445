//! The `ConsentService` gRPC surface: who may call what, then hand over to the modules that
//! do the work.
//!
//! | call | who |
//! | --- | --- |
//! | `Check` | `pmd:internal` (storage, passing the reader as `actor`) |
//! | `CreateBlock`, `ListBlocks` | the citizen for their own id, or `pmd:internal` |
//! | `RevokeBlock` | the citizen whose block it is, or `pmd:internal` |

use pmd_auth::principal_from_request;
use pmd_proto::consent::v1::{self as pb, consent_service_server::ConsentService};
use tonic::{Request, Response, Status};

use crate::{State, blocks, check};

pub struct Grpc {
    pub(crate) state: State,
}

#[tonic::async_trait]
impl ConsentService for Grpc {
    async fn check(
        &self,
        request: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        let principal = principal_from_request(&request)?.clone();
        let response = check::check(&self.state, &principal, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn create_block(
        &self,
        request: Request<pb::CreateBlockRequest>,
    ) -> Result<Response<pb::Block>, Status> {
        let principal = principal_from_request(&request)?.clone();
        let block = blocks::create(&self.state, &principal, request.into_inner()).await?;
        Ok(Response::new(block))
    }

    async fn revoke_block(
        &self,
        request: Request<pb::RevokeBlockRequest>,
    ) -> Result<Response<pb::Block>, Status> {
        let principal = principal_from_request(&request)?.clone();
        let block = blocks::revoke(&self.state, &principal, request.into_inner()).await?;
        Ok(Response::new(block))
    }

    async fn list_blocks(
        &self,
        request: Request<pb::ListBlocksRequest>,
    ) -> Result<Response<pb::ListBlocksResponse>, Status> {
        let principal = principal_from_request(&request)?.clone();
        let response = blocks::list(&self.state, &principal, request.into_inner()).await?;
        Ok(Response::new(response))
    }
}
