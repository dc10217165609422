//! The store's side of cloud sync: what a session looks like on the way out, the outbox's
//! state changes (pending → syncing → synced, or back to pending with a retry time, or failed
//! for good with the reason), and marking interviews as belonging to an organisation.

use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use crate::{
    Destination, Interview, Note, OutboxEntry, Result, Segment, Sender, Store, StoreError,
    interview_of, now_ms, opt_uuid_of, uuid_of,
};

/// Everything a session sends to the organisation's project, read in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The session's id.
    pub id: Uuid,
    /// Its interview, with organisation and candidate when known (a local interview's
    /// candidate gets an id when it is first pushed).
    pub interview: Interview,
    /// `microphone`, `system`.
    pub sources: Vec<String>,
    /// Device name per source (a JSON object).
    pub device_names: serde_json::Value,
    /// Transcription model.
    pub model: Option<String>,
    /// Start (Unix ms).
    pub started_at_ms: i64,
    /// End (Unix ms), if it ended.
    pub ended_at_ms: Option<i64>,
    /// Seconds of audio recorded.
    pub seconds_recorded: f64,
    /// Who confirmed the recording notice (a user id), and when (Unix ms).
    pub consent: Option<(Uuid, i64)>,
    /// Segments, in timeline order per source.
    pub segments: Vec<Segment>,
    /// Notes and bookmarks.
    pub notes: Vec<Note>,
}

/// Where a session stands with the cloud, as the library shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again at this time (Unix ms).
    At(i64),
    /// Never again by itself: the reason needs a person.
    Never,
}

impl Store {
    /// Outbox entries `sender` may send now (pending or left `syncing` by a crash, due, and
    /// theirs: see [`crate::Destination`]), oldest first.
    pub fn outbox_due(&self, now: i64, sender: &Sender) -> Result<Vec<Uuid>> {
        Ok(self
            .unsent_of(sender)?
            .into_iter()
            .filter(|(_, due)| *due <= now)
            .map(|(id, _)| id)
            .collect())
    }

    /// When the next of `sender`'s unsent sessions is due (Unix ms; 0 for now), if any.
    pub fn next_attempt_at(&self, sender: &Sender) -> Result<Option<i64>> {
        Ok(self
            .unsent_of(sender)?
            .into_iter()
            .map(|(_, due)| due)
            .min())
    }

