//! The local schema, as migrations applied in order (`PRAGMA user_version` counts them). Tables
//! mirror the Supabase ones where they overlap (same names and columns; times as Unix
//! milliseconds), plus local-only state: recording file paths, OpenAI item ids, the sync outbox.

use rusqlite_migration::{M, Migrations};

const V1: &str = r#"
create table interviews (
  id text primary key,
  org_id text,
  candidate_id text,
  candidate_name text check (candidate_name is null or length(trim(candidate_name)) between 1 and 300),
  job_title text not null check (length(trim(job_title)) between 1 and 300),
  scheduled_at_ms integer,
  origin text not null default 'local' check (origin in ('local', 'cloud')),
  created_at_ms integer not null,
  updated_at_ms integer not null
) strict;
create index interviews_title_idx on interviews (job_title collate nocase);

create table recording_sessions (
  id text primary key,
  interview_id text not null references interviews (id) on delete cascade,
  sources text not null default '["microphone"]' check (json_valid(sources)),
  device_names text not null default '{}' check (json_valid(device_names)),
  model text,
  language text,
  prompt text,
  started_at_ms integer not null,
  ended_at_ms integer check (ended_at_ms is null or ended_at_ms >= started_at_ms),
  seconds_recorded real not null default 0 check (seconds_recorded >= 0),
  consent_confirmed_by text,
  consent_confirmed_at_ms integer,
  recording_path text,
  state text not null default 'recording' check (state in ('recording', 'completed', 'interrupted')),
  created_at_ms integer not null,
  updated_at_ms integer not null
) strict;
create index recording_sessions_interview_idx on recording_sessions (interview_id);
create index recording_sessions_started_idx on recording_sessions (started_at_ms desc);

create table transcript_segments (
  id text primary key,
  session_id text not null references recording_sessions (id) on delete cascade,
  item_id text,
  source text not null check (source in ('microphone', 'system')),
  speaker_label text check (speaker_label is null or length(speaker_label) <= 100),
  start_ms integer not null check (start_ms >= 0),
  end_ms integer not null check (end_ms >= start_ms),
  text text not null check (length(text) <= 100000),
  confidence real check (confidence is null or confidence between 0 and 1),
  status text not null default 'final' check (status in ('final', 'failed', 'backfilled')),
  created_at_ms integer not null,
  updated_at_ms integer not null,
  unique (session_id, item_id)
) strict;
create index transcript_segments_session_idx on transcript_segments (session_id, start_ms);

create table session_notes (
  id text primary key,
  session_id text not null references recording_sessions (id) on delete cascade,
  kind text not null default 'note' check (kind in ('bookmark', 'note')),
  at_ms integer not null check (at_ms >= 0),
  body text not null default '' check (length(body) <= 20000),
  created_at_ms integer not null,
  updated_at_ms integer not null
) strict;
create index session_notes_session_idx on session_notes (session_id, at_ms);

-- Finished or interrupted sessions waiting to reach the organisation's Supabase project.
create table sync_outbox (
  session_id text primary key references recording_sessions (id) on delete cascade,
  state text not null default 'pending' check (state in ('pending', 'syncing', 'synced', 'failed')),
  attempts integer not null default 0,
  last_error text,
  next_attempt_at_ms integer,
  updated_at_ms integer not null
) strict;

-- Full-text index over segment text, kept in step by triggers.
create virtual table transcript_fts using fts5(
  text,
  content = 'transcript_segments',
  content_rowid = 'rowid',
  tokenize = 'unicode61 remove_diacritics 2'
);
create trigger transcript_fts_insert after insert on transcript_segments begin
  insert into transcript_fts (rowid, text) values (new.rowid, new.text);
end;
create trigger transcript_fts_delete after delete on transcript_segments begin
  insert into transcript_fts (transcript_fts, rowid, text) values ('delete', old.rowid, old.text);
