//! The text-generation routes of a build without the `generation` feature (the edge worker
//! today): each answers 404 saying so, so the route table stays one table in every build.

use super::error::ApiError;

fn absent() -> ApiError {
    ApiError::not_found(
        "this build of maas serves no text generation (built without the `generation` feature)",
    )
}

pub async fn completions() -> ApiError {
    absent()
}

pub async fn chat_completions() -> ApiError {
    absent()
}

pub async fn list_models() -> ApiError {
    absent()
}

pub async fn retrieve_model() -> ApiError {
    absent()
}

pub async fn kserve_generate() -> ApiError {
    absent()
}

pub async fn kserve_generate_stream() -> ApiError {
    absent()
}
