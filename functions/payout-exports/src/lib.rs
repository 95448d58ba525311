//! `payout-exports` (SPEC §10, §20): the export routes, the worker on the
//! export queue and the monthly schedule, over the export use case
//! (`partnerops_app::exports`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use partnerops_api::lambda::{self, Triggers, each_message};
use partnerops_api::problem::ApiResult;
use partnerops_api::{ApiContext, ApiJson, Problem, Route, build_router};
use partnerops_app::exports::{CSV, ExportFile, ExportJob, Exports, Started, open_file};
use partnerops_domain::auth::Role;
use partnerops_domain::payout::Period;
use serde::Deserialize;
use std::sync::Arc;

/// The template's queue of exports to run.
pub const QUEUE: &str = "ExportQueue";
/// The 1st of each month at 02:00 UTC, for the month before.
pub const SCHEDULE: &str = "cron(0 2 1 * ? *)";

/// What the export routes use: the export use case.
#[derive(Clone)]
pub struct ExportApi {
    pub exports: Arc<Exports>,
}

pub fn routes() -> Vec<Route<ExportApi>> {
    vec![
        Route::post("/v1/payouts/exports", &[Role::Finance], post_export),
        Route::get("/v1/payouts/exports/{period}", &[Role::Finance, Role::Admin], get_export),
        Route::get("/v1/payouts/exports/{period}/lines.csv", &[Role::Finance, Role::Admin], get_lines),
    ]
}

pub fn router(context: &ApiContext, state: ExportApi) -> axum::Router {
    build_router(routes(), context, state)
}

/// The worker and the schedule: what the function serves besides its routes.
pub struct ExportWorker(pub Arc<Exports>);

impl ExportWorker {
    /// A batch from the export queue, one job at a time: a job is a whole
    /// month's file.
    pub async fn handle_batch(&self, batch: SqsEvent) -> SqsBatchResponse {
        each_message(&batch, 1, |lambda::Json(job): lambda::Json<ExportJob>| async move {
            let period = Period::parse(&job.period).map_err(|e| anyhow::anyhow!("not an export job: {e}"))?;
            self.0.run(period).await?;
            Ok(())
        })
        .await
    }
}

impl Triggers for ExportWorker {
    async fn batch(&self, batch: SqsEvent) -> SqsBatchResponse {
        self.handle_batch(batch).await
    }

    /// The monthly schedule.
    async fn scheduled(&self) -> anyhow::Result<serde_json::Value> {
        let record = self.0.scheduled_export().await?;
        tracing::info!(period = %record.period, "scheduled payout export queued");
        Ok(serde_json::to_value(record)?)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportRequest {
    period: Option<String>,
}

async fn post_export(State(state): State<ExportApi>, ApiJson(body): ApiJson<ExportRequest>) -> ApiResult {
    let raw = body.period.ok_or_else(|| Problem::field("period", "is required"))?;
    let period = Period::parse(&raw).map_err(|m| Problem::field("period", m))?;
    let (record, started) = state.exports.start(period).await?;
    let status = match started {
        Started::Queued => StatusCode::ACCEPTED,
        Started::Finished => StatusCode::OK,
    };
    Ok((status, [(header::LOCATION, format!("/v1/payouts/exports/{period}"))], Json(record)).into_response())
}

async fn get_export(State(state): State<ExportApi>, Path(raw): Path<String>) -> ApiResult {
    let period = Period::parse(&raw).map_err(|_| Problem::not_found())?;
    match state.exports.store.payout_export(period).await? {
        Some(record) => Ok(Json(record).into_response()),
        None => Err(Problem::not_found()),
    }
}

/// The finished export's `lines.csv`, streamed from the bucket (behind API
/// Gateway a response stops at 6 MB; the portal's links go to S3 itself).
async fn get_lines(State(state): State<ExportApi>, Path(raw): Path<String>) -> ApiResult {
    let period = Period::parse(&raw).map_err(|_| Problem::not_found())?;
    let file = ExportFile::Lines;
    let stream = open_file(state.exports.store.as_ref(), state.exports.files.as_ref(), period, file).await?;
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, CSV)
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", file.download_name(period)))
        .body(Body::from_stream(stream))
        .map_err(|_| Problem::internal())
}
