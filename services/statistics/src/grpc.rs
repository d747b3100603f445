//! The `StatisticsService` gRPC surface. Usage, Adoption and Export arrive with the
//! statistics issue; until then they answer UNIMPLEMENTED, after authentication.

use std::pin::Pin;

use pmd_error::ServiceError;
use pmd_proto::statistics::v1::{self as pb, statistics_service_server::StatisticsService};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::State;

pub struct Grpc {
    #[allow(dead_code)] // used by the RPCs the statistics issue adds
    pub(crate) state: State,
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::ExportChunk, Status>> + Send>>;

#[tonic::async_trait]
impl StatisticsService for Grpc {
    async fn usage(
        &self,
        _request: Request<pb::UsageRequest>,
    ) -> Result<Response<pb::UsageResponse>, Status> {
        Err(ServiceError::unimplemented("statistics usage").into())
    }

    async fn adoption(
        &self,
        _request: Request<pb::AdoptionRequest>,
    ) -> Result<Response<pb::AdoptionResponse>, Status> {
        Err(ServiceError::unimplemented("statistics adoption").into())
    }

    type ExportStream = ChunkStream;

    async fn export(
        &self,
        _request: Request<pb::ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        Err(ServiceError::unimplemented("statistics export").into())
    }
}
