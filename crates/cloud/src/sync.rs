//! The sync engine: sends each finished (or interrupted) session in the local outbox to the
//! organisation with the idempotent `sync_session` RPC (in bounded chunks), retries network
//! and server failures with exponential back-off and jitter, stops for good on refusals with
//! the reason kept, and pulls the organisation's interviews so they can be picked offline.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::BackoffBuilder;
use hark_store::{Interview, Outgoing, Retry, Sender, Store, now_ms};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

use crate::error::{CloudError, Result};
use crate::rest::Rest;

/// Segments per `sync_session` call at most (the RPC takes up to 2,000).
pub const MAX_SEGMENTS_PER_CALL: usize = 2000;
/// Bytes of segments per call at most (the RPC refuses payloads over 8 MiB).
pub const MAX_BYTES_PER_CALL: usize = 4 * 1024 * 1024;

/// Where one session stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum SyncStatus {
    /// Waiting to be sent.
    Pending,
    /// Being sent: `sent` of `total` segments so far.
    Syncing {
        /// Segments the project has acknowledged.
        sent: usize,
        /// Segments in the session.
        total: usize,
    },
    /// The project has all of it.
    Synced {
        /// Segments the project stores for it.
        segments: u64,
    },
    /// The last attempt failed.
    Failed {
        /// Why, with what to do.
        reason: String,
        /// When it is tried again (Unix ms); `None` when it needs a person.
        retry_at_ms: Option<i64>,
    },
}

/// A status change, for the UI and the CLI.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SyncEvent {
    /// The session.
    pub session_id: Uuid,
    /// Its new status.
    #[serde(flatten)]
    pub status: SyncStatus,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    /// Sessions now in the project.
    pub synced: Vec<Uuid>,
    /// Sessions that will be tried again, with why.
    pub retrying: Vec<(Uuid, String)>,
    /// Sessions that need a person, with why.
    pub failed: Vec<(Uuid, String)>,
}

/// The engine of one profile.
#[derive(Debug)]
pub struct SyncEngine {
    rest: Rest,
    store: Arc<Mutex<Store>>,
    events: broadcast::Sender<SyncEvent>,
    wake: Notify,
    max_segments: usize,
}

fn iso(ms: i64) -> Value {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map(Value::String)
        .unwrap_or(Value::Null)
}

fn parse_iso_ms(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The `session` object of the RPC payload.
fn session_json(out: &Outgoing) -> Value {
    json!({
        "id": out.id,
        "interview_id": out.interview.id,
        "sources": out.sources,
        "device_names": if out.device_names.is_null() { json!({}) } else { out.device_names.clone() },
        "model": out.model,
        "started_at": iso(out.started_at_ms),
        "ended_at": out.ended_at_ms.map(iso).unwrap_or(Value::Null),
        "seconds_recorded": (out.seconds_recorded * 1000.0).round() / 1000.0,
        "consent_confirmed_by": out.consent.map(|(by, _)| by),
        "consent_confirmed_at": out.consent.map(|(_, at)| iso(at)).unwrap_or(Value::Null),
    })
}

/// The payloads for a session: segments split so that no call exceeds `max_segments` or
/// [`MAX_BYTES_PER_CALL`]; notes ride with the first.
pub fn payloads(out: &Outgoing, max_segments: usize) -> Vec<Value> {
    let session = session_json(out);
    let mut chunks: Vec<Vec<Value>> = vec![Vec::new()];
    let mut bytes = 0;
    for segment in &out.segments {
        let value = json!({
            "id": segment.id,
            "source": segment.source,
            "speaker_label": segment.speaker_label,
            "start_ms": segment.start_ms,
            "end_ms": segment.end_ms,
            "text": segment.text,
            "status": match segment.status {
                hark_store::SegmentStatus::Final => "final",
                hark_store::SegmentStatus::Failed => "failed",
                hark_store::SegmentStatus::Backfilled => "backfilled",
            },
        });
        let size = value.to_string().len();
        let current = chunks.last().map(Vec::len).unwrap_or(0);
        if current > 0 && (current >= max_segments.max(1) || bytes + size > MAX_BYTES_PER_CALL) {
            chunks.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(value);
        }
    }
    let notes: Vec<Value> = out
        .notes
        .iter()
        .map(|note| {
            json!({
                "id": note.id,
                "kind": match note.kind { hark_store::NoteKind::Bookmark => "bookmark", hark_store::NoteKind::Note => "note" },
                "at_ms": note.at_ms,
                "body": note.body,
            })
        })
        .collect();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, segments)| {
            json!({
                "session": session,
                "segments": segments,
                "notes": if i == 0 { notes.clone() } else { Vec::new() },
            })
        })
        .collect()
}

