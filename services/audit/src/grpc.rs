//! The `AuditService` gRPC surface. Record, Query, Verify and Follow arrive with the
//! write-path issue; until then they answer UNIMPLEMENTED, after authentication.

use std::pin::Pin;

use pmd_error::ServiceError;
use pmd_proto::audit::v1::{self as pb, audit_service_server::AuditService};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::State;

pub struct Grpc {
    #[allow(dead_code)] // used by the RPCs the write path adds
    pub(crate) state: State,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::AuditEvent, Status>> + Send>>;

#[tonic::async_trait]
impl AuditService for Grpc {
    async fn record(
        &self,
        _request: Request<pb::RecordRequest>,
    ) -> Result<Response<pb::RecordResponse>, Status> {
        Err(ServiceError::unimplemented("audit record").into())
    }

    async fn query(
        &self,
        _request: Request<pb::QueryRequest>,
    ) -> Result<Response<pb::QueryResponse>, Status> {
        Err(ServiceError::unimplemented("audit query").into())
    }

    async fn verify(
        &self,
        _request: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        Err(ServiceError::unimplemented("audit verify").into())
    }

    type FollowStream = EventStream;

    async fn follow(
        &self,
        _request: Request<pb::FollowRequest>,
    ) -> Result<Response<Self::FollowStream>, Status> {
        Err(ServiceError::unimplemented("audit follow").into())
    }
}
