//! Hark's local store: one SQLite file (WAL) holding interviews, recording sessions, transcript
//! segments and notes, a full-text index over the transcripts (FTS5) and the sync outbox. Works
//! with no cloud at all; ids are client-generated UUIDs, so synced rows keep their identity.

mod backfill;
mod destination;
mod error;
mod schema;
mod sync;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use uuid::Uuid;

pub use backfill::{Gap, Heard};
pub use destination::{Destination, Sender};
pub use error::{Result, StoreError};
pub use sync::{Outgoing, Retry};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An interview (created here, or pulled from the organisation).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Interview {
    /// Its id.
    pub id: Uuid,
    /// The organisation, for interviews pulled from the cloud.
    pub org_id: Option<Uuid>,
    /// The candidate's id in the organisation, when known.
    pub candidate_id: Option<Uuid>,
    /// The candidate's name, when known.
    pub candidate_name: Option<String>,
    /// What the interview is for.
    pub job_title: String,
    /// When it was created (Unix ms).
    pub created_at_ms: i64,
    /// Whether the organisation's project has it (pulled from there, or pushed by a sync).
    pub in_cloud: bool,
}

/// A recording session's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum SessionState {
    /// Still recording (or the app died while it was).
    Recording,
    /// Stopped normally.
    Completed,
    /// Ended by a crash or a failure; what was recorded is kept.
    Interrupted,
}

impl SessionState {
    fn as_str(self) -> &'static str {
        match self {
            SessionState::Recording => "recording",
            SessionState::Completed => "completed",
            SessionState::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> SessionState {
        match text {
            "completed" => SessionState::Completed,
            "interrupted" => SessionState::Interrupted,
            _ => SessionState::Recording,
        }
    }
}

/// The recording notice: the candidate was told the interview is recorded and agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Consent {
    /// The signed-in user who confirmed it; `None` for the recruiter at this computer without
    /// a sign-in (local-only), which is kept here but not sent to the organisation.
    pub by: Option<Uuid>,
    /// When it was confirmed (Unix ms).
    pub at_ms: i64,
}

/// What starting a session needs.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    /// Its id, when the caller needs it before the row exists (to name the recording file).
    pub id: Option<Uuid>,
    /// The interview it belongs to.
    pub interview_id: Uuid,
    /// `microphone`, `system`.
    pub sources: Vec<String>,
    /// Device name per source.
    pub device_names: serde_json::Map<String, serde_json::Value>,
    /// Transcription model.
    pub model: Option<String>,
    /// Language hint.
    pub language: Option<String>,
    /// Vocabulary prompt.
    pub prompt: Option<String>,
    /// The recording file.
    pub recording_path: Option<String>,
    /// The recording notice, when it was confirmed.
    pub consent: Option<Consent>,
    /// Where it syncs: the project and account it is recorded for, or local-only.
    pub destination: Destination,
    /// Whether it is recorded with a live transcript (`None`: not said).
    pub live_transcript: Option<bool>,
}

/// A recording session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Session {
    /// Its id.
    pub id: Uuid,
    /// The interview.
    pub interview_id: Uuid,
    /// Sources recorded.
    pub sources: Vec<String>,
    /// Transcription model.
    pub model: Option<String>,
    /// Language hint.
    pub language: Option<String>,
    /// Start (Unix ms).
    pub started_at_ms: i64,
    /// End (Unix ms), once stopped.
    pub ended_at_ms: Option<i64>,
    /// Seconds of audio recorded.
    pub seconds_recorded: f64,
    /// The recording file.
    pub recording_path: Option<String>,
    /// Recording, completed or interrupted.
    pub state: SessionState,
    /// The recording notice, when it was confirmed.
    pub consent: Option<Consent>,
    /// Where it syncs.
    pub destination: Destination,
    /// Whether it was recorded with a live transcript (a proxy configured); `None` for sessions
    /// from before this was kept. Crash recovery keeps the cut-off tail as a gap only if so.
    #[serde(skip)]
    pub live_transcript: Option<bool>,
}

/// A segment's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum SegmentStatus {
    /// Transcribed live.
    Final,
    /// Transcription failed; the audio span is kept for back-fill.
    Failed,
    /// Transcribed later from the recording file.
    Backfilled,
}

impl SegmentStatus {
    fn as_str(self) -> &'static str {
        match self {
            SegmentStatus::Final => "final",
            SegmentStatus::Failed => "failed",
            SegmentStatus::Backfilled => "backfilled",
        }
    }

    fn parse(text: &str) -> SegmentStatus {
        match text {
            "failed" => SegmentStatus::Failed,
            "backfilled" => SegmentStatus::Backfilled,
            _ => SegmentStatus::Final,
        }
    }
}

/// A transcript segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Segment {
    /// Its id.
    pub id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// OpenAI's conversation item id, when it came from a live call.
    pub item_id: Option<String>,
    /// `microphone` or `system`.
    pub source: String,
    /// Speaker label shown (You / Candidate, or renamed).
    pub speaker_label: Option<String>,
    /// Start on the recording's timeline.
    pub start_ms: i64,
    /// End on the recording's timeline.
    pub end_ms: i64,
    /// The text.
    pub text: String,
    /// Final, failed or back-filled.
    pub status: SegmentStatus,
}

