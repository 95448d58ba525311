//! The monthly payout exports (SPEC §10, §20). Starting an export (the API,
//! the monthly schedule) records it `running` and queues it; the worker runs
//! it from the queue, resumably, in two passes over the open-line index;
//! finance reads the finished files through signed links.

use crate::entropy;
use partnerops_aws::links::DownloadLinks;
use partnerops_aws::objects::{ByteStream, ObjectWriter, Objects};
use partnerops_aws::queue::WorkQueue;
use partnerops_aws::store::{ExportCursor, ExportRecord, ExportState, OPEN_SHARDS, PayoutExports};
use partnerops_aws::{Clock, StoreError};
use partnerops_domain::Timestamp;
use partnerops_domain::event::{DomainEvent, EventPayload, PayoutExportReady};
use partnerops_domain::id::{EventId, ExportId};
use partnerops_domain::money::Currency;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::payout::{
    ExportGroup, GroupTotals, PayoutLine, Period, export_totals, write_line_rows, write_lines_csv, write_summary_csv,
};
use partnerops_domain::terms::ProgramTerms;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Reads of the export index before giving up on it catching up.
const INDEX_ATTEMPTS: u64 = 6;
pub const CSV: &str = "text/csv; charset=utf-8";

pub fn export_key(period: Period, file: &str) -> String {
    format!("exports/payouts/{period}/{file}")
}

/// A message on the export queue: the period to export.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportJob {
    pub period: String,
}

pub struct Exports {
    pub store: Arc<dyn PayoutExports>,
    /// The exports bucket.
    pub files: Arc<dyn Objects>,
    /// The export queue, where started exports wait for the worker.
    pub work: Arc<dyn WorkQueue>,
    pub terms: Arc<ProgramTerms>,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the period {0} has not ended yet")]
    PeriodOpen(Period),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the export files: {0}")]
    Files(String),
    #[error("queueing the export: {0}")]
    Queue(String),
}

/// The lines due before `cutoff`, a page at a time, shard after shard of
/// the open-line index.
struct OpenPages {
    cutoff: Timestamp,
    shard: u32,
    after: Option<String>,
}

impl OpenPages {
    fn new(cutoff: Timestamp) -> Self {
        Self { cutoff, shard: 0, after: None }
    }

    async fn next(&mut self, store: &dyn PayoutExports) -> Result<Option<Vec<PayoutLine>>, StoreError> {
        if self.shard >= OPEN_SHARDS {
            return Ok(None);
        }
        let (page, next) = store.open_payout_page(self.cutoff, self.shard, self.after.as_deref()).await?;
        match next {
            Some(key) => self.after = Some(key),
            None => (self.shard, self.after) = (self.shard + 1, None),
        }
        Ok(Some(page))
    }
}

