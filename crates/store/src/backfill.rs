//! The store's side of back-fill: the spans of finished recordings whose live transcript is
//! missing (kept as `failed` segments with their span and no text), and replacing one with the
//! transcripts found in it afterwards.

use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use crate::{
    Destination, Result, SEGMENT_COLUMNS, Segment, SegmentStatus, Store, StoreError, now_ms,
    requeue_if_finished, segment_of, upsert_segment, uuid_of,
};

/// A span of a finished recording that has no transcript yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    /// The `failed` segment holding the span.
    pub segment: Segment,
    /// The session's interview (the proxy applies its organisation's policy).
    pub interview_id: Uuid,
    /// The recording file.
    pub recording_path: String,
    /// The session's language hint.
    pub language: Option<String>,
    /// The session's vocabulary prompt.
    pub prompt: Option<String>,
    /// Where the session syncs (back-fill transcribes only what the account in use sends: the
    /// proxy transcribes for its organisation's interviews).
    pub destination: Destination,
}

/// What was heard in a part of a gap.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// Start on the recording's timeline.
    pub start_ms: i64,
    /// End on the recording's timeline.
    pub end_ms: i64,
    /// The transcript.
    pub text: String,
}

impl Store {
    /// Gaps of finished sessions that kept their recording file, oldest session first.
    pub fn gaps(&self) -> Result<Vec<Gap>> {
        let columns = SEGMENT_COLUMNS
            .split(", ")
            .map(|c| format!("t.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut statement = self
            .conn
            .prepare(&format!(
                "select {columns}, s.interview_id, s.recording_path, s.language, s.prompt, \
                   s.destination, s.sync_project, s.sync_user, s.sync_email \
                 from transcript_segments t join recording_sessions s on s.id = t.session_id \
                 where t.status = 'failed' and s.state <> 'recording' \
                   and s.recording_path is not null \
                 order by s.started_at_ms, t.start_ms"
            ))
            .map_err(StoreError::sql("list gaps"))?;
        let rows = statement
            .query_map([], |row| {
                Ok(Gap {
                    segment: segment_of(row)?,
                    interview_id: uuid_of(row, 9)?,
                    recording_path: row.get(10)?,
                    language: row.get(11)?,
                    prompt: row.get(12)?,
                    destination: Destination::of(row, 13)?,
                })
            })
            .map_err(StoreError::sql("list gaps"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(StoreError::sql("list gaps"))
    }

    /// Replaces the gap `gap_id` with what was `heard` in it, as back-filled segments (none:
    /// nothing was said, the gap goes). The first keeps the gap's id, so a copy already synced
    /// is updated rather than left beside it. With `rest_from`, only the gap's audio before that
    /// point was transcribed: the gap stays, starting there, and every heard segment is new.
    /// A finished session that gained lines is queued to send them. Returns the new segments.
    pub fn fill_gap(
        &mut self,
        gap_id: Uuid,
        heard: &[Heard],
        rest_from: Option<i64>,
    ) -> Result<Vec<Segment>> {
        let tx = self
            .conn
            .transaction()
            .map_err(StoreError::sql("fill gap"))?;
        let gap = tx
            .query_row(
                &format!(
                    "select {SEGMENT_COLUMNS} from transcript_segments \
                     where id = ?1 and status = 'failed'"
                ),
                [gap_id.to_string()],
                segment_of,
            )
            .optional()
            .map_err(StoreError::sql("fill gap"))?
            .ok_or(StoreError::NotFound {
                what: "gap",
                id: gap_id.to_string(),
            })?;
        let now = now_ms();
        let mut filled = Vec::with_capacity(heard.len());
        match rest_from {
            Some(from) => {
                tx.execute(
                    "update transcript_segments set start_ms = min(max(?2, start_ms), end_ms), \
                       updated_at_ms = ?3 where id = ?1",
                    params![gap_id.to_string(), from, now],
                )
                .map_err(StoreError::sql("fill gap"))?;
            }
            None if heard.is_empty() => {
                tx.execute(
                    "delete from transcript_segments where id = ?1",
                    [gap_id.to_string()],
                )
                .map_err(StoreError::sql("fill gap"))?;
            }
            None => {}
        }
        for (i, piece) in heard.iter().enumerate() {
            let takes_gap_id = i == 0 && rest_from.is_none();
            let segment = Segment {
                id: if takes_gap_id { gap.id } else { Uuid::new_v4() },
                item_id: if takes_gap_id {
                    gap.item_id.clone()
                } else {
                    None
                },
                start_ms: piece.start_ms,
                end_ms: piece.end_ms,
                text: piece.text.clone(),
                status: SegmentStatus::Backfilled,
                ..gap.clone()
            };
            upsert_segment(&tx, &segment, now)?;
            filled.push(segment);
        }
        if !filled.is_empty() {
            requeue_if_finished(&tx, gap.session_id)?;
        }
        tx.commit().map_err(StoreError::sql("fill gap"))?;
        Ok(filled)
    }
}