    /// `sender`'s unsent sessions (pending, or left `syncing` by a crash) with when each is due,
    /// oldest first.
    fn unsent_of(&self, sender: &Sender) -> Result<Vec<(Uuid, i64)>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "select o.session_id, coalesce(o.next_attempt_at_ms, 0), s.destination, \
                   s.sync_project, s.sync_user, s.sync_email \
                 from sync_outbox o join recording_sessions s on s.id = o.session_id \
                 where o.state in ('pending', 'syncing') order by o.updated_at_ms, o.rowid",
            )
            .map_err(StoreError::sql("read outbox"))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    uuid_of(row, 0)?,
                    row.get::<_, i64>(1)?,
                    Destination::of(row, 2)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(StoreError::sql("read outbox"))?;
        Ok(rows
            .into_iter()
            .filter(|(_, _, destination)| destination.sent_by(sender))
            .map(|(id, due, _)| (id, due))
            .collect())
    }

    /// One outbox entry.
    pub fn outbox_entry(&self, session_id: Uuid) -> Result<Option<OutboxEntry>> {
        self.conn
            .query_row(
                "select session_id, state, attempts, last_error, next_attempt_at_ms from sync_outbox \
                 where session_id = ?1",
                [session_id.to_string()],
                crate::outbox_entry_of,
            )
            .optional()
            .map_err(StoreError::sql("read outbox"))
    }

    /// The session as it will be sent.
    pub fn outgoing(&mut self, session_id: Uuid) -> Result<Outgoing> {
        let tx = self
            .conn
            .transaction()
            .map_err(StoreError::sql("read session for sync"))?;
        let outgoing = {
            let head = tx
                .query_row(
                    "select s.interview_id, s.sources, s.device_names, s.model, s.started_at_ms, \
                       s.ended_at_ms, s.seconds_recorded, s.consent_confirmed_by, \
                       s.consent_confirmed_at_ms \
                     from recording_sessions s join interviews i on i.id = s.interview_id \
                     where s.id = ?1",
                    [session_id.to_string()],
                    |row| {
                        let sources: String = row.get(1)?;
                        let devices: String = row.get(2)?;
                        let consent_by = opt_uuid_of(row, 7)?;
                        let consent_at: Option<i64> = row.get(8)?;
                        Ok((
                            uuid_of(row, 0)?,
                            serde_json::from_str::<Vec<String>>(&sources).unwrap_or_default(),
                            serde_json::from_str::<serde_json::Value>(&devices)
                                .unwrap_or(serde_json::Value::Null),
                            row.get::<_, Option<String>>(3)?,
                            row.get::<_, i64>(4)?,
                            row.get::<_, Option<i64>>(5)?,
                            row.get::<_, f64>(6)?,
                            consent_by.zip(consent_at),
                        ))
                    },
                )
                .optional()
                .map_err(StoreError::sql("read session for sync"))?
                .ok_or(StoreError::NotFound {
                    what: "session",
                    id: session_id.to_string(),
                })?;
            let (interview_id, sources, device_names, model, started, ended, seconds, consent) =
                head;
            let interview = tx
                .query_row(
                    &format!(
                        "select {} from interviews i where i.id = ?1",
                        crate::INTERVIEW_COLUMNS
                    ),
                    [interview_id.to_string()],
                    interview_of,
                )
                .map_err(StoreError::sql("read interview for sync"))?;
            // Gaps (`failed`, no text yet) stay here: they are back-fill's bookkeeping, and the
            // transcript found in one goes out under the gap's id once it is filled.
            let mut statement = tx
                .prepare_cached(&format!(
                    "select {} from transcript_segments where session_id = ?1 \
                       and status <> 'failed' \
                     order by source, start_ms, end_ms, rowid",
                    crate::SEGMENT_COLUMNS
                ))
                .map_err(StoreError::sql("read segments for sync"))?;
            let segments = statement
                .query_map([session_id.to_string()], crate::segment_of)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(StoreError::sql("read segments for sync"))?;
            drop(statement);
            let mut statement = tx
                .prepare_cached(
                    "select id, session_id, kind, at_ms, body from session_notes \
                     where session_id = ?1 order by at_ms, rowid",
                )
                .map_err(StoreError::sql("read notes for sync"))?;
            let notes = statement
                .query_map([session_id.to_string()], crate::note_of)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(StoreError::sql("read notes for sync"))?;
            drop(statement);
            Outgoing {
                id: session_id,
                interview,
                sources,
                device_names,
                model,
                started_at_ms: started,
                ended_at_ms: ended,
                seconds_recorded: seconds,
                consent,
                segments,
                notes,
            }
        };
        tx.commit()
            .map_err(StoreError::sql("read session for sync"))?;
        Ok(outgoing)
    }

    /// A send by `sender` has begun (one more attempt). Refused with [`StoreError::Held`],
    /// naming whose it is, for a session that is not theirs to send (nothing changes); one
    /// nobody had claimed becomes theirs.
    pub fn sync_started(&self, session_id: Uuid, sender: &Sender) -> Result<()> {
        self.claim(session_id, sender)?;
        self.set_outbox(
            "update sync_outbox set state = 'syncing', attempts = attempts + 1, updated_at_ms = ?2 \
             where session_id = ?1",
            params![session_id.to_string(), now_ms()],
        )
    }

    /// The project has every row of the session as it was read for this send. Only an entry
    /// still `syncing` is marked synced: an edit or a late segment meanwhile queued it again
    /// (`pending`), and that change has not been sent, so it stays queued. Whether it was
    /// marked synced.
    pub fn sync_succeeded(&self, session_id: Uuid) -> Result<bool> {
        self.finish_send(
            session_id,
            "update sync_outbox set state = 'synced', last_error = null, next_attempt_at_ms = null, \
               updated_at_ms = ?2 where session_id = ?1 and state = 'syncing'",
            params![session_id.to_string(), now_ms()],
        )
    }

    /// The send failed: try again later, or never (with the reason kept for the user). Like
    /// [`Store::sync_succeeded`], only an entry still `syncing` changes: one queued again
    /// meanwhile stays pending and due, without this attempt's error. Whether it changed.
    pub fn sync_failed(&self, session_id: Uuid, reason: &str, retry: Retry) -> Result<bool> {
        let (state, at) = match retry {
            Retry::At(at) => ("pending", Some(at)),
            Retry::Never => ("failed", None),
        };
        self.finish_send(
            session_id,
            "update sync_outbox set state = ?2, last_error = ?3, next_attempt_at_ms = ?4, \
               updated_at_ms = ?5 where session_id = ?1 and state = 'syncing'",
            params![session_id.to_string(), state, reason, at, now_ms()],
        )
    }

    /// Puts sessions that failed for good (or are waiting for their retry time) back in the
    /// queue now, e.g. after the user fixed the cause; returns how many.
    pub fn retry_sync_now(&self) -> Result<usize> {
        self.conn
            .execute(
                "update sync_outbox set state = 'pending', next_attempt_at_ms = null, updated_at_ms = ?1 \
                 where state in ('failed', 'pending')",
                [now_ms()],
            )
            .map_err(StoreError::sql("requeue sessions"))
    }

    /// Records that a local interview now lives in an organisation (after it was pushed, or when
    /// it is about to be), with the candidate row made for it.
    pub fn set_interview_org(
        &self,
        interview_id: Uuid,
        org_id: Uuid,
        candidate_id: Option<Uuid>,
        project_url: &str,
    ) -> Result<()> {
        let changed = self
            .conn
            .execute(
                "update interviews set org_id = ?2, candidate_id = coalesce(?3, candidate_id), \
                   updated_at_ms = ?4, project_url = ?5 where id = ?1",
                params![
                    interview_id.to_string(),
                    org_id.to_string(),
                    candidate_id.map(|id| id.to_string()),
                    now_ms(),
                    project_url
                ],
            )
            .map_err(StoreError::sql("update interview"))?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: "interview",
                id: interview_id.to_string(),
            });
        }
        Ok(())
    }

    /// Records that the organisation's project now has a local interview.
    pub fn interview_pushed(&self, interview_id: Uuid) -> Result<()> {
        self.conn
            .execute(
                "update interviews set origin = 'cloud', updated_at_ms = ?2 where id = ?1",
                params![interview_id.to_string(), now_ms()],
            )
            .map_err(StoreError::sql("update interview"))?;
        Ok(())
    }

    fn set_outbox(&self, sql: &str, params: impl rusqlite::Params) -> Result<()> {
        let changed = self
            .conn
            .execute(sql, params)
            .map_err(StoreError::sql("update outbox"))?;
        if changed == 0 {
            return Err(Self::no_outbox_entry());
        }
        Ok(())
    }

    /// Ends a send with `sql`, which changes the entry only while it is still `syncing`.
    /// Whether it changed; an entry that is gone is an error, one in another state is not.
    fn finish_send(
        &self,
        session_id: Uuid,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<bool> {
        let changed = self
            .conn
            .execute(sql, params)
            .map_err(StoreError::sql("update outbox"))?;
        if changed > 0 {
            return Ok(true);
        }
        match self.outbox_entry(session_id)? {
            Some(_) => Ok(false),
            None => Err(Self::no_outbox_entry()),
        }
    }

    fn no_outbox_entry() -> StoreError {
        StoreError::NotFound {
            what: "outbox entry",
            id: "for this session".into(),
        }
    }
}