/// When attempt number `attempts` (1-based) is followed by the next: exponential from 2 s to
/// 10 min, with jitter, unless the server asked for a wait.
fn next_attempt(attempts: u32, asked: Option<Duration>) -> Duration {
    if let Some(asked) = asked {
        return asked.min(Duration::from_secs(3600));
    }
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(2))
        .with_max_delay(Duration::from_secs(600))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempts.saturating_sub(1) as usize)
        .unwrap_or(Duration::from_secs(600))
}

impl SyncEngine {
    /// An engine for the store at `database` (its own connection), sending as `rest`'s user.
    pub fn new(rest: Rest, database: &Path) -> Result<SyncEngine> {
        let store = Store::open(database)?;
        let (events, _) = broadcast::channel(256);
        Ok(SyncEngine {
            rest,
            store: Arc::new(Mutex::new(store)),
            events,
            wake: Notify::new(),
            max_segments: MAX_SEGMENTS_PER_CALL,
        })
    }

    /// Sends at most `n` segments per call (for large sessions and their tests).
    pub fn with_max_segments(mut self, n: usize) -> SyncEngine {
        self.max_segments = n.max(1);
        self
    }

    /// Status changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.events.subscribe()
    }

    /// Asks the background loop to look at the outbox now (a session just finished).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    async fn db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Store) -> hark_store::Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = store
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut store)
        })
        .await
        .map_err(|err| CloudError::Invalid(format!("the store thread failed: {err}")))?
        .map_err(CloudError::from)
    }

    fn emit(&self, session_id: Uuid, status: SyncStatus) {
        let _ = self.events.send(SyncEvent { session_id, status });
    }

    /// The account sessions are sent as: this project and whoever is signed in.
    pub async fn sender(&self) -> Result<Sender> {
        self.rest
            .account()
            .sender()
            .await
            .ok_or(CloudError::NotSignedIn)
    }

    /// Sends a session to the signed-in recruiter's organisation because they chose to (one
    /// recorded local-only, or one waiting for another project or account), now. Refused for a
    /// session whose interview belongs to an organisation the recruiter does not record in here
    /// (pulled from another project or organisation): the project would refuse it for good.
    pub async fn share(&self, session_id: Uuid) -> Result<()> {
        let sender = self.sender().await?;
        let interview = self
            .db(move |store| Ok(store.session(&session_id.to_string())?.interview))
            .await?;
        if let Some(org) = interview.org_id {
            let memberships = match self.rest.memberships().await {
                Ok(found) => Some(found),
                // Offline: queued all the same; a refusal then comes with the send.
                Err(err) if err.is_retryable() => None,
                Err(err) => return Err(err),
            };
            if memberships
                .is_some_and(|found| !found.iter().any(|m| m.org_id == org && m.can_record()))
            {
                return Err(CloudError::Invalid(format!(
                    "the interview {:?} belongs to an organisation you do not record in at {}; \
                     it syncs once Hark is connected and signed in where it was recorded",
                    interview.job_title, sender.project_url
                )));
            }
        }
        let queued = self
            .db(move |store| store.share_session(session_id, &sender))
            .await?;
        if queued {
            self.emit(session_id, SyncStatus::Pending);
            self.wake();
        }
        Ok(())
    }

    /// Puts every unsent session back in the queue now, failed ones included (after the user
    /// fixed the cause), and wakes the loop; returns how many of them this account sends.
    pub async fn retry_now(&self) -> Result<usize> {
        let sender = self.sender().await?;
        let due = self
            .db(move |store| {
                store.retry_sync_now()?;
                store.outbox_due(now_ms(), &sender)
            })
            .await?;
        self.wake();
        Ok(due.len())
    }

    /// Sends every session that is due now and is the signed-in account's to send (see
    /// [`hark_store::Destination`]); stops early (with the error) when the sign-in or the
    /// configuration is the problem, since no session could get through.
    pub async fn sync_due(&self) -> Result<SyncReport> {
        let sender = self.sender().await?;
        let due = {
            let sender = sender.clone();
            self.db(move |store| store.outbox_due(now_ms(), &sender))
                .await?
        };
        let mut report = SyncReport::default();
        for session_id in due {
            match self.send(session_id, &sender).await {
                Ok(()) => report.synced.push(session_id),
                // No longer this account's (sent elsewhere meanwhile): not a failure.
                Err(CloudError::Store(hark_store::StoreError::Held { .. })) => {}
                Err(err) => {
                    let (reason, retry_at_ms) = self.failed(session_id, &err).await;
                    match retry_at_ms {
                        Some(_) => report.retrying.push((session_id, reason)),
                        None => report.failed.push((session_id, reason)),
                    }
                    if blocks_everything(&err) {
                        // No other session would get through either.
                        return Err(err);
                    }
                }
            }
        }
        Ok(report)
    }

    /// Keeps a failed send's reason and when to try again (or never) in the outbox, and says
    /// so: the reason and the retry time. Only the project's refusals are final; this
    /// computer's own trouble (its database, its keyring) is tried again later.
    async fn failed(&self, session_id: Uuid, err: &CloudError) -> (String, Option<i64>) {
        let reason = err.to_string();
        let attempts = match self.db(move |store| store.outbox_entry(session_id)).await {
            Ok(entry) => entry.map(|e| e.attempts).unwrap_or(1),
            Err(_) => 1,
        };
        let retry = if err.is_retryable() || blocks_everything(err) || is_local(err) {
            Retry::At(now_ms() + next_attempt(attempts, err.retry_after()).as_millis() as i64)
        } else {
            Retry::Never
        };
        let saved = reason.clone();
        if let Err(kept) = self
            .db(move |store| store.sync_failed(session_id, &saved, retry))
            .await
        {
            tracing::warn!(%session_id, "cannot keep the sync failure in the outbox: {kept}");
        }
        let retry_at_ms = match retry {
            Retry::At(at) => Some(at),
            Retry::Never => None,
        };
        tracing::warn!(%session_id, "sync failed: {reason}");
        self.emit(
            session_id,
            SyncStatus::Failed {
                reason: reason.clone(),
                retry_at_ms,
            },
        );
        (reason, retry_at_ms)
    }

    /// Sends one session, whatever its outbox state, if it is the signed-in account's to send;
    /// a failure is kept in the outbox (with its retry time) as in [`SyncEngine::sync_due`].
    pub async fn sync_one(&self, session_id: Uuid) -> Result<()> {
        let sender = self.sender().await?;
        match self.send(session_id, &sender).await {
            Ok(()) => Ok(()),
            Err(err @ CloudError::Store(hark_store::StoreError::Held { .. })) => Err(err),
            Err(err) => {
                self.failed(session_id, &err).await;
                Err(err)
            }
        }
    }

    /// Refuses (as [`hark_store::StoreError::Held`]) once the signed-in account is no longer
    /// `sender`: a sign-out and another sign-in during a pass must not send the rest of the
    /// pass's sessions with the new account's token.
    async fn still(&self, sender: &Sender) -> Result<()> {
        if self.rest.account().sender().await.as_ref() == Some(sender) {
            return Ok(());
        }
        Err(hark_store::StoreError::Held {
            why: "the signed-in account changed while it was being sent; it goes with its own account".into(),
        }
        .into())
    }

    async fn send(&self, session_id: Uuid, sender: &Sender) -> Result<()> {
        self.still(sender).await?;
        let claimant = sender.clone();
        self.db(move |store| store.sync_started(session_id, &claimant))
            .await?;
        let out = self.db(move |store| store.outgoing(session_id)).await?;
        let total = out.segments.len();
        self.emit(session_id, SyncStatus::Syncing { sent: 0, total });
        if !out.interview.in_cloud {
            self.still(sender).await?;
            self.push_interview(&out.interview).await?;
        }
        let mut max_segments = self.max_segments;
        let mut accepted = false;
        let stored = 'sizes: loop {
            let mut sent = 0;
            let mut stored = 0;
            for payload in payloads(&out, max_segments) {
                let n = payload["segments"].as_array().map(Vec::len).unwrap_or(0);
                let params = json!({ "payload": payload }).to_string();
                self.still(sender).await?;
                match self
                    .rest
                    .call(|c| c.rpc("sync_session", params.clone()))
                    .await
                {
                    Ok(answer) => {
                        if !accepted {
                            // The project has it now: from here on it stays there.
                            accepted = true;
                            self.db(move |store| store.first_sent(session_id)).await?;
                        }
                        stored = answer["segments_stored"].as_u64().unwrap_or(0);
                        sent += n;
                        self.emit(session_id, SyncStatus::Syncing { sent, total });
                    }
                    // Too large even in chunks (very long texts): halve and send again; the
                    // RPC is idempotent, so what already arrived is not duplicated.
                    Err(CloudError::Rest { code, .. }) if code == "54000" && max_segments > 1 => {
                        max_segments /= 2;
                        continue 'sizes;
                    }
                    Err(err) => return Err(err),
                }
            }
            break stored;
        };
        if (stored as usize) < total {
            return Err(CloudError::Rest {
                status: 500,
                code: "incomplete".into(),
                message: format!("the project stored {stored} of {total} segments"),
                hint: None,
                retry_after: None,
            });
        }
        let current = self
            .db(move |store| store.sync_succeeded(session_id))
            .await?;
        if current {
            self.emit(session_id, SyncStatus::Synced { segments: stored });
        } else {
            // Changed while it was being sent (an edit, back-filled lines): it goes again.
            self.emit(session_id, SyncStatus::Pending);
            self.wake();
        }
        Ok(())
    }

    /// Creates a local interview (and its candidate) in the organisation where the user
    /// records, keeping the same ids, so a session recorded for it can be stored there.
    async fn push_interview(&self, interview: &Interview) -> Result<()> {
        let org = match interview.org_id {
            Some(org) => org,
            None => {
                let memberships = self.rest.memberships().await?;
                let recording: Vec<_> = memberships.iter().filter(|m| m.can_record()).collect();
                match recording.as_slice() {
                    [one] => one.org_id,
                    [] => {
                        return Err(CloudError::Rest {
                            status: 403,
                            code: "42501".into(),
                            message: format!(
                                "the interview {:?} is only on this computer and you record in no organisation",
                                interview.job_title
                            ),
                            hint: Some("ask an admin for the recruiter role".into()),
                            retry_after: None,
                        });
                    }
                    many => {
                        return Err(CloudError::Invalid(format!(
                            "the interview {:?} is only on this computer and you record in {} organisations ({}); pick an interview from the organisation's list instead",
                            interview.job_title,
                            many.len(),
                            many.iter()
                                .map(|m| m.org_name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                }
            }
        };
        let candidate = match (&interview.candidate_name, interview.candidate_id) {
            (Some(_), Some(id)) => Some(id),
            (Some(_), None) => Some(Uuid::new_v4()),
            (None, _) => None,
        };
        // Keep the ids before sending, so a retry reuses them.
        let id = interview.id;
        let project_url = self.rest.account().project().url.clone();
        self.db(move |store| store.set_interview_org(id, org, candidate, &project_url))
            .await?;
        if let (Some(candidate), Some(name)) = (candidate, &interview.candidate_name) {
            let row = json!({"id": candidate, "org_id": org, "full_name": name}).to_string();
            self.rest
                .call(|c| c.from("candidates").upsert(row.clone()).on_conflict("id"))
                .await?;
        }
        let row = json!({
            "id": interview.id, "org_id": org, "candidate_id": candidate,
            "job_title": interview.job_title,
        })
        .to_string();
        self.rest
            .call(|c| c.from("interviews").upsert(row.clone()).on_conflict("id"))
            .await?;
        self.db(move |store| store.interview_pushed(id)).await?;
        Ok(())
    }

    /// Copies the organisation's interviews (with candidate names) into the local store, so
    /// they can be picked before recording, offline too. Returns how many.
    pub async fn pull(&self) -> Result<usize> {
        let candidates = self
            .rest
            .call(|c| c.from("candidates").select("id,full_name"))
            .await?;
        let interviews = self
            .rest
            .call(|c| {
                c.from("interviews")
                    .select("id,org_id,candidate_id,job_title,created_at")
            })
            .await?;
        let candidates: Vec<Value> = serde_json::from_value(candidates).unwrap_or_default();
        let rows: Vec<Value> = serde_json::from_value(interviews).unwrap_or_default();
        let interviews: Vec<Interview> = rows
            .iter()
            .filter_map(|row| {
                let candidate_id = row["candidate_id"].as_str().and_then(|s| s.parse().ok());
                Some(Interview {
                    id: row["id"].as_str()?.parse().ok()?,
                    org_id: row["org_id"].as_str().and_then(|s| s.parse().ok()),
                    candidate_id,
                    candidate_name: candidate_id.and_then(|id: Uuid| {
                        candidates
                            .iter()
                            .find(|c| c["id"].as_str() == Some(&id.to_string()))
                            .and_then(|c| c["full_name"].as_str())
                            .map(str::to_owned)
                    }),
                    job_title: row["job_title"].as_str()?.to_owned(),
                    created_at_ms: row["created_at"]
                        .as_str()
                        .and_then(parse_iso_ms)
                        .unwrap_or_else(now_ms),
                    in_cloud: true,
                })
            })
            .collect();
        let n = interviews.len();
        let project_url = self.rest.account().project().url.clone();
        let here = project_url.clone();
        let unplaced = self
            .db(move |store| {
                for interview in &interviews {
                    store.upsert_cloud_interview(interview, &here)?;
                }
                store.unplaced_interviews()
            })
            .await?;
        if unplaced > 0 {
            // Pulled before each interview kept its project: placed by the recruiter's
            // organisations here, so another project's are not offered for this one. The
            // interviews are in; placing them can wait for the next pull. With no membership
            // read, nothing is set apart (it could not be taken back here).
            match self.rest.memberships().await {
                Ok(memberships) if !memberships.is_empty() => {
                    let orgs: Vec<Uuid> = memberships.iter().map(|m| m.org_id).collect();
                    if let Err(err) = self
                        .db(move |store| store.place_interviews(&project_url, &orgs))
                        .await
                    {
                        tracing::warn!("older interviews not placed yet: {err}");
                    }
                }
                Ok(_) => tracing::info!("older interviews not placed: no memberships read"),
                Err(err) => tracing::info!("older interviews not placed yet: {err}"),
            }
        }
        Ok(n)
    }

    /// Runs until the task is dropped: sends what is due, then sleeps until the next retry
    /// time, a [`SyncEngine::wake`], or a minute.
    pub async fn run(self: Arc<Self>) {
        loop {
            // After a failure of the pass itself (the local database, say), never spin.
            let floor = match self.sync_due().await {
                Ok(_) => 100,
                // Nobody signed in: sessions wait, as the UI says; not worth a warning a minute.
                Err(CloudError::NotSignedIn) => 5_000,
                Err(err) => {
                    tracing::warn!("sync paused: {err}");
                    5_000
                }
            };
            // Only this account's sessions: another's stay due for ever here.
            let next = match self.rest.account().sender().await {
                Some(sender) => self
                    .db(move |store| store.next_attempt_at(&sender))
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            let wait = next
                .map(|at| Duration::from_millis((at - now_ms()).clamp(floor, 60_000) as u64))
                .unwrap_or(Duration::from_secs(60));
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// This computer's own trouble (its database, its keyring), not the project's answer: worth
/// trying again later, never a final verdict on the session.
fn is_local(err: &CloudError) -> bool {
    matches!(
        err,
        CloudError::Store(_) | CloudError::Keyring { .. } | CloudError::NoKeyring { .. }
    )
}

/// Errors that no session can get past (sign-in, configuration, no network): stop the pass;
/// the session is tried again later like any retryable failure.
fn blocks_everything(err: &CloudError) -> bool {
    matches!(
        err,
        CloudError::NotSignedIn
            | CloudError::SignInEnded { .. }
            | CloudError::NotConfigured
            | CloudError::BadConfig(_)
            | CloudError::Unreachable { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_store::{NoteKind, SegmentStatus};

    fn outgoing(n: usize, text_len: usize) -> Outgoing {
        let id = Uuid::new_v4();
        Outgoing {
            id,
            interview: Interview {
                id: Uuid::new_v4(),
                org_id: None,
                candidate_id: None,
                candidate_name: None,
                job_title: "Engineer".into(),
                created_at_ms: 0,
                in_cloud: true,
            },
            sources: vec!["microphone".into()],
            device_names: Value::Null,
            model: None,
            started_at_ms: 1_764_000_000_000,
            ended_at_ms: Some(1_764_000_060_500),
            seconds_recorded: 60.5,
            consent: None,
            segments: (0..n)
                .map(|i| hark_store::Segment {
                    id: Uuid::new_v4(),
                    session_id: id,
                    item_id: None,
                    source: "microphone".into(),
                    speaker_label: None,
                    start_ms: i as i64 * 1000,
                    end_ms: i as i64 * 1000 + 900,
                    text: "x".repeat(text_len),
                    status: SegmentStatus::Final,
                })
                .collect(),
            notes: vec![hark_store::Note {
                id: Uuid::new_v4(),
                session_id: id,
                kind: NoteKind::Bookmark,
                at_ms: 5,
                body: String::new(),
            }],
        }
    }

    #[test]
    fn payloads_are_chunked_by_count_and_by_size() {
        let out = outgoing(4500, 10);
        let chunks = payloads(&out, 2000);
        let sizes: Vec<usize> = chunks
            .iter()
            .map(|p| p["segments"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, vec![2000, 2000, 500]);
        assert_eq!(chunks[0]["notes"].as_array().unwrap().len(), 1);
        assert!(chunks[1]["notes"].as_array().unwrap().is_empty());
        assert_eq!(chunks[2]["session"], chunks[0]["session"]);
        assert_eq!(chunks[0]["session"]["started_at"], "2025-11-24T16:00:00Z");
        assert_eq!(chunks[0]["session"]["ended_at"], "2025-11-24T16:01:00.5Z");

        // 40 segments of 200 kB: no call over the byte bound.
        let out = outgoing(40, 200_000);
        let chunks = payloads(&out, 2000);
        assert!(chunks.len() >= 2);
        assert!(
            chunks
                .iter()
                .all(|p| p.to_string().len() < MAX_BYTES_PER_CALL + 250_000)
        );
        let total: usize = chunks
            .iter()
            .map(|p| p["segments"].as_array().unwrap().len())
            .sum();
        assert_eq!(total, 40);

        // A session with no segments is still one call (the session row and its notes).
        assert_eq!(payloads(&outgoing(0, 0), 2000).len(), 1);
    }

    #[test]
    fn back_off_grows_with_jitter_and_honours_the_server() {
        let first = next_attempt(1, None);
        let fifth = next_attempt(5, None);
        assert!(
            first >= Duration::from_secs(2) && first <= Duration::from_secs(4),
            "{first:?}"
        );
        assert!(fifth >= Duration::from_secs(32), "{fifth:?}");
        assert!(next_attempt(40, None) <= Duration::from_secs(1200));
        assert_eq!(
            next_attempt(3, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }
}