impl Segment {
    /// A gap: `source`'s audio from `start_ms` to `end_ms` the live transcript missed, kept for
    /// back-fill (`failed`, no text).
    pub fn gap(session_id: Uuid, source: &str, start_ms: i64, end_ms: i64) -> Segment {
        Segment {
            id: Uuid::new_v4(),
            session_id,
            item_id: None,
            source: source.to_owned(),
            speaker_label: None,
            start_ms,
            end_ms,
            text: String::new(),
            status: SegmentStatus::Failed,
        }
    }
}

/// A note's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum NoteKind {
    /// A bookmark (maybe with a word).
    Bookmark,
    /// A written note.
    Note,
}

/// A note or bookmark at a point of the recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Note {
    /// Its id.
    pub id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// Bookmark or note.
    pub kind: NoteKind,
    /// Where on the recording's timeline.
    pub at_ms: i64,
    /// The text.
    pub body: String,
}

/// A session as listed in the library.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SessionSummary {
    /// The session.
    pub session: Session,
    /// Its interview's job title.
    pub job_title: String,
    /// The candidate, when known.
    pub candidate_name: Option<String>,
    /// Segments stored.
    pub segments: u64,
    /// Sync state (`pending`, `syncing`, `synced`, `failed`), or `None` while recording.
    pub sync_state: Option<String>,
    /// Why the last sync attempt failed, if it did.
    pub sync_error: Option<String>,
    /// Why it is not sent by the account in use, with what to do ([`Destination::held`]);
    /// filled in by whoever knows that account (the store alone does not).
    pub held: Option<String>,
}

/// Everything about one session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SessionDetail {
    /// The session.
    pub session: Session,
    /// Its interview.
    pub interview: Interview,
    /// Segments in timeline order.
    pub segments: Vec<Segment>,
    /// Notes in timeline order.
    pub notes: Vec<Note>,
    /// Sync state (`pending`, `syncing`, `synced`, `failed`), or `None` while recording.
    pub sync_state: Option<String>,
    /// Why it is not sent by the account in use (see [`SessionSummary::held`]).
    pub held: Option<String>,
}

/// A full-text search hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SearchHit {
    /// The session.
    pub session_id: Uuid,
    /// The segment.
    pub segment_id: Uuid,
    /// The interview's job title.
    pub job_title: String,
    /// Where in the recording.
    pub start_ms: i64,
    /// The matching text with the match between `[` and `]`, cut to a few words around it.
    pub snippet: String,
}

/// An outbox entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxEntry {
    /// The session to send.
    pub session_id: Uuid,
    /// `pending`, `syncing`, `synced` or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Not before this time (Unix ms).
    pub next_attempt_at_ms: Option<i64>,
}

/// The store: one connection. Callers on latency-sensitive paths give it a thread of its own.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

fn uuid_of(row: &Row<'_>, idx: usize) -> rusqlite::Result<Uuid> {
    let text: String = row.get(idx)?;
    Uuid::parse_str(&text).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(err))
    })
}

fn opt_uuid_of(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Uuid>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|t| {
        Uuid::parse_str(&t).map_err(|err| {
            rusqlite::Error::FromSqlConversionFailure(
                idx,
                rusqlite::types::Type::Text,
                Box::new(err),
            )
        })
    })
    .transpose()
}

const SESSION_COLUMNS: &str = "s.id, s.interview_id, s.sources, s.model, s.language, \
    s.started_at_ms, s.ended_at_ms, s.seconds_recorded, s.recording_path, s.state, \
    s.consent_confirmed_by, s.consent_confirmed_at_ms, s.destination, s.sync_project, \
    s.sync_user, s.sync_email, s.live_transcript";

/// Puts a session in the outbox (again) as pending.
fn queue_for_sync(tx: &rusqlite::Transaction<'_>, id: Uuid, now: i64) -> Result<()> {
    tx.execute(
        "insert into sync_outbox (session_id, updated_at_ms) values (?1, ?2) \
         on conflict (session_id) do update set state = 'pending', attempts = 0, \
           last_error = null, next_attempt_at_ms = null, updated_at_ms = excluded.updated_at_ms",
        params![id.to_string(), now],
    )
    .map_err(StoreError::sql("queue session for sync"))?;
    Ok(())
}

/// Inserts `segment`, or updates the one with its id or item id (speaker, span, text, status).
fn upsert_segment(conn: &Connection, segment: &Segment, now: i64) -> Result<()> {
    if segment.end_ms < segment.start_ms || segment.start_ms < 0 {
        return Err(StoreError::Invalid {
            field: "start_ms/end_ms",
            problem: format!(
                "{}..{} is not a time span",
                segment.start_ms, segment.end_ms
            ),
        });
    }
    conn.execute(
        "insert into transcript_segments (id, session_id, item_id, source, speaker_label, \
           start_ms, end_ms, text, status, created_at_ms, updated_at_ms) \
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) \
         on conflict do update set speaker_label = excluded.speaker_label, \
           start_ms = excluded.start_ms, end_ms = excluded.end_ms, text = excluded.text, \
           status = excluded.status, updated_at_ms = excluded.updated_at_ms",
        params![
            segment.id.to_string(),
            segment.session_id.to_string(),
            segment.item_id,
            segment.source,
            segment.speaker_label,
            segment.start_ms,
            segment.end_ms,
            segment.text,
            segment.status.as_str(),
            now
        ],
    )
    .map_err(StoreError::sql("save segment"))?;
    Ok(())
}