end;
create trigger transcript_fts_update after update of text on transcript_segments begin
  insert into transcript_fts (transcript_fts, rowid, text) values ('delete', old.rowid, old.text);
  insert into transcript_fts (rowid, text) values (new.rowid, new.text);
end;
"#;

/// Where each session syncs (see `Destination`): `local` sessions were recorded with no
/// organisation and are sent only when their recruiter chooses; an `organisation` session goes
/// to `sync_project` as `sync_user`, each taken by the first account to send it while empty
/// (sessions recorded before this version have both empty). `first_sent_at_ms`: when a send
/// began, after which the session stays where it went. A session from before this version that
/// never reached an organisation and whose interview is only local was most likely recorded
/// local-only, so it becomes `local`: asked for, not sent unasked.
const V2: &str = r#"
alter table recording_sessions add column destination text not null default 'organisation'
  check (destination in ('local', 'organisation'));
alter table recording_sessions add column sync_project text;
alter table recording_sessions add column sync_user text;
alter table recording_sessions add column sync_email text;
alter table recording_sessions add column first_sent_at_ms integer;
update recording_sessions set destination = 'local'
  where interview_id in (select id from interviews where org_id is null)
    and id not in (select session_id from sync_outbox where state = 'synced' or attempts > 0);
update recording_sessions set first_sent_at_ms = updated_at_ms
  where id in (select session_id from sync_outbox where state = 'synced' or attempts > 0);
"#;

/// The project an organisation's interview came from (pulled, or pushed there), so the record
/// screen offers only the connected project's interviews and local ones. Empty for local
/// interviews, and for those pulled before this version until the next pull places them
/// (`Store::place_interviews`).
const V3: &str = r#"
alter table interviews add column project_url text;
"#;

/// Whether the session was recorded with a live transcript (a proxy configured), so a crash's
/// recovery knows whether its tail is owed a transcript whatever the settings are at the next
/// start. Empty for sessions recorded before this version.
const V4: &str = r#"
alter table recording_sessions add column live_transcript integer;
"#;

/// Every migration, oldest first. Append; never edit one that has shipped.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1), M::up(V2), M::up(V3), M::up(V4)])
}

#[cfg(test)]
mod tests {
    use rusqlite_migration::{M, Migrations};

    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }

    #[test]
    fn sessions_from_before_destinations_keep_where_they_went_and_local_ones_wait_to_be_sent() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        Migrations::new(vec![M::up(super::V1)])
            .to_latest(&mut conn)
            .unwrap();
        // A local interview's session never sent (recorded local-only, most likely) and one
        // that was synced; an organisation's interview's session waiting to be sent.
        conn.execute_batch(
            "insert into interviews (id, job_title, created_at_ms, updated_at_ms) \
               values ('local', 'Engineer', 0, 0); \
             insert into interviews (id, org_id, job_title, origin, created_at_ms, updated_at_ms) \
               values ('cloud', 'org', 'Engineer', 'cloud', 0, 0); \
             insert into recording_sessions (id, interview_id, started_at_ms, created_at_ms, updated_at_ms) \
               values ('never-sent', 'local', 0, 0, 0), ('synced', 'local', 0, 0, 5), \
                 ('waiting', 'cloud', 0, 0, 0); \
             insert into sync_outbox (session_id, state, attempts, updated_at_ms) \
               values ('never-sent', 'pending', 0, 0), ('synced', 'synced', 1, 5), \
                 ('waiting', 'pending', 0, 0);",
        )
        .unwrap();
        super::migrations().to_latest(&mut conn).unwrap();
        let rows: Vec<(String, String, Option<String>, Option<i64>)> = conn
            .prepare("select id, destination, sync_user, first_sent_at_ms from recording_sessions order by id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                ("never-sent".into(), "local".into(), None, None),
                ("synced".into(), "organisation".into(), None, Some(5)),
                ("waiting".into(), "organisation".into(), None, None),
            ]
        );
    }
}
