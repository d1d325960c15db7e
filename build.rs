//! Generates the KServe V2 gRPC service (`inference.GRPCInferenceService`) from the vendored
//! `src/grpc/proto/grpc_predict_v2.proto` when the `serve` feature is on. protox parses the
//! .proto in Rust, so no system `protoc` is needed.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "serve")]
    generate_grpc();
}

#[cfg(feature = "serve")]
fn generate_grpc() {
    let proto = "src/grpc/proto/grpc_predict_v2.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = match protox::compile([proto], ["src/grpc/proto"]) {
        Ok(descriptors) => descriptors,
        Err(e) => panic!("cannot compile {proto}: {e}"),
    };
    if let Err(e) = tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)
    {
        panic!("cannot generate the gRPC code of {proto}: {e}");
    }
}
