//! Generated protobuf and gRPC code for every PMD service contract (`proto/`).
//!
//! Domain crates never expose these types: services convert at their boundary.

#![allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]

/// Encoded `FileDescriptorSet` of every contract, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/pmd_descriptor.bin"));

pub mod common {
    pub mod v1 {
        tonic::include_proto!("pmd.common.v1");
    }
}
pub mod storage {
    pub mod v1 {
        tonic::include_proto!("pmd.storage.v1");
    }
}
pub mod ingestion {
    pub mod v1 {
        tonic::include_proto!("pmd.ingestion.v1");
    }
}
pub mod consent {
    pub mod v1 {
        tonic::include_proto!("pmd.consent.v1");
    }
}
pub mod audit {
    pub mod v1 {
        tonic::include_proto!("pmd.audit.v1");
    }
}
pub mod statistics {
    pub mod v1 {
        tonic::include_proto!("pmd.statistics.v1");
    }
}
