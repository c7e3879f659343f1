//! `GET /api/v1/journal/export` (scope `admin`): the journal as an archive
//! (`journal::archive`), streamed: the whole global log, or `?runId=` one run and its
//! workflow, or `?workflowId=` a workflow and its runs (`engine::export`). The body is
//! written page by page as the store is read, at most a few pages in memory; it stops at the
//! position committed when the request began. A failure part-way aborts the body, so the
//! client's copy has no trailer and `duro journal verify --in` rejects it.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use engine::export::{ExportError, ExportPages};
use journal::archive::{ArchiveHeader, ArchiveScope, ArchiveWriter};
use tokio::sync::mpsc;

use crate::error::{ApiError, ErrorEnvelope};
use crate::openapi::{Forbidden, Internal, Unauthorized};
use crate::query::QueryParams;
use crate::AppState;
use credentials::keys::Scope;

/// Chunks of the body waiting for the client: the bound on the route's memory (with the
/// page being read).
const CHUNKS_IN_FLIGHT: usize = 4;
/// A chunk is sent once this many bytes are buffered.
const CHUNK_BYTES: usize = 256 * 1024;

pub fn router(state: &AppState) -> Router<AppState> {
    super::scoped(
        state,
        Scope::Admin,
        Router::new().route("/api/v1/journal/export", get(export)),
    )
}

/// The scope of an export from its query (`runId`, `workflowId`).
fn scope_of(
    mut query: std::collections::HashMap<String, String>,
) -> Result<ArchiveScope, ApiError> {
    match (query.remove("runId"), query.remove("workflowId")) {
        (Some(_), Some(_)) => Err(ApiError::invalid_field(
            &["runId"],
            "give runId or workflowId, not both",
        )),
        (Some(run), None) => Ok(ArchiveScope::Run(run)),
        (None, Some(workflow)) => Ok(ArchiveScope::Workflow(workflow)),
        (None, None) => Ok(ArchiveScope::All),
    }
}

impl From<ExportError> for ApiError {
    fn from(error: ExportError) -> ApiError {
        match error {
            ExportError::RunNotFound(_) => ApiError::NotFound("Run not found".to_owned()),
            ExportError::WorkflowNotFound(_) => ApiError::NotFound("Workflow not found".to_owned()),
            ExportError::Store(error) => error.into(),
            ExportError::Corrupt { .. } => ApiError::Internal(error.to_string()),
        }
    }
}

/// Export the journal
///
/// Required scope: `admin`. The journal as a Duro archive (docs/journal-format.md, section
/// 14): the whole global log, or one run (`runId`: its stream and its workflow's), or one
/// workflow (`workflowId`: its stream and its runs' streams), up to the position committed
/// when the request began. Streamed as it is read; a failure part-way cuts the body short,
/// which `duro journal verify --in FILE` rejects. `duro journal export --url` downloads it.
#[utoipa::path(
    get,
    path = "/api/v1/journal/export",
    tag = "journal",
    params(
        ("runId" = Option<String>, Query, min_length = 1, description = "Export only this run and its workflow."),
        ("workflowId" = Option<String>, Query, min_length = 1, description = "Export only this workflow and its runs."),
    ),
    responses(
        (status = 200, description = "The archive.", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 400, description = "VALIDATION_ERROR: both `runId` and `workflowId`, or a parameter empty or given twice.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Run not found\" or \"Workflow not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn export(
    State(state): State<AppState>,
    QueryParams(query): QueryParams,
) -> Result<Response, ApiError> {
    let scope = scope_of(query)?;
    let pages = ExportPages::open(state.engine.store().clone(), &scope).await?;
    let header = ArchiveHeader::new(
        format!("duro server, committed position {}", pages.upto().0),
        scope,
    );
    let writer =
        ArchiveWriter::new(Vec::new(), header).map_err(|e| ApiError::Internal(e.to_string()))?;
    let (chunks, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::spawn(produce(pages, writer, chunks));
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"duro-journal.duroarch\"",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

type Chunk = Result<Bytes, std::io::Error>;

/// Reads the selection page by page and sends the archive's bytes as they are written.
/// Stops when the client goes away (the channel closes).
async fn produce(
    mut pages: ExportPages,
    mut writer: ArchiveWriter<Vec<u8>>,
    chunks: mpsc::Sender<Chunk>,
) {
    let failed = |error: String| {
        tracing::warn!(%error, "journal export failed part-way; the body is cut short");
        Err(std::io::Error::other(error))
    };
    loop {
        let page = match pages.next_page().await {
            Ok(Some(page)) => page,
            Ok(None) => break,
            Err(error) => {
                let _ = chunks.send(failed(error.to_string())).await;
                return;
            }
        };
        for event in &page {
            if let Err(error) = writer.write(event) {
                let _ = chunks.send(failed(error.to_string())).await;
                return;
            }
            if writer.get_mut().len() >= CHUNK_BYTES && !send(&mut writer, &chunks).await {
                return;
            }
        }
    }
    match writer.finish_into_inner() {
        Ok((_, rest)) => {
            let _ = chunks.send(Ok(Bytes::from(rest))).await;
        }
        Err(error) => {
            let _ = chunks.send(failed(error.to_string())).await;
        }
    }
}

/// Sends what the writer holds; false if the client is gone or writing failed.
async fn send(writer: &mut ArchiveWriter<Vec<u8>>, chunks: &mpsc::Sender<Chunk>) -> bool {
    if let Err(error) = writer.flush() {
        let _ = chunks
            .send(Err(std::io::Error::other(error.to_string())))
            .await;
        return false;
    }
    let bytes = std::mem::take(writer.get_mut());
    chunks.send(Ok(Bytes::from(bytes))).await.is_ok()
}