/// Queues a changed session for sync unless it is still being recorded (stopping queues it).
fn requeue_if_finished(tx: &rusqlite::Transaction<'_>, id: Uuid) -> Result<()> {
    let recording: bool = tx
        .query_row(
            "select state = 'recording' from recording_sessions where id = ?1",
            [id.to_string()],
            |row| row.get(0),
        )
        .map_err(StoreError::sql("queue session for sync"))?;
    if recording {
        return Ok(());
    }
    queue_for_sync(tx, id, now_ms())
}

/// How many columns [`SESSION_COLUMNS`] has (queries add theirs after it).
const SESSION_COLUMN_COUNT: usize = 17;

fn session_of(row: &Row<'_>) -> rusqlite::Result<Session> {
    let sources: String = row.get(2)?;
    Ok(Session {
        id: uuid_of(row, 0)?,
        interview_id: uuid_of(row, 1)?,
        sources: serde_json::from_str(&sources).unwrap_or_default(),
        model: row.get(3)?,
        language: row.get(4)?,
        started_at_ms: row.get(5)?,
        ended_at_ms: row.get(6)?,
        seconds_recorded: row.get(7)?,
        recording_path: row.get(8)?,
        state: SessionState::parse(&row.get::<_, String>(9)?),
        consent: match row.get::<_, Option<i64>>(11)? {
            Some(at_ms) => Some(Consent {
                by: opt_uuid_of(row, 10)?,
                at_ms,
            }),
            None => None,
        },
        destination: Destination::of(row, 12)?,
        live_transcript: row.get(16)?,
    })
}

/// The project of an interview known to be of a project other than the one connected when it
/// was placed, which one unknown (see [`Store::place_interviews`]); never a project's URL.
const ANOTHER_PROJECT: &str = "another project";

const INTERVIEW_COLUMNS: &str =
    "i.id, i.org_id, i.candidate_id, i.candidate_name, i.job_title, i.created_at_ms, i.origin";

fn interview_of(row: &Row<'_>) -> rusqlite::Result<Interview> {
    Ok(Interview {
        id: uuid_of(row, 0)?,
        org_id: opt_uuid_of(row, 1)?,
        candidate_id: opt_uuid_of(row, 2)?,
        candidate_name: row.get(3)?,
        job_title: row.get(4)?,
        created_at_ms: row.get(5)?,
        in_cloud: row.get::<_, String>(6)? == "cloud",
    })
}

fn note_of(row: &Row<'_>) -> rusqlite::Result<Note> {
    Ok(Note {
        id: uuid_of(row, 0)?,
        session_id: uuid_of(row, 1)?,
        kind: if row.get::<_, String>(2)? == "bookmark" {
            NoteKind::Bookmark
        } else {
            NoteKind::Note
        },
        at_ms: row.get(3)?,
        body: row.get(4)?,
    })
}

/// An outbox row from `session_id, state, attempts, last_error, next_attempt_at_ms`.
fn outbox_entry_of(row: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        session_id: uuid_of(row, 0)?,
        state: row.get(1)?,
        attempts: row.get::<_, i64>(2)? as u32,
        last_error: row.get(3)?,
        next_attempt_at_ms: row.get(4)?,
    })
}

/// The columns [`segment_of`] reads, in its order.
const SEGMENT_COLUMNS: &str =
    "id, session_id, item_id, source, speaker_label, start_ms, end_ms, text, status";

fn segment_of(row: &Row<'_>) -> rusqlite::Result<Segment> {
    Ok(Segment {
        id: uuid_of(row, 0)?,
        session_id: uuid_of(row, 1)?,
        item_id: row.get(2)?,
        source: row.get(3)?,
        speaker_label: row.get(4)?,
        start_ms: row.get(5)?,
        end_ms: row.get(6)?,
        text: row.get(7)?,
        status: SegmentStatus::parse(&row.get::<_, String>(8)?),
    })
}