impl Exports {
    /// Exports `period`: every open line earned before its cutoff, grouped
    /// by (partner, currency); groups below the minimum or negative stay
    /// open. `Ok((record, false))` when the period was exported before.
    pub async fn export(&self, period: Period) -> Result<(ExportRecord, bool), ExportError> {
        let now = self.clock.now();
        if now < period.end() {
            return Err(ExportError::PeriodOpen(period));
        }
        if let Some(existing) = self.store.payout_export(period).await?
            && existing.status == ExportState::Done
        {
            return Ok((existing, false));
        }
        let mut record = self.store.begin_payout_export(period, &fresh_record(period, now)).await?;
        if record.status == ExportState::Done {
            return Ok((record, false));
        }
        let cutoff = period.cutoff(self.terms.payouts.hold_days);
        // Pass 1: the groups of every due line (open, or already marked by an
        // interrupted run), a page at a time: memory holds groups, not lines.
        let mut first = GroupTotals::default();
        let mut pages = OpenPages::new(cutoff);
        while let Some(page) = pages.next(self.store.as_ref()).await? {
            page.iter().for_each(|l| first.add(l));
        }
        let mut expected = 0u64;
        let mut cursor: Option<ExportCursor> = None;
        loop {
            let (page, next) = self.store.exported_payout_page(period, cursor).await?;
            expected += page.len() as u64;
            page.iter().for_each(|l| first.add(l));
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let decided = first.finish(&self.terms);
        let paid: BTreeSet<(PartnerId, Currency)> =
            decided.iter().filter(|g| !g.carried_forward).map(|g| (g.partner_id.clone(), g.currency)).collect();
        // Pass 2: move the paid groups' lines into the period's export index.
        // A line that became due in between joins only a group already paid.
        let mut pages = OpenPages::new(cutoff);
        while let Some(page) = pages.next(self.store.as_ref()).await? {
            let marked: Vec<PayoutLine> =
                page.into_iter().filter(|l| paid.contains(&(l.partner_id.clone(), l.currency))).collect();
            self.store.mark_payout_lines_exported(period, &marked).await?;
            expected += marked.len() as u64;
        }

        let export_id = record.export_id.to_string();
        let lines_key = export_key(period, "lines.csv");
        let summary_key = export_key(period, "summary.csv");
        // The files and totals follow what was exported; carried groups
        // come from the decision.
        // The export index is a GSI, read eventually consistently: a file
        // short of what was just moved is written again, and an export that
        // stays short is left `running` (then `failed` with why), to be resumed, never half-paid.
        let mut attempt = 0;
        let (written, exported) = loop {
            let (written, exported) = self.write_lines(period, &export_id, &lines_key).await?;
            if written == expected {
                break (written, exported);
            }
            attempt += 1;
            if attempt >= INDEX_ATTEMPTS {
                return Err(ExportError::Files(format!(
                    "the export index shows {written} of {expected} lines; run the export again"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(500 * attempt)).await;
        };
        let mut groups: Vec<ExportGroup> = exported.finish(&self.terms);
        groups.iter_mut().for_each(|g| g.carried_forward = false);
        groups.extend(decided.into_iter().filter(|g| g.carried_forward));
        groups.sort_by(|a, b| (&a.partner_id, a.currency).cmp(&(&b.partner_id, b.currency)));
        let summary = write_summary_csv(Vec::new(), &export_id, period, &groups)
            .map_err(|e| ExportError::Files(e.to_string()))?;
        self.files.put(&summary_key, CSV, summary).await.map_err(|e| ExportError::Files(e.to_string()))?;

        let totals = export_totals(&groups);
        record.status = ExportState::Done;
        record.failure = None;
        record.completed_at = Some(now);
        record.lines = written;
        record.files = vec![lines_key, summary_key];
        record.totals = totals.clone();
        let event = DomainEvent::new(
            EventId::generate(now, entropy()),
            now,
            EventPayload::PayoutExportReady(PayoutExportReady {
                export_id: record.export_id.clone(),
                period: period.to_string(),
                partners: u32::try_from(groups.iter().filter(|g| !g.carried_forward).count()).unwrap_or(u32::MAX),
                lines: written,
                totals,
                carried_forward: u32::try_from(groups.iter().filter(|g| g.carried_forward).count()).unwrap_or(u32::MAX),
                files: record.files.clone(),
            }),
        );
        record.groups = groups;
        match self.store.finish_payout_export(period, &record, &event).await {
            Ok(()) => Ok((record, true)),
            // Another run finished it first: answer with that one.
            Err(StoreError::Conflict(_)) => match self.store.payout_export(period).await? {
                Some(done) => Ok((done, false)),
                None => Err(ExportError::Files("the export vanished".into())),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Streams the period's exported lines into `lines.csv` in the bucket,
    /// a page of the index at a time, uploading parts as they fill.
    async fn write_lines(&self, period: Period, export_id: &str, key: &str) -> Result<(u64, GroupTotals), ExportError> {
        let files = |e: &dyn std::fmt::Display| ExportError::Files(e.to_string());
        let header = write_lines_csv(Vec::new(), export_id, period, std::iter::empty()).map_err(|e| files(&e))?;
        let mut file = ObjectWriter::new(self.files.as_ref(), key, CSV, header);
        let mut cursor: Option<ExportCursor> = None;
        let mut count = 0u64;
        let mut totals = GroupTotals::default();
        loop {
            let (page, next) = self.store.exported_payout_page(period, cursor).await?;
            count += page.len() as u64;
            page.iter().for_each(|l| totals.add(l));
            write_line_rows(file.buffer(), export_id, period, &page).map_err(|e| files(&e))?;
            file.flush().await.map_err(|e| files(&e))?;
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        file.finish().await.map_err(|e| files(&e))?;
        Ok((count, totals))
    }

    /// Starts an export of `period` and queues it for the worker: the
    /// export as it stands (`running`), or as it was finished before.
    pub async fn start(&self, period: Period) -> Result<(ExportRecord, Started), ExportError> {
        let now = self.clock.now();
        if now < period.end() {
            return Err(ExportError::PeriodOpen(period));
        }
        let mut record = self.store.begin_payout_export(period, &fresh_record(period, now)).await?;
        match record.status {
            ExportState::Done => return Ok((record, Started::Finished)),
            // Posting again resumes a failed export from where it stopped.
            ExportState::Failed => match self.store.mark_payout_export(period, ExportState::Running, None).await {
                Ok(()) => {
                    record.status = ExportState::Running;
                    record.failure = None;
                }
                Err(StoreError::Conflict(_)) => {
                    return match self.store.payout_export(period).await? {
                        Some(done) if done.status == ExportState::Done => Ok((done, Started::Finished)),
                        _ => Err(ExportError::Store(StoreError::Conflict("the export"))),
                    };
                }
                Err(e) => return Err(e.into()),
            },
            ExportState::Running => {}
        }
        // A job queued twice is harmless: the worker resumes, and a finished
        // export is left as it is.
        let job = serde_json::to_string(&ExportJob { period: period.to_string() })
            .map_err(|e| ExportError::Queue(e.to_string()))?;
        self.work.send(&job).await.map_err(|e| ExportError::Queue(format!("{e:#}")))?;
        tracing::info!(%period, export_id = %record.export_id, "payout export queued");
        Ok((record, Started::Queued))
    }

    /// Runs one queued export; a failure is recorded on the export (GET
    /// shows it) and the message is retried, then dead-lettered.
    pub async fn run(&self, period: Period) -> Result<ExportRecord, ExportError> {
        match self.export(period).await {
            Ok((record, _)) => {
                tracing::info!(%period, lines = record.lines, "payout export done");
                Ok(record)
            }
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(%period, error = %reason, "payout export failed");
                match self.store.mark_payout_export(period, ExportState::Failed, Some(reason)).await {
                    Ok(()) | Err(StoreError::Conflict(_)) => {}
                    Err(mark) => tracing::error!(%period, error = %mark, "payout export failure not recorded"),
                }
                Err(e)
            }
        }
    }

    /// The scheduled run: queues the month before `now`.
    pub async fn scheduled_export(&self) -> Result<ExportRecord, ExportError> {
        let now = self.clock.now();
        let period = Period::previous(now).ok_or_else(|| ExportError::Files(format!("no month before {now}")))?;
        self.start(period).await.map(|(record, _)| record)
    }
}

/// What starting an export did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// Queued for the worker (or queued again): `202`.
    Queued,
    /// It was finished before: `200` with the same export and files.
    Finished,
}

fn fresh_record(period: Period, now: Timestamp) -> ExportRecord {
    ExportRecord {
        export_id: ExportId::generate(now, entropy()),
        period: period.to_string(),
        status: ExportState::Running,
        failure: None,
        created_at: now,
        completed_at: None,
        lines: 0,
        groups: Vec::new(),
        totals: Vec::new(),
        files: Vec::new(),
    }
}

/// The two files an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFile {
    Lines,
    Summary,
}

impl ExportFile {
    pub fn name(self) -> &'static str {
        match self {
            ExportFile::Lines => "lines.csv",
            ExportFile::Summary => "summary.csv",
        }
    }

    /// The name a download is saved under.
    pub fn download_name(self, period: Period) -> String {
        format!("payouts-{period}-{}", self.name())
    }
}

/// Why a finished export's file cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("no export of that period")]
    NotFound,
    #[error("the export of {period} is {state}; its files are ready once it is done")]
    NotDone { period: Period, state: &'static str },
    #[error("the export's file cannot be read just now: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn done_export(store: &dyn PayoutExports, period: Period) -> Result<(), FileError> {
    match store.payout_export(period).await? {
        None => Err(FileError::NotFound),
        Some(record) if record.status != ExportState::Done => {
            Err(FileError::NotDone { period, state: record.status.as_str() })
        }
        Some(_) => Ok(()),
    }
}

/// A finished export's file as a link to the bucket, signed for a few
/// minutes: what the portal's download links redirect to, so a file of any
/// size downloads from S3 and never passes through a Lambda response.
pub async fn export_link(
    store: &dyn PayoutExports,
    links: &dyn DownloadLinks,
    period: Period,
    file: ExportFile,
) -> Result<String, FileError> {
    done_export(store, period).await?;
    let name = file.name();
    links.download_url(&export_key(period, name), &file.download_name(period), CSV).await.map_err(|e| {
        tracing::error!(error = %e, file = name, "signing an export file's link");
        FileError::Unavailable(e.to_string())
    })
}

/// A finished export's file, read from the bucket (the API's `lines.csv`).
pub async fn open_file(
    store: &dyn PayoutExports,
    files: &dyn Objects,
    period: Period,
    file: ExportFile,
) -> Result<ByteStream, FileError> {
    done_export(store, period).await?;
    let name = file.name();
    match files.get(&export_key(period, name)).await {
        Ok(Some(stream)) => Ok(stream),
        Ok(None) => {
            tracing::error!(%period, file = name, "an exported period has no such file");
            Err(FileError::Unavailable(format!("{name} is missing")))
        }
        Err(e) => {
            tracing::error!(error = %e, file = name, "reading an export file");
            Err(FileError::Unavailable(e.to_string()))
        }
    }
}
