-- Hark schema: organisations, their members and settings, and the interview data the desktop app
-- syncs. Every table that desktop clients create rows in uses client-generated UUIDs, so sync is
-- idempotent. Child rows carry `org_id`, kept equal to their parent's by composite foreign keys,
-- so row-level security can check it directly (and with an index).

create type public.org_role as enum ('owner', 'admin', 'recruiter', 'viewer');
create type public.audio_source as enum ('microphone', 'system');
create type public.segment_status as enum ('final', 'failed', 'backfilled');
create type public.note_kind as enum ('bookmark', 'note');

create table public.organizations (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 200),
  created_at timestamptz not null default now()
);

create table public.memberships (
  org_id uuid not null references public.organizations (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role public.org_role not null,
  created_at timestamptz not null default now(),
  primary key (org_id, user_id)
);
create index memberships_user_id_idx on public.memberships (user_id);

create table public.org_settings (
  org_id uuid primary key references public.organizations (id) on delete cascade,
  transcription_model text not null default 'gpt-4o-transcribe' check (transcription_model in (
    'whisper-1', 'gpt-transcribe', 'gpt-live-transcribe', 'gpt-4o-mini-transcribe',
    'gpt-4o-mini-transcribe-2025-12-15', 'gpt-4o-transcribe', 'gpt-4o-transcribe-diarize',
    'gpt-realtime-whisper')),
  language text check (language ~ '^[a-z]{2}$'),
  vocabulary_prompt text check (length(vocabulary_prompt) <= 4000),
  allow_client_language boolean not null default true,
  allow_client_prompt boolean not null default true,
  max_session_minutes integer not null default 60 check (max_session_minutes between 1 and 240),
  monthly_minute_quota integer not null default 6000 check (monthly_minute_quota >= 0),
  concurrent_session_cap integer not null default 5 check (concurrent_session_cap >= 1),
  retention_days integer not null default 365 check (retention_days >= 1),
  allow_audio_upload boolean not null default false,
  updated_at timestamptz not null default now()
);

create table public.candidates (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  full_name text not null check (length(btrim(full_name)) between 1 and 300),
  email text check (email is null or email ~ '^[^@\s]+@[^@\s]+$'),
  created_by uuid references auth.users (id) on delete set null default auth.uid(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, org_id)
);
create index candidates_org_id_idx on public.candidates (org_id);
create index candidates_created_by_idx on public.candidates (created_by);

create table public.interviews (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  candidate_id uuid,
  job_title text not null check (length(btrim(job_title)) between 1 and 300),
  scheduled_at timestamptz,
  interviewer_id uuid references auth.users (id) on delete set null,
  created_by uuid references auth.users (id) on delete set null default auth.uid(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, org_id),
  foreign key (candidate_id, org_id) references public.candidates (id, org_id) on delete cascade
);
create index interviews_org_id_idx on public.interviews (org_id);
create index interviews_candidate_id_idx on public.interviews (candidate_id);
create index interviews_created_by_idx on public.interviews (created_by);

create table public.recording_sessions (
  id uuid primary key,
  org_id uuid not null references public.organizations (id) on delete cascade,
  interview_id uuid not null,
  recorder_id uuid not null references auth.users (id) on delete cascade default auth.uid(),
  sources public.audio_source[] not null default '{microphone}' check (cardinality(sources) between 1 and 2),
  device_names jsonb not null default '{}' check (jsonb_typeof(device_names) = 'object'),
  model text,
  started_at timestamptz not null,
  ended_at timestamptz check (ended_at is null or ended_at >= started_at),
  seconds_recorded numeric(12, 3) not null default 0 check (seconds_recorded >= 0),
  consent_confirmed_by uuid references auth.users (id) on delete set null,
  consent_confirmed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, org_id),
  foreign key (interview_id, org_id) references public.interviews (id, org_id) on delete cascade,
  check ((consent_confirmed_by is null) = (consent_confirmed_at is null))
);
create index recording_sessions_org_id_idx on public.recording_sessions (org_id);
create index recording_sessions_recorder_id_idx on public.recording_sessions (recorder_id);
create index recording_sessions_interview_id_idx on public.recording_sessions (interview_id);
create index recording_sessions_started_at_idx on public.recording_sessions (org_id, started_at);

create table public.transcript_segments (
  id uuid primary key,
  session_id uuid not null,
  org_id uuid not null references public.organizations (id) on delete cascade,
  source public.audio_source not null,
  speaker_label text check (length(speaker_label) <= 100),
  start_ms bigint not null check (start_ms >= 0),
  end_ms bigint not null,
  text text not null check (length(text) <= 100000),
  confidence real check (confidence is null or confidence between 0 and 1),
  status public.segment_status not null default 'final',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (end_ms >= start_ms),
  foreign key (session_id, org_id) references public.recording_sessions (id, org_id) on delete cascade
);
create index transcript_segments_session_idx on public.transcript_segments (session_id, start_ms);
create index transcript_segments_org_id_idx on public.transcript_segments (org_id);

create table public.session_notes (
  id uuid primary key,
  session_id uuid not null,
  org_id uuid not null references public.organizations (id) on delete cascade,
  author_id uuid references auth.users (id) on delete set null default auth.uid(),
  kind public.note_kind not null default 'note',
  at_ms bigint not null check (at_ms >= 0),
  body text not null default '' check (length(body) <= 20000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (session_id, org_id) references public.recording_sessions (id, org_id) on delete cascade
);
create index session_notes_session_idx on public.session_notes (session_id);
create index session_notes_org_id_idx on public.session_notes (org_id);

-- Audit of realtime calls, written only by the functions the proxy calls.
create table public.realtime_calls (
  id uuid primary key,
  org_id uuid not null references public.organizations (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  interview_id uuid not null,
  source public.audio_source not null,
  call_id text unique check (call_id ~ '^[A-Za-z0-9_-]{1,200}$'),
  model text not null,
  max_seconds integer not null,
  started_at timestamptz not null default now(),
  ended_at timestamptz,
  seconds numeric(12, 3) check (seconds is null or seconds >= 0),
  foreign key (interview_id, org_id) references public.interviews (id, org_id) on delete cascade
);
create index realtime_calls_org_active_idx on public.realtime_calls (org_id) where ended_at is null;
create index realtime_calls_org_started_idx on public.realtime_calls (org_id, started_at);
create index realtime_calls_user_id_idx on public.realtime_calls (user_id);

-- Rows never move between organisations, whoever asks.
create function public.forbid_org_change() returns trigger
language plpgsql set search_path = '' as $$
begin
  if new.org_id is distinct from old.org_id then
    raise exception 'rows cannot move to another organisation (% %)', tg_table_name, old.org_id
      using errcode = '42501', hint = 'create the row in the other organisation instead';
  end if;
  return new;
end $$;

-- Keeps `updated_at` true.
create function public.touch_updated_at() returns trigger
language plpgsql set search_path = '' as $$
begin
  new.updated_at := now();
  return new;
end $$;

do $$
declare
  t text;
begin
  foreach t in array array['memberships', 'org_settings', 'candidates', 'interviews',
    'recording_sessions', 'transcript_segments', 'session_notes', 'realtime_calls'] loop
    execute format('create trigger forbid_org_change before update on public.%I
      for each row execute function public.forbid_org_change()', t);
  end loop;
  foreach t in array array['org_settings', 'candidates', 'interviews', 'recording_sessions',
    'transcript_segments', 'session_notes'] loop
    execute format('create trigger touch_updated_at before update on public.%I
      for each row execute function public.touch_updated_at()', t);
  end loop;
end $$;