/// Turns what a user typed into an FTS5 query that cannot be a syntax error: every word is
/// quoted (so `AND`, `-`, `"` or `*` are plain text) and all must match; a trailing `*` on the
/// last word is kept as a prefix search.
fn fts_query(input: &str) -> Option<String> {
    let words: Vec<&str> = input.split_whitespace().collect();
    let last = words.len().checked_sub(1)?;
    let terms: Vec<String> = words
        .iter()
        .enumerate()
        .filter_map(|(i, word)| {
            let prefix = i == last && word.ends_with('*') && word.len() > 1;
            let bare = word.trim_end_matches('*').replace('"', "\"\"");
            (!bare.is_empty()).then(|| {
                if prefix {
                    format!("\"{bare}\"*")
                } else {
                    format!("\"{bare}\"")
                }
            })
        })
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Store::prepare(conn, &path.display().to_string())
    }

    /// Writes a consistent copy of the whole database to `path` (SQLite's `VACUUM INTO`: what
    /// is committed when it starts, also while another connection writes), which must not exist.
    pub fn copy_to(&self, path: &Path) -> Result<()> {
        let target = path.to_str().ok_or_else(|| StoreError::Invalid {
            field: "the new folder",
            problem: format!(
                "{} is not valid Unicode; choose a folder with a plainer name",
                path.display()
            ),
        })?;
        self.conn
            .execute("vacuum into ?1", [target])
            .map_err(StoreError::sql("copy the database"))?;
        Ok(())
    }

    /// Points the recordings kept under the folder `from` at the same files under `to` (after
    /// the data folder moved); returns how many sessions changed. Both end with a separator.
    pub fn rebase_recordings(&self, from: &str, to: &str) -> Result<usize> {
        self.conn
            .execute(
                "update recording_sessions set recording_path = ?2 || substr(recording_path, length(?1) + 1) \
                 where substr(recording_path, 1, length(?1)) = ?1",
                [from, to],
            )
            .map_err(StoreError::sql("move the recordings' paths"))
    }

    /// A store in memory (tests, benchmarks).
    pub fn open_in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: ":memory:".into(),
            source,
        })?;
        Store::prepare(conn, ":memory:")
    }

    fn prepare(mut conn: Connection, path: &str) -> Result<Store> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|_| conn.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|_| conn.pragma_update(None, "foreign_keys", "ON"))
            .and_then(|_| conn.busy_timeout(std::time::Duration::from_secs(5)))
            .map_err(|source| StoreError::Open {
                path: path.into(),
                source,
            })?;
        schema::migrations()
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migrate {
                path: path.into(),
                message: source.to_string(),
            })?;
        Ok(Store { conn })
    }

    /// Creates a local interview.
    pub fn create_interview(
        &self,
        job_title: &str,
        candidate_name: Option<&str>,
    ) -> Result<Interview> {
        let job_title = job_title.trim();
        if job_title.is_empty() || job_title.chars().count() > 300 {
            return Err(StoreError::Invalid {
                field: "job_title",
                problem: "must be 1 to 300 characters".into(),
            });
        }
        let interview = Interview {
            id: Uuid::new_v4(),
            org_id: None,
            candidate_id: None,
            candidate_name: candidate_name
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(Into::into),
            job_title: job_title.into(),
            created_at_ms: now_ms(),
            in_cloud: false,
        };
        self.conn
            .execute(
                "insert into interviews (id, candidate_name, job_title, created_at_ms, updated_at_ms) \
                 values (?1, ?2, ?3, ?4, ?4)",
                params![
                    interview.id.to_string(),
                    interview.candidate_name,
                    interview.job_title,
                    interview.created_at_ms
                ],
            )
            .map_err(StoreError::sql("create interview"))?;
        Ok(interview)
    }

    /// Adds or refreshes an interview pulled from the organisation (same id as in the cloud).
    pub fn upsert_cloud_interview(&self, interview: &Interview, project_url: &str) -> Result<()> {
        self.conn
            .execute(
                "insert into interviews (id, org_id, candidate_id, candidate_name, job_title, origin, \
                   created_at_ms, updated_at_ms, project_url) \
                 values (?1, ?2, ?7, ?3, ?4, 'cloud', ?5, ?6, ?8) \
                 on conflict (id) do update set org_id = excluded.org_id, \
                   candidate_id = excluded.candidate_id, candidate_name = excluded.candidate_name, \
                   job_title = excluded.job_title, origin = 'cloud', updated_at_ms = excluded.updated_at_ms, \
                   project_url = excluded.project_url",
                params![
                    interview.id.to_string(),
                    interview.org_id.map(|id| id.to_string()),
                    interview.candidate_name,
                    interview.job_title,
                    interview.created_at_ms,
                    now_ms(),
                    interview.candidate_id.map(|id| id.to_string()),
                    project_url,
                ],
            )
            .map_err(StoreError::sql("save interview"))?;
        Ok(())
    }

    /// How many organisations' interviews have no project: pulled or pushed before each kept
    /// its project (migration 3), so they are offered under every project until placed.
    pub fn unplaced_interviews(&self) -> Result<usize> {
        self.conn
            .query_row(
                "select count(*) from interviews where org_id is not null and project_url is null",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(StoreError::sql("count interviews"))
    }

    /// Places the interviews [`Store::unplaced_interviews`] counts, once signed in to
    /// `project_url`, where `orgs` are the recruiter's organisations: one of those is that
    /// project's (organisation ids are unique across projects); any other cannot be recorded
    /// there, so it is set apart as another project's and no longer offered (pulling from its
    /// own project offers it again). Returns how many went to this project and how many apart.
    pub fn place_interviews(&self, project_url: &str, orgs: &[Uuid]) -> Result<(usize, usize)> {
        let orgs = serde_json::to_string(&orgs.iter().map(Uuid::to_string).collect::<Vec<_>>())
            .unwrap_or_default();
        let here = self
            .conn
            .execute(
                "update interviews set project_url = ?1 \
                 where org_id is not null and project_url is null \
                   and org_id in (select value from json_each(?2))",
                params![project_url, orgs],
            )
            .map_err(StoreError::sql("place interviews"))?;
        let apart = self
            .conn
            .execute(
                "update interviews set project_url = ?1 \
                 where org_id is not null and project_url is null",
                [ANOTHER_PROJECT],
            )
            .map_err(StoreError::sql("place interviews"))?;
        Ok((here, apart))
    }

    /// The interviews that can be recorded with `project_url` connected (none: local-only),
    /// newest first: local ones and that project's (not another project's, whose organisation
    /// would refuse the session).
    pub fn interviews(&self, project_url: Option<&str>) -> Result<Vec<Interview>> {
        let mut statement = self
            .conn
            .prepare_cached(&format!(
                "select {INTERVIEW_COLUMNS} from interviews i \
                 where i.project_url is null or i.project_url = ?1 \
                 order by i.created_at_ms desc"
            ))
            .map_err(StoreError::sql("list interviews"))?;
        let rows = statement
            .query_map([project_url], interview_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(StoreError::sql("list interviews"))?;
        Ok(rows)
    }

    /// The interview whose id is `id_or_title`, or whose title (or candidate) matches it exactly
    /// (case-insensitive) among those [`Store::interviews`] offers for `project_url`. Several
    /// matches are an error listing them; so is the id of an interview not offered there
    /// (another project's).
    pub fn find_interview(
        &self,
        id_or_title: &str,
        project_url: Option<&str>,
    ) -> Result<Option<Interview>> {
        let wanted = id_or_title.trim();
        if let Ok(id) = Uuid::parse_str(wanted) {
            let found = self
                .conn
                .query_row(
                    &format!(
                        "select {INTERVIEW_COLUMNS}, i.project_url from interviews i where i.id = ?1"
                    ),
                    [id.to_string()],
                    |row| Ok((interview_of(row)?, row.get::<_, Option<String>>(7)?)),
                )
                .optional()
                .map_err(StoreError::sql("read interview"))?;
            return match found {
                Some((interview, Some(project))) if Some(project.as_str()) != project_url => {
                    Err(StoreError::ElsewhereInterview {
                        id: interview.id.to_string(),
                        title: interview.job_title,
                        project,
                        here: project_url.unwrap_or("local-only mode").to_string(),
                    })
                }
                Some((interview, _)) => Ok(Some(interview)),
                None => Ok(None),
            };
        }
        let mut statement = self
            .conn
            .prepare_cached(&format!(
                "select {INTERVIEW_COLUMNS} from interviews i \
                 where (i.job_title = ?1 collate nocase or i.candidate_name = ?1 collate nocase) \
                   and (i.project_url is null or i.project_url = ?2) \
                 order by i.created_at_ms desc"
            ))
            .map_err(StoreError::sql("find interview"))?;
        let mut found = statement
            .query_map(params![wanted, project_url], interview_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(StoreError::sql("find interview"))?;
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(StoreError::Ambiguous {
                query: wanted.into(),
                matches: found.iter().map(|i| i.id.to_string()).collect(),
            }),
        }
    }

    /// One interview by id.
    pub fn interview(&self, id: Uuid) -> Result<Interview> {
        self.conn
            .query_row(
                &format!("select {INTERVIEW_COLUMNS} from interviews i where i.id = ?1"),
                [id.to_string()],
                interview_of,
            )
            .optional()
            .map_err(StoreError::sql("read interview"))?
            .ok_or(StoreError::NotFound {
                what: "interview",
                id: id.to_string(),
            })
    }

    /// Starts a session (state `recording`).
    pub fn start_session(&self, new: &NewSession) -> Result<Session> {
        self.interview(new.interview_id)?;
        let sources = if new.sources.is_empty() {
            vec!["microphone".to_string()]
        } else {
            new.sources.clone()
        };
        if let Some(bad) = sources
            .iter()
            .find(|s| !matches!(s.as_str(), "microphone" | "system"))
        {
            return Err(StoreError::Invalid {
                field: "sources",
                problem: format!("{bad:?} is not `microphone` or `system`"),
            });
        }
        let started_at_ms = now_ms();
        if let Some(consent) = new.consent
            && !(0..=started_at_ms + 60_000).contains(&consent.at_ms)
        {
            return Err(StoreError::Invalid {
                field: "consent",
                problem: format!(
                    "confirmed at {} ms, which is not a time before the recording; confirm the notice again",
                    consent.at_ms
                ),
            });
        }
        let session = Session {
            id: new.id.unwrap_or_else(Uuid::new_v4),
            interview_id: new.interview_id,
            sources,
            model: new.model.clone(),
            language: new.language.clone(),
            started_at_ms,
            ended_at_ms: None,
            seconds_recorded: 0.0,
            recording_path: new.recording_path.clone(),
            state: SessionState::Recording,
            consent: new.consent,
            destination: new.destination.clone(),
            live_transcript: new.live_transcript,
        };
        let (destination, sync_project, sync_user, sync_email) = new.destination.columns();
        self.conn
            .execute(
                "insert into recording_sessions (id, interview_id, sources, device_names, model, \
                   language, prompt, started_at_ms, recording_path, created_at_ms, updated_at_ms, \
                   consent_confirmed_by, consent_confirmed_at_ms, destination, sync_project, \
                   sync_user, sync_email, live_transcript) \
                 values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8, ?8, ?10, ?11, ?12, ?13, ?14, ?15, \
                   ?16)",
                params![
                    session.id.to_string(),
                    session.interview_id.to_string(),
                    serde_json::to_string(&session.sources).unwrap_or_default(),
                    serde_json::Value::Object(new.device_names.clone()).to_string(),
                    session.model,
                    session.language,
                    new.prompt,
                    session.started_at_ms,
                    session.recording_path,
                    new.consent.and_then(|c| c.by).map(|by| by.to_string()),
                    new.consent.map(|c| c.at_ms),
                    destination,
                    sync_project,
                    sync_user,
                    sync_email,
                    new.live_transcript,
                ],
            )
            .map_err(StoreError::sql("start session"))?;
        Ok(session)
    }

    /// Saves a segment (insert, or update the one with the same id or the same item id). Returns
    /// once it is committed, so the caller may then show it as final. A segment of a session
    /// that has already finished (saved late, after Stop, or back-filled) queues the session
    /// again in the same transaction, so the change is sent.
    pub fn save_segment(&self, segment: &Segment) -> Result<()> {
        // `&self`: the connection is this store's alone, so no other transaction is open on it.
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(StoreError::sql("save segment"))?;
        upsert_segment(&tx, segment, now_ms())?;
        requeue_if_finished(&tx, segment.session_id)?;
        tx.commit().map_err(StoreError::sql("save segment"))?;
        Ok(())
    }

    /// Adds a note or bookmark.
    pub fn add_note(
        &self,
        session_id: Uuid,
        kind: NoteKind,
        at_ms: i64,
        body: &str,
    ) -> Result<Note> {
        let note = Note {
            id: Uuid::new_v4(),
            session_id,
            kind,
            at_ms: at_ms.max(0),
            body: body.to_string(),
        };
        let now = now_ms();
        self.conn
            .execute(
                "insert into session_notes (id, session_id, kind, at_ms, body, created_at_ms, updated_at_ms) \
                 values (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![
                    note.id.to_string(),
                    session_id.to_string(),
                    match kind {
                        NoteKind::Bookmark => "bookmark",
                        NoteKind::Note => "note",
                    },
                    note.at_ms,
                    note.body,
                    now
                ],
            )
            .map_err(StoreError::sql("add note"))?;
        Ok(note)
    }

    /// Ends a session and queues it for sync, in one transaction.
    pub fn finish_session(
        &mut self,
        id: Uuid,
        seconds_recorded: f64,
        state: SessionState,
    ) -> Result<()> {
        if self.end_session(id, seconds_recorded, state, false)? {
            return Ok(());
        }
        Err(StoreError::NotFound {
            what: "session",
            id: id.to_string(),
        })
    }

    /// Ends a session in `state` and queues it for sync, in one transaction; with
    /// `only_if_recording`, only a session still marked `recording`. Whether one was ended.
    fn end_session(
        &mut self,
        id: Uuid,
        seconds_recorded: f64,
        state: SessionState,
        only_if_recording: bool,
    ) -> Result<bool> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction()
            .map_err(StoreError::sql("finish session"))?;
        let changed = tx
            .execute(
                "update recording_sessions set ended_at_ms = max(?2, started_at_ms), \
                   seconds_recorded = ?3, state = ?4, updated_at_ms = ?2 \
                 where id = ?1 and (not ?5 or state = 'recording')",
                params![
                    id.to_string(),
                    now,
                    seconds_recorded.max(0.0),
                    state.as_str(),
                    only_if_recording
                ],
            )
            .map_err(StoreError::sql("finish session"))?;
        if changed == 0 {
            return Ok(false);
        }
        queue_for_sync(&tx, id, now)?;
        tx.commit().map_err(StoreError::sql("finish session"))?;
        Ok(true)
    }

    /// Corrects a segment's text (the search index follows); a finished session is queued to
    /// send the change. Empty text is refused: delete words, not the segment.
    pub fn edit_segment(&mut self, segment_id: Uuid, text: &str) -> Result<Segment> {
        let text = text.trim();
        if text.is_empty() {
            return Err(StoreError::Invalid {
                field: "text",
                problem: "a segment cannot be emptied; leave at least a word".into(),
            });
        }
        let tx = self
            .conn
            .transaction()
            .map_err(StoreError::sql("edit segment"))?;
        let session_id: Option<String> = tx
            .query_row(
                "update transcript_segments set text = ?2 where id = ?1 returning session_id",
                params![segment_id.to_string(), text],
                |row| row.get(0),
            )
            .optional()
            .map_err(StoreError::sql("edit segment"))?;
        let session_id = session_id.ok_or(StoreError::NotFound {
            what: "segment",
            id: segment_id.to_string(),
        })?;
        let session_id = Uuid::parse_str(&session_id).map_err(|_| StoreError::Invalid {
            field: "session_id",
            problem: format!("{session_id:?} is not a UUID"),
        })?;
        requeue_if_finished(&tx, session_id)?;
        let segment = tx
            .query_row(
                &format!("select {SEGMENT_COLUMNS} from transcript_segments t where t.id = ?1"),
                [segment_id.to_string()],
                segment_of,
            )
            .map_err(StoreError::sql("edit segment"))?;
        tx.commit().map_err(StoreError::sql("edit segment"))?;
        Ok(segment)
    }

    /// Names the speaker of one source in a session (`None` goes back to You / Candidate);
    /// returns how many segments changed. A finished session is queued to send the change.
    pub fn rename_speaker(
        &mut self,
        session_id: Uuid,
        source: &str,
        label: Option<&str>,
    ) -> Result<usize> {
        let label = label.map(str::trim).filter(|l| !l.is_empty());
        if label.is_some_and(|l| l.chars().count() > 80) {
            return Err(StoreError::Invalid {
                field: "speaker_label",
                problem: "a speaker's name is at most 80 characters".into(),
            });
        }
        let tx = self
            .conn
            .transaction()
            .map_err(StoreError::sql("rename speaker"))?;
        let changed = tx
            .execute(
                "update transcript_segments set speaker_label = ?3 where session_id = ?1 and source = ?2",
                params![session_id.to_string(), source, label],
            )
            .map_err(StoreError::sql("rename speaker"))?;
        requeue_if_finished(&tx, session_id)?;
        tx.commit().map_err(StoreError::sql("rename speaker"))?;
        Ok(changed)
    }

    /// Deletes a session here (its segments, notes and outbox entry with it); returns its
    /// recording file's path so the caller can remove the file. A session being recorded is
    /// refused, and so is one being sent (its outbox entry `syncing`): the send would mark a
    /// session that no longer exists. The organisation's copy, if synced, is not touched.
    pub fn delete_session(&mut self, session_id: Uuid) -> Result<Option<String>> {
        let tx = self
            .conn
            .transaction()
            .map_err(StoreError::sql("delete session"))?;
        let found: Option<(String, Option<String>, Option<String>)> = tx
            .query_row(
                "select s.state, s.recording_path, o.state from recording_sessions s \
                 left join sync_outbox o on o.session_id = s.id where s.id = ?1",
                [session_id.to_string()],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
            .map_err(StoreError::sql("delete session"))?;
        let (state, path, sync_state) = found.ok_or(StoreError::NotFound {
            what: "session",
            id: session_id.to_string(),
        })?;
        if state == SessionState::Recording.as_str() {
            return Err(StoreError::Invalid {
                field: "session",
                problem: "it is still being recorded; stop it first".into(),
            });
        }
        if sync_state.as_deref() == Some("syncing") {
            return Err(StoreError::Invalid {
                field: "session",
                problem: "is being sent to your organisation right now; wait until it has finished syncing, then delete it".into(),
            });
        }
        tx.execute(
            "delete from recording_sessions where id = ?1",
            [session_id.to_string()],
        )
        .map_err(StoreError::sql("delete session"))?;
        tx.commit().map_err(StoreError::sql("delete session"))?;
        Ok(path)
    }

    /// Sessions still marked `recording`: being recorded by a live process (this one, or the
    /// app beside the CLI), or left so by a crash. [`Store::interrupt`] finishes the latter.
    pub fn sessions_left_recording(&self) -> Result<Vec<Session>> {
        let mut statement = self
            .conn
            .prepare(&format!(
                "select {SESSION_COLUMNS} from recording_sessions s where s.state = 'recording'"
            ))
            .map_err(StoreError::sql("find interrupted sessions"))?;
        statement
            .query_map([], session_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(StoreError::sql("find interrupted sessions"))
    }

    /// Marks a session a crash left `recording` as interrupted and queues it for sync; `false`
    /// (and nothing changed) if it is no longer recording, as when its recorder finished it
    /// meanwhile.
    pub fn interrupt(&mut self, id: Uuid, seconds_recorded: f64) -> Result<bool> {
        self.end_session(id, seconds_recorded, SessionState::Interrupted, true)
    }

    /// Records how much audio a running session has (kept current so a crash loses little).
    pub fn set_seconds_recorded(&self, id: Uuid, seconds: f64) -> Result<()> {
        self.conn
            .execute(
                "update recording_sessions set seconds_recorded = ?2, updated_at_ms = ?3 where id = ?1",
                params![id.to_string(), seconds.max(0.0), now_ms()],
            )
            .map_err(StoreError::sql("update session"))?;
        Ok(())
    }

    /// The library: sessions newest first, with interview, segment count and sync state.
    pub fn sessions(&self) -> Result<Vec<SessionSummary>> {
        let mut statement = self
            .conn
            .prepare_cached(&format!(
                "select {SESSION_COLUMNS}, i.job_title, i.candidate_name, \
                   (select count(*) from transcript_segments t where t.session_id = s.id), o.state, o.last_error \
                 from recording_sessions s join interviews i on i.id = s.interview_id \
                 left join sync_outbox o on o.session_id = s.id \
                 order by s.started_at_ms desc"
            ))
            .map_err(StoreError::sql("list sessions"))?;
        let rows = statement
            .query_map([], |row| {
                Ok(SessionSummary {
                    session: session_of(row)?,
                    job_title: row.get(SESSION_COLUMN_COUNT)?,
                    candidate_name: row.get(SESSION_COLUMN_COUNT + 1)?,
                    segments: row.get::<_, i64>(SESSION_COLUMN_COUNT + 2)? as u64,
                    sync_state: row.get(SESSION_COLUMN_COUNT + 3)?,
                    sync_error: row.get(SESSION_COLUMN_COUNT + 4)?,
                    held: None,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(StoreError::sql("list sessions"))?;
        Ok(rows)
    }

    /// A session with its interview, segments and notes. `id` may be a unique prefix.
    pub fn session(&self, id: &str) -> Result<SessionDetail> {
        let id = self.resolve_session_id(id)?;
        let session = self
            .conn
            .query_row(
                &format!("select {SESSION_COLUMNS} from recording_sessions s where s.id = ?1"),
                [id.to_string()],
                session_of,
            )
            .map_err(StoreError::sql("read session"))?;
        let interview = self.interview(session.interview_id)?;
        let sync_state: Option<String> = self
            .conn
            .query_row(
                "select state from sync_outbox where session_id = ?1",
                [id.to_string()],
                |row| row.get(0),
            )
            .optional()
            .map_err(StoreError::sql("read session"))?;
        let mut statement = self
            .conn
            .prepare_cached(&format!(
                "select {SEGMENT_COLUMNS} from transcript_segments where session_id = ?1 \
                     order by start_ms, end_ms, rowid"
            ))
            .map_err(StoreError::sql("read segments"))?;
        let segments = statement
            .query_map([id.to_string()], segment_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(StoreError::sql("read segments"))?;
        let mut statement = self
            .conn
            .prepare_cached(
                "select id, session_id, kind, at_ms, body from session_notes \
                 where session_id = ?1 order by at_ms, rowid",
            )
            .map_err(StoreError::sql("read notes"))?;
        let notes = statement
            .query_map([id.to_string()], note_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(StoreError::sql("read notes"))?;
        Ok(SessionDetail {
            session,
            interview,
            segments,
            notes,
            sync_state,
            held: None,
        })
    }

    /// A full session id from a whole id or a unique prefix of at least 4 characters.
    fn resolve_session_id(&self, id: &str) -> Result<Uuid> {
        let id = id.trim().to_ascii_lowercase();
        if let Ok(full) = Uuid::parse_str(&id) {
            return Ok(full);
        }
        if id.len() < 4 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(StoreError::NotFound {
                what: "session",
                id,
            });
        }
        let mut statement = self
            .conn
            .prepare_cached("select id from recording_sessions where id like ?1 || '%' limit 3")
            .map_err(StoreError::sql("find session"))?;
        let found = statement
            .query_map([&id], |row| uuid_of(row, 0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(StoreError::sql("find session"))?;
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(StoreError::NotFound {
                what: "session",
                id,
            }),
            many => Err(StoreError::Ambiguous {
                query: id,
                matches: many.iter().map(Uuid::to_string).collect(),
            }),
        }
    }

    /// Full-text search over transcripts (all words must match; accents folded; a trailing `*`
    /// searches a prefix), newest segments first, with snippets.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>> {
        let Some(fts) = fts_query(query) else {
            return Ok(Vec::new());
        };
        // Newest first, from the index alone; then join and cut snippets for the few shown.
        // (Ranking by bm25 costs ~25 ms for words in 10,000+ segments; the library lists
        // sessions by date anyway.)
        let mut ranked = self
            .conn
            .prepare_cached(
                "select rowid from transcript_fts where transcript_fts match ?1 order by rowid desc limit ?2",
            )
            .map_err(StoreError::sql("search"))?;
        let rowids = ranked
            .query_map(params![fts, limit as i64], |row| row.get::<_, i64>(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(StoreError::sql("search"))?;
        let mut detail = self
            .conn
            .prepare_cached(
                "select t.session_id, t.id, i.job_title, t.start_ms, \
                   snippet(transcript_fts, 0, '[', ']', '…', 12) \
                 from transcript_fts f \
                 join transcript_segments t on t.rowid = f.rowid \
                 join recording_sessions s on s.id = t.session_id \
                 join interviews i on i.id = s.interview_id \
                 where transcript_fts match ?1 and f.rowid = ?2",
            )
            .map_err(StoreError::sql("search"))?;
        let mut hits = Vec::with_capacity(rowids.len());
        for rowid in rowids {
            let hit = detail
                .query_row(params![fts, rowid], |row| {
                    Ok(SearchHit {
                        session_id: uuid_of(row, 0)?,
                        segment_id: uuid_of(row, 1)?,
                        job_title: row.get(2)?,
                        start_ms: row.get(3)?,
                        snippet: row.get(4)?,
                    })
                })
                .optional()
                .map_err(StoreError::sql("search"))?;
            hits.extend(hit);
        }
        Ok(hits)
    }

    /// Outbox entries not yet synced, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "select session_id, state, attempts, last_error, next_attempt_at_ms from sync_outbox \
                 where state <> 'synced' order by updated_at_ms",
            )
            .map_err(StoreError::sql("read outbox"))?;
        let rows = statement
            .query_map([], outbox_entry_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(StoreError::sql("read outbox"))?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests;
