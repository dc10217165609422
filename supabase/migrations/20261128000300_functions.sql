-- Server-side functions called through PostgREST RPC: organisation creation, idempotent session
-- sync, realtime-call admission for the proxy, and retention. Errors carry a SQLSTATE the
-- clients branch on: 22023 bad input, 42501 not allowed, 54000 too large, HK001 concurrency cap
-- reached, HK002 monthly quota used up, P0002 unknown call.

create schema if not exists hark_private;
revoke all on schema hark_private from public, anon, authenticated;

-- Raises a 22023 error for the JSON field at `path`.
create function hark_private.bad_input(path text, problem text) returns void
language plpgsql set search_path = '' as $$
begin
  raise exception 'sync_session: %', path || case when problem like '.%' then '' else ' ' end || problem
    using errcode = '22023', hint = 'fix the payload and send it again; nothing was stored';
end $$;

create function hark_private.is_uuid(value jsonb) returns boolean
language sql immutable set search_path = '' as $$
  select coalesce(jsonb_typeof(value) = 'string'
    and (value #>> '{}') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', false)
$$;

create function hark_private.is_timestamp(value jsonb) returns boolean
language plpgsql immutable set search_path = '' as $$
begin
  if value is null or jsonb_typeof(value) <> 'string' then
    return false;
  end if;
  perform (value #>> '{}')::timestamptz;
  return true;
exception when others then
  return false;
end $$;

create function hark_private.is_count(value jsonb) returns boolean
language sql immutable set search_path = '' as $$
  select coalesce(jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric >= 0
    and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric), false)
$$;

-- Creates an organisation with the caller as its owner and default settings.
create function public.create_organization(name text) returns uuid
language plpgsql security definer set search_path = '' as $$
declare
  v_user uuid := auth.uid();
  v_org uuid;
begin
  if v_user is null then
    raise exception 'create_organization needs a signed-in user' using errcode = '42501';
  end if;
  insert into public.organizations (name) values (name) returning id into v_org;
  insert into public.memberships (org_id, user_id, role) values (v_org, v_user, 'owner');
  insert into public.org_settings (org_id) values (v_org);
  return v_org;
end $$;

-- Stores a finished (or partial) recording session with its segments and notes, in one
-- transaction, as the calling user (row-level security applies). Replaying a payload changes
-- nothing. Payload: {"session": {...}, "segments": [...], "notes": [...]}.
create function public.sync_session(payload jsonb) returns jsonb
language plpgsql security invoker set search_path = '' as $$
declare
  v_user uuid := auth.uid();
  v_session jsonb := payload -> 'session';
  v_segments jsonb := coalesce(payload -> 'segments', '[]');
  v_notes jsonb := coalesce(payload -> 'notes', '[]');
  v_session_id uuid;
  v_interview_id uuid;
  v_org uuid;
  v_existing record;
  v_bad record;
  v_key text;
  v_ids uuid[];
  v_sessions_written integer;
  v_segments_written integer;
  v_notes_written integer;
begin
  if v_user is null then
    raise exception 'sync_session needs a signed-in user' using errcode = '42501';
  end if;
  if jsonb_typeof(payload) is distinct from 'object' then
    perform hark_private.bad_input('payload', 'must be a JSON object {"session", "segments", "notes"}');
  end if;
  if octet_length(payload::text) > 8 * 1024 * 1024 then
    raise exception 'sync_session: payload is % bytes, over the 8 MiB limit', octet_length(payload::text)
      using errcode = '54000', hint = 'send the session again with its segments split into chunks of at most 2000';
  end if;
  for v_key in select jsonb_object_keys(payload) loop
    if v_key not in ('session', 'segments', 'notes') then
      perform hark_private.bad_input(v_key, 'is not a known field (expected session, segments, notes)');
    end if;
  end loop;
  if jsonb_typeof(v_session) is distinct from 'object' then
    perform hark_private.bad_input('session', 'is missing or not an object');
  end if;
  if jsonb_typeof(v_segments) <> 'array' then
    perform hark_private.bad_input('segments', 'must be an array');
  end if;
  if jsonb_typeof(v_notes) <> 'array' then
    perform hark_private.bad_input('notes', 'must be an array');
  end if;

  -- The session's own fields.
  if not hark_private.is_uuid(v_session -> 'id') then
    perform hark_private.bad_input('session.id', 'must be a UUID string');
  end if;
  if not hark_private.is_uuid(v_session -> 'interview_id') then
    perform hark_private.bad_input('session.interview_id', 'must be a UUID string');
  end if;
  if not hark_private.is_timestamp(v_session -> 'started_at') then
    perform hark_private.bad_input('session.started_at', 'must be an ISO-8601 timestamp');
  end if;
  if v_session ? 'ended_at' and jsonb_typeof(v_session -> 'ended_at') <> 'null'
     and not hark_private.is_timestamp(v_session -> 'ended_at') then
    perform hark_private.bad_input('session.ended_at', 'must be an ISO-8601 timestamp or null');
  end if;
  if v_session ? 'seconds_recorded' and (jsonb_typeof(v_session -> 'seconds_recorded') <> 'number'
     or (v_session ->> 'seconds_recorded')::numeric < 0) then
    perform hark_private.bad_input('session.seconds_recorded', 'must be a number of seconds >= 0');
  end if;
  if v_session ? 'device_names' and jsonb_typeof(v_session -> 'device_names') <> 'object' then
    perform hark_private.bad_input('session.device_names', 'must be an object of source to device name');
  end if;
  if v_session ? 'sources' and (jsonb_typeof(v_session -> 'sources') <> 'array'
     or jsonb_array_length(v_session -> 'sources') not between 1 and 2
     or exists (select 1 from jsonb_array_elements_text(v_session -> 'sources') s
                where s not in ('microphone', 'system'))) then
    perform hark_private.bad_input('session.sources', 'must list "microphone" and/or "system"');
  end if;
  v_session_id := (v_session ->> 'id')::uuid;
  v_interview_id := (v_session ->> 'interview_id')::uuid;

  -- Every segment, with the first problem reported by index.
  select e.idx - 1 as idx, problem into v_bad
  from jsonb_array_elements(v_segments) with ordinality as e(seg, idx)
  cross join lateral (select case
      when jsonb_typeof(seg) <> 'object' then 'is not an object'
      when not hark_private.is_uuid(seg -> 'id') then '.id must be a UUID string'
      when coalesce(seg ->> 'source', '') not in ('microphone', 'system') then '.source must be "microphone" or "system"'
      when not hark_private.is_count(seg -> 'start_ms') then '.start_ms must be a whole number of milliseconds >= 0'
      when not hark_private.is_count(seg -> 'end_ms') then '.end_ms must be a whole number of milliseconds >= 0'
      when (seg ->> 'end_ms')::bigint < (seg ->> 'start_ms')::bigint then '.end_ms is before .start_ms'
      when jsonb_typeof(seg -> 'text') is distinct from 'string' then '.text must be a string'
      when seg ? 'status' and coalesce(seg ->> 'status', '') not in ('final', 'failed', 'backfilled') then '.status must be final, failed or backfilled'
      when seg ? 'confidence' and jsonb_typeof(seg -> 'confidence') <> 'null'
        and (jsonb_typeof(seg -> 'confidence') <> 'number' or (seg ->> 'confidence')::real not between 0 and 1) then '.confidence must be between 0 and 1'
      when seg ? 'speaker_label' and jsonb_typeof(seg -> 'speaker_label') not in ('string', 'null') then '.speaker_label must be a string'
    end as problem) p
  where problem is not null
  order by e.idx limit 1;
  if found then
    perform hark_private.bad_input(format('segments[%s]', v_bad.idx), v_bad.problem);
  end if;
  select e.idx - 1 as idx into v_bad
  from (select idx, (seg ->> 'start_ms')::bigint as start_ms, seg ->> 'source' as source,
          lag((seg ->> 'start_ms')::bigint) over (partition by seg ->> 'source' order by idx) as previous_start
        from jsonb_array_elements(v_segments) with ordinality as x(seg, idx)) e
  where e.start_ms < e.previous_start order by e.idx limit 1;
  if found then
    perform hark_private.bad_input(format('segments[%s]', v_bad.idx),
      'starts before the previous segment of its source: send each source''s segments in timeline order');
  end if;
  select seg ->> 'id' as id into v_bad from jsonb_array_elements(v_segments) seg
  group by seg ->> 'id' having count(*) > 1 limit 1;
  if found then
    perform hark_private.bad_input('segments', format('repeat the id %s: every segment needs its own id', v_bad.id));
  end if;

  select e.idx - 1 as idx, problem into v_bad
  from jsonb_array_elements(v_notes) with ordinality as e(note, idx)
  cross join lateral (select case
      when jsonb_typeof(note) <> 'object' then 'is not an object'
      when not hark_private.is_uuid(note -> 'id') then '.id must be a UUID string'
      when not hark_private.is_count(note -> 'at_ms') then '.at_ms must be a whole number of milliseconds >= 0'
      when note ? 'kind' and coalesce(note ->> 'kind', '') not in ('bookmark', 'note') then '.kind must be bookmark or note'
      when note ? 'body' and jsonb_typeof(note -> 'body') <> 'string' then '.body must be a string'
    end as problem) p
  where problem is not null
  order by e.idx limit 1;
  if found then
    perform hark_private.bad_input(format('notes[%s]', v_bad.idx), v_bad.problem);
  end if;
  select note ->> 'id' as id into v_bad from jsonb_array_elements(v_notes) note
  group by note ->> 'id' having count(*) > 1 limit 1;
  if found then
    perform hark_private.bad_input('notes', format('repeat the id %s: every note needs its own id', v_bad.id));
  end if;

  -- Who may write where. The interview decides the organisation; the payload cannot.
  select org_id into v_org from public.interviews where id = v_interview_id;
  if not found then
    raise exception 'sync_session: interview % is not in any organisation you belong to', v_interview_id
      using errcode = '42501', hint = 'pick an interview from your organisation, or ask an admin to add you to its organisation';
  end if;
  if not public.has_role(v_org, '{owner,admin,recruiter}') then
    raise exception 'sync_session: viewers cannot store recordings in organisation %', v_org
      using errcode = '42501', hint = 'ask an admin for the recruiter role';
  end if;
  select * into v_existing from public.recording_sessions where id = v_session_id;
  if found then
    if v_existing.interview_id <> v_interview_id then
      perform hark_private.bad_input('session.interview_id',
        format('differs from the stored session (interview %s); a session cannot change interview', v_existing.interview_id));
    end if;
    if v_existing.recorder_id <> v_user and not public.has_role(v_org, '{owner,admin}') then
      raise exception 'sync_session: session % was recorded by someone else', v_session_id using errcode = '42501';
    end if;
  elsif exists (select 1 from public.transcript_segments where id = v_session_id) then
    perform hark_private.bad_input('session.id', 'is already used by another row');
  end if;
  -- Index lookups by an array parameter: a join on the payload's JSON would be "leaky" under
  -- row-level security and scan the whole table instead.
  v_ids := array(select (seg ->> 'id')::uuid from jsonb_array_elements(v_segments) seg);
  select s.id into v_bad from public.transcript_segments s
  where s.id = any (v_ids) and s.session_id <> v_session_id limit 1;
  if found then
    perform hark_private.bad_input('segments', format('id %s already belongs to another session', v_bad.id));
  end if;
  v_ids := array(select (note ->> 'id')::uuid from jsonb_array_elements(v_notes) note);
  select n.id into v_bad from public.session_notes n
  where n.id = any (v_ids) and n.session_id <> v_session_id limit 1;
  if found then
    perform hark_private.bad_input('notes', format('id %s already belongs to another session', v_bad.id));
  end if;

  insert into public.recording_sessions as t (id, org_id, interview_id, recorder_id, sources,
    device_names, model, started_at, ended_at, seconds_recorded, consent_confirmed_by, consent_confirmed_at)
  values (v_session_id, v_org, v_interview_id, coalesce(v_existing.recorder_id, v_user),
    coalesce((select array_agg(s::public.audio_source) from jsonb_array_elements_text(v_session -> 'sources') s), '{microphone}'),
    coalesce(v_session -> 'device_names', '{}'),
    v_session ->> 'model',
    (v_session ->> 'started_at')::timestamptz,
    (v_session ->> 'ended_at')::timestamptz,
    coalesce((v_session ->> 'seconds_recorded')::numeric, 0),
    (v_session ->> 'consent_confirmed_by')::uuid,
    (v_session ->> 'consent_confirmed_at')::timestamptz)
  on conflict (id) do update set
    sources = excluded.sources, device_names = excluded.device_names, model = excluded.model,
    started_at = excluded.started_at, ended_at = excluded.ended_at,
    seconds_recorded = excluded.seconds_recorded,
    consent_confirmed_by = excluded.consent_confirmed_by, consent_confirmed_at = excluded.consent_confirmed_at
  where (t.sources, t.device_names, t.model, t.started_at, t.ended_at, t.seconds_recorded,
         t.consent_confirmed_by, t.consent_confirmed_at)
    is distinct from (excluded.sources, excluded.device_names, excluded.model, excluded.started_at,
         excluded.ended_at, excluded.seconds_recorded, excluded.consent_confirmed_by, excluded.consent_confirmed_at);
  get diagnostics v_sessions_written = row_count;

  insert into public.transcript_segments as t (id, session_id, org_id, source, speaker_label,
    start_ms, end_ms, text, confidence, status)
  select (seg ->> 'id')::uuid, v_session_id, v_org, (seg ->> 'source')::public.audio_source,
    seg ->> 'speaker_label', (seg ->> 'start_ms')::bigint, (seg ->> 'end_ms')::bigint, seg ->> 'text',
    (seg ->> 'confidence')::real, coalesce(seg ->> 'status', 'final')::public.segment_status
  from jsonb_array_elements(v_segments) seg
  on conflict (id) do update set
    source = excluded.source, speaker_label = excluded.speaker_label, start_ms = excluded.start_ms,
    end_ms = excluded.end_ms, text = excluded.text, confidence = excluded.confidence, status = excluded.status
  where (t.source, t.speaker_label, t.start_ms, t.end_ms, t.text, t.confidence, t.status)
    is distinct from (excluded.source, excluded.speaker_label, excluded.start_ms, excluded.end_ms,
      excluded.text, excluded.confidence, excluded.status);
  get diagnostics v_segments_written = row_count;

  insert into public.session_notes as t (id, session_id, org_id, kind, at_ms, body)
  select (note ->> 'id')::uuid, v_session_id, v_org, coalesce(note ->> 'kind', 'note')::public.note_kind,
    (note ->> 'at_ms')::bigint, coalesce(note ->> 'body', '')
  from jsonb_array_elements(v_notes) note
  on conflict (id) do update set kind = excluded.kind, at_ms = excluded.at_ms, body = excluded.body
  where (t.kind, t.at_ms, t.body) is distinct from (excluded.kind, excluded.at_ms, excluded.body);
  get diagnostics v_notes_written = row_count;

  return jsonb_build_object(
    'session_id', v_session_id,
    'org_id', v_org,
    'session_written', v_sessions_written > 0,
    'segments_received', jsonb_array_length(v_segments),
    'segments_written', v_segments_written,
    'segments_stored', (select count(*) from public.transcript_segments where session_id = v_session_id),
    'notes_received', jsonb_array_length(v_notes),
    'notes_written', v_notes_written,
    'notes_stored', (select count(*) from public.session_notes where session_id = v_session_id),
    'synced_at', now());
end $$;

-- Admits a realtime call for the proxy: checks membership and role, the organisation's
-- concurrency cap and remaining monthly minutes atomically (the organisation row is locked,
-- so racing proxies are serialised), records the call, and returns the transcription policy.
create function public.start_realtime_call(
  interview_id uuid,
  source text default 'microphone',
  session_id uuid default gen_random_uuid(),
  language text default null,
  prompt text default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_user uuid := auth.uid();
  v_org uuid;
  v_settings public.org_settings;
  v_active integer;
  v_used_seconds numeric;
  v_remaining_seconds numeric;
  v_max_seconds integer;
  v_language text;
  v_prompt text;
begin
  if v_user is null then
    raise exception 'start_realtime_call needs a signed-in user' using errcode = '42501';
  end if;
  -- Some PostgREST-compatible servers turn a JSON null argument into ''.
  language := nullif(btrim(language), '');
  prompt := nullif(btrim(prompt), '');
  if source is null or source not in ('microphone', 'system') then
    raise exception 'start_realtime_call: source must be "microphone" or "system", not %', coalesce(source, 'null')
      using errcode = '22023';
  end if;
  if language is not null and language !~ '^[a-z]{2}$' then
    raise exception 'start_realtime_call: language must be an ISO-639-1 code such as "en", not "%"', language
      using errcode = '22023';
  end if;
  if prompt is not null and length(prompt) > 4000 then
    raise exception 'start_realtime_call: prompt is % characters, over the 4000 limit', length(prompt)
      using errcode = '22023';
  end if;
  select i.org_id into v_org from public.interviews i where i.id = start_realtime_call.interview_id;
  if not found or not public.has_role(v_org, '{owner,admin,recruiter}') then
    raise exception 'start_realtime_call: interview % is not in an organisation where you may record', start_realtime_call.interview_id
      using errcode = '42501', hint = 'viewers cannot record; ask an admin for the recruiter role';
  end if;

  perform 1 from public.organizations o where o.id = v_org for update;
  select * into v_settings from public.org_settings s where s.org_id = v_org;
  if not found then
    insert into public.org_settings (org_id) values (v_org) returning * into v_settings;
  end if;

  -- Calls a crashed proxy never ended stop counting once they are past their maximum.
  update public.realtime_calls c
  set ended_at = c.started_at + make_interval(secs => c.max_seconds), seconds = c.max_seconds
  where c.org_id = v_org and c.ended_at is null
    and c.started_at + make_interval(secs => c.max_seconds + 300) < now();

  select count(*) into v_active from public.realtime_calls c where c.org_id = v_org and c.ended_at is null;
  if v_active >= v_settings.concurrent_session_cap then
    raise exception 'start_realtime_call: the organisation already has % live transcriptions, its limit', v_active
      using errcode = 'HK001', hint = 'end another recording first, or ask an admin to raise concurrent_session_cap';
  end if;
  select coalesce(sum(coalesce(c.seconds, extract(epoch from now() - c.started_at))), 0) into v_used_seconds
  from public.realtime_calls c
  where c.org_id = v_org and c.started_at >= date_trunc('month', now());
  v_remaining_seconds := v_settings.monthly_minute_quota * 60 - v_used_seconds;
  if v_remaining_seconds < 60 then
    raise exception 'start_realtime_call: the monthly quota of % minutes is used up (% used)',
      v_settings.monthly_minute_quota, round(v_used_seconds / 60)
      using errcode = 'HK002', hint = 'recording still works locally; ask an admin to raise monthly_minute_quota';
  end if;
  v_max_seconds := least(v_settings.max_session_minutes * 60, floor(v_remaining_seconds))::integer;
  v_language := case when v_settings.allow_client_language and language is not null then language else v_settings.language end;
  v_prompt := case when v_settings.allow_client_prompt and prompt is not null then prompt else v_settings.vocabulary_prompt end;

  insert into public.realtime_calls (id, org_id, user_id, interview_id, source, model, max_seconds)
  values (session_id, v_org, v_user, start_realtime_call.interview_id, source::public.audio_source,
    v_settings.transcription_model, v_max_seconds);

  return jsonb_build_object(
    'session_id', session_id,
    'org_id', v_org,
    'model', v_settings.transcription_model,
    'turn_detection', case when v_settings.transcription_model in ('gpt-live-transcribe', 'gpt-realtime-whisper')
      then 'manual' else 'server_vad' end,
    'language', v_language,
    'prompt', v_prompt,
    'max_seconds', v_max_seconds,
    'expires_at', now() + make_interval(secs => v_max_seconds));
end $$;

-- Records OpenAI's call id on an admitted call (by the user who started it).
create function public.attach_realtime_call(session_id uuid, call_id text) returns void
language plpgsql security definer set search_path = '' as $$
begin
  update public.realtime_calls c set call_id = attach_realtime_call.call_id
  where c.id = attach_realtime_call.session_id and c.user_id = auth.uid() and c.ended_at is null;
  if not found then
    raise exception 'attach_realtime_call: no live call % of yours', session_id using errcode = 'P0002';
  end if;
end $$;

-- Ends a call (by OpenAI call id or session id): its user or an admin of its organisation.
-- Without `seconds` the time since it started is recorded. Ending an ended call returns it
-- unchanged.
create function public.end_realtime_call(call_id text, seconds numeric default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_call public.realtime_calls;
begin
  if seconds < 0 then
    raise exception 'end_realtime_call: seconds must be >= 0' using errcode = '22023';
  end if;
  select * into v_call from public.realtime_calls c
  where c.call_id = end_realtime_call.call_id or c.id::text = end_realtime_call.call_id
  for update;
  if not found or not (v_call.user_id = auth.uid() or public.has_role(v_call.org_id, '{owner,admin}')) then
    raise exception 'end_realtime_call: no call % that you may end', call_id using errcode = 'P0002';
  end if;
  if v_call.ended_at is null then
    update public.realtime_calls c set ended_at = now(),
      seconds = least(coalesce(end_realtime_call.seconds, extract(epoch from now() - c.started_at)), c.max_seconds + 60)
    where c.id = v_call.id returning * into v_call;
  end if;
  return to_jsonb(v_call);
end $$;

-- Deletes recordings (with their segments and notes) and call audit rows past each
-- organisation's retention period. Safe to run repeatedly; for the service role (a cron job).
create function public.purge_expired() returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_sessions integer;
  v_calls integer;
begin
  delete from public.recording_sessions r using public.org_settings s
  where s.org_id = r.org_id and r.started_at < now() - make_interval(days => s.retention_days);
  get diagnostics v_sessions = row_count;
  delete from public.realtime_calls c using public.org_settings s
  where s.org_id = c.org_id and c.started_at < now() - make_interval(days => s.retention_days)
    and c.ended_at is not null;
  get diagnostics v_calls = row_count;
  return jsonb_build_object('recording_sessions_deleted', v_sessions, 'realtime_calls_deleted', v_calls);
end $$;

revoke all on all functions in schema public from public, anon;
revoke all on all functions in schema hark_private from public, anon, authenticated;
grant execute on function public.create_organization(text), public.sync_session(jsonb),
  public.start_realtime_call(uuid, text, uuid, text, text), public.attach_realtime_call(uuid, text),
  public.end_realtime_call(text, numeric), public.is_member(uuid),
  public.has_role(uuid, public.org_role[]), public.is_session_recorder(uuid) to authenticated;
grant execute on all functions in schema public to service_role;
revoke execute on function public.purge_expired() from authenticated;
-- sync_session runs as the caller and needs the private validators.
grant usage on schema hark_private to authenticated, service_role;
grant execute on all functions in schema hark_private to authenticated, service_role;
