//! KServe V2 over gRPC (`inference.GRPCInferenceService`, the Open Inference Protocol's
//! published .proto, vendored in `proto/` with its licence) for `maas serve --grpc-port`: the
//! same model, checks, admission and deadlines as the HTTP routes, errors as gRPC status codes.

mod convert;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tonic::{Request, Response, Status};

use crate::protocol::kserve;
use crate::server::error::ApiError;
use crate::server::{handlers, AppState};

/// The code generated from `proto/grpc_predict_v2.proto` by `build.rs`.
#[allow(clippy::all, clippy::unwrap_used, clippy::expect_used, missing_docs)]
pub mod inference {
    tonic::include_proto!("inference");
}

use inference::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};
use inference::*;

/// The gRPC service over a server's shared state.
pub struct InferenceService {
    state: AppState,
}

/// The service, with the request size limit of HTTP (`MAAS_MAX_BODY_BYTES`) as its largest
/// message.
pub fn service(state: AppState) -> GrpcInferenceServiceServer<InferenceService> {
    let limit = state.config.max_body_bytes;
    GrpcInferenceServiceServer::new(InferenceService { state })
        .max_decoding_message_size(limit)
        .max_encoding_message_size(usize::MAX)
}

/// An HTTP error as the gRPC status a client of this protocol expects.
pub fn status_of(error: ApiError) -> Status {
    let message = error.message;
    match error.status {
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => {
            Status::invalid_argument(message)
        }
        StatusCode::NOT_FOUND => Status::not_found(message),
        StatusCode::SERVICE_UNAVAILABLE if error.retry_after.is_some() => {
            Status::resource_exhausted(message)
        }
        StatusCode::SERVICE_UNAVAILABLE => Status::unavailable(message),
        StatusCode::GATEWAY_TIMEOUT => Status::deadline_exceeded(message),
        StatusCode::INTERNAL_SERVER_ERROR => Status::internal(message),
        _ => Status::unknown(message),
    }
}

/// The client's deadline from the `grpc-timeout` header (`<digits><unit>`, unit one of
/// H M S m u n), as the gRPC HTTP/2 protocol sends it.
fn client_timeout<T>(request: &Request<T>) -> Option<Duration> {
    let text = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value.saturating_mul(3600)),
        "M" => Duration::from_secs(value.saturating_mul(60)),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

/// A version field: empty means the one served.
fn version(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

#[tonic::async_trait]
impl GrpcInferenceService for InferenceService {
    async fn server_live(
        &self,
        _: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        let ready = !self.state.is_draining() && self.state.model.current().is_ok();
        Ok(Response::new(ServerReadyResponse { ready }))
    }

    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        let request = request.into_inner();
        let ready =
            match handlers::served(&self.state, Some(&request.name), version(&request.version)) {
                Ok(_) => !self.state.is_draining(),
                Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => false,
                Err(e) => return Err(status_of(e)),
            };
        Ok(Response::new(ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        Ok(Response::new(ServerMetadataResponse {
            name: "maas".into(),
            version: crate::MAAS_VERSION.into(),
            extensions: vec![],
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let request = request.into_inner();
        let current = handlers::served(&self.state, Some(&request.name), version(&request.version))
            .map_err(status_of)?;
        let metadata = kserve::model_metadata(&current.name, current.version, &current.model);
        let tensor = |t: kserve::MetadataTensor| model_metadata_response::TensorMetadata {
            name: t.name,
            datatype: t.datatype,
            shape: t.shape,
        };
        Ok(Response::new(ModelMetadataResponse {
            name: metadata.name,
            versions: metadata.versions,
            platform: metadata.platform,
            inputs: metadata.inputs.into_iter().map(tensor).collect(),
            outputs: metadata.outputs.into_iter().map(tensor).collect(),
        }))
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let started = Instant::now();
        let deadline = client_timeout(&request);
        let request = request.into_inner();
        let state = &self.state;
        let current: Arc<_> = handlers::served(
            state,
            Some(&request.model_name),
            version(&request.model_version),
        )
        .map_err(status_of)?;
        let limit = state.config.max_elements();
        let (infer, binary) = convert::kserve_request(request)
            .map_err(|e| status_of(ApiError::bad_request(e.to_string())))?;
        let checked = kserve::selected_outputs(&infer, &current.model).and_then(|selected| {
            kserve::tensors_from_request(&infer, &binary, &current.model, limit)
                .map(|tensors| (selected, tensors))
        });
        let (selected, tensors) = checked.map_err(|e| status_of(e.into()))?;
        drop(binary);
        let outputs = handlers::run_tensors(
            state,
            current.clone(),
            tensors,
            "ModelInfer",
            started,
            deadline,
            None,
        )
        .await
        .map_err(status_of)?;
        Ok(Response::new(convert::response(
            &current, infer.id, &outputs, &selected,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_deadlines_parse_in_every_unit_and_refuse_garbage() {
        let timeout = |text: &str| {
            let mut request = Request::new(());
            request
                .metadata_mut()
                .insert("grpc-timeout", text.parse().unwrap());
            client_timeout(&request)
        };
        assert_eq!(timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(timeout("1500u"), Some(Duration::from_micros(1500)));
        assert_eq!(timeout("99n"), Some(Duration::from_nanos(99)));
        assert_eq!(timeout("5x"), None);
        assert_eq!(timeout("m"), None);
        assert_eq!(client_timeout(&Request::new(())), None);
    }

    #[test]
    fn http_errors_map_to_the_grpc_codes_clients_expect() {
        use tonic::Code;
        let code = |e: ApiError| status_of(e).code();
        assert_eq!(code(ApiError::bad_request("x")), Code::InvalidArgument);
        assert_eq!(code(ApiError::not_found("x")), Code::NotFound);
        assert_eq!(code(ApiError::busy("x", 1)), Code::ResourceExhausted);
        assert_eq!(
            code(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not loaded")),
            Code::Unavailable
        );
        assert_eq!(
            code(ApiError::new(StatusCode::GATEWAY_TIMEOUT, "late")),
            Code::DeadlineExceeded
        );
        assert_eq!(
            code(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "bug")),
            Code::Internal
        );
    }
}
