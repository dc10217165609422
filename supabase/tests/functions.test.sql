-- The RPC functions: sync_session's idempotency and refusals, realtime-call admission for the
-- proxy (role, concurrency cap, quota, policy), ending calls, organisation creation, retention.
begin;
create extension if not exists pgtap;
\ir fixtures.inc

select plan(53);

-- A payload for recruiter_a's interview in org A with `n` segments.
create function tests.payload(session_id uuid, n integer) returns jsonb language sql stable as $$
  select jsonb_build_object(
    'session', jsonb_build_object('id', session_id, 'interview_id', tests.fx('A', 'interviews'),
      'sources', jsonb_build_array('microphone', 'system'), 'device_names', '{"microphone": "USB Mic"}'::jsonb,
      'model', 'gpt-4o-transcribe', 'started_at', '2026-11-28T10:00:00Z', 'ended_at', '2026-11-28T11:00:00Z',
      'seconds_recorded', 3600, 'consent_confirmed_by', tests.uid('recruiter_a'), 'consent_confirmed_at', '2026-11-28T09:59:00Z'),
    'segments', coalesce((select jsonb_agg(jsonb_build_object(
        'id', md5(session_id::text || i)::uuid, 'source', case when i % 2 = 0 then 'microphone' else 'system' end,
        'speaker_label', case when i % 2 = 0 then 'You' else 'Candidate' end,
        'start_ms', i * 1000, 'end_ms', i * 1000 + 900, 'text', 'segment ' || i, 'confidence', 0.9, 'status', 'final')
        order by i) from generate_series(1, n) i), '[]'),
    'notes', jsonb_build_array(jsonb_build_object('id', md5(session_id::text || 'note')::uuid, 'kind', 'bookmark', 'at_ms', 1500, 'body', 'good answer')))
$$;

-- Calls a function as `actor`; returns its result, or 'ERROR sqlstate: message'.
create function tests.call(actor text, sql text) returns text language plpgsql as $$
declare
  result text;
begin
  perform tests.act_as(actor);
  begin
    execute sql into result;
  exception when others then
    result := 'ERROR ' || sqlstate || ': ' || sqlerrm;
  end;
  perform tests.as_superuser();
  return result;
end $$;

-- sync_session ---------------------------------------------------------------------------------
select is((tests.call('recruiter_a', format('select public.sync_session(%L)', tests.payload('00000000-0000-4000-a0aa-000000000001', 3)))::jsonb ->> 'segments_written')::int,
  3, 'sync_session stores a new session''s segments');
select is((select count(*)::int from public.transcript_segments where session_id = '00000000-0000-4000-a0aa-000000000001'), 3, 'the segments are in the table');
select is((select org_id from public.recording_sessions where id = '00000000-0000-4000-a0aa-000000000001'), tests.org('A'), 'the interview decides the organisation');
select is((select recorder_id from public.recording_sessions where id = '00000000-0000-4000-a0aa-000000000001'), tests.uid('recruiter_a'), 'the caller is the recorder');
select is((select updated_at from public.recording_sessions where id = '00000000-0000-4000-a0aa-000000000001'), now(), 'fixture: updated in this transaction');

create table tests.replay as
  select tests.call('recruiter_a', format('select public.sync_session(%L)', tests.payload('00000000-0000-4000-a0aa-000000000001', 3)))::jsonb as result;
select is((select (result ->> 'segments_written')::int + (result ->> 'notes_written')::int from tests.replay), 0, 'replaying the same payload writes nothing');
select is((select (result ->> 'session_written')::boolean from tests.replay), false, 'replaying leaves the session row alone');
select is((select (result ->> 'segments_stored')::int from tests.replay), 3, 'and reports what is stored');

select is((tests.call('recruiter_a', format('select public.sync_session(%L)', tests.payload('00000000-0000-4000-a0aa-000000000001', 5)))::jsonb ->> 'segments_written')::int,
  2, 'a later, longer payload adds only the new segments');
select is((select count(*)::int from public.session_notes where session_id = '00000000-0000-4000-a0aa-000000000001'), 1, 'notes are not duplicated');

select matches(tests.call('owner_b', format('select public.sync_session(%L)', tests.payload('00000000-0000-4000-b0bb-000000000001', 1))),
  '^ERROR 42501: sync_session: interview .* is not in any organisation you belong to', 'a payload for another organisation''s interview is refused');
select matches(tests.call('viewer_a', format('select public.sync_session(%L)', tests.payload('00000000-0000-4000-a0aa-000000000002', 1))),
  '^ERROR 42501: sync_session: viewers cannot store recordings', 'viewers cannot sync');
select matches(tests.call('recruiter2_a', format('select public.sync_session(%L)', tests.payload('00000000-0000-4000-a0aa-000000000001', 1))),
  '^ERROR 42501: sync_session: session .* was recorded by someone else', 'a recruiter cannot overwrite another recruiter''s session');
select matches(tests.call('anon', format('select public.sync_session(%L)', tests.payload('00000000-0000-4000-a0aa-000000000003', 1))),
  '^ERROR 42501: permission denied', 'anon cannot call sync_session');

-- Bad payloads: a clear error naming the field, and nothing stored.
create function tests.bad(label text, payload jsonb, pattern text) returns text language sql as $$
  select matches(tests.call('recruiter_a', format('select public.sync_session(%L)', payload)), pattern, 'bad payload refused: ' || label)
$$;
select tests.bad('not an object', '[1, 2]', '^ERROR 22023: sync_session: payload must be a JSON object');
select tests.bad('unknown field', tests.payload('00000000-0000-4000-a0aa-000000000004', 1) || '{"extra": 1}', '^ERROR 22023: sync_session: extra is not a known field');
select tests.bad('no session', '{"segments": []}', '^ERROR 22023: sync_session: session is missing');
select tests.bad('session id not a uuid', jsonb_set(tests.payload('00000000-0000-4000-a0aa-000000000004', 1), '{session,id}', '"abc"'), 'session.id must be a UUID');
select tests.bad('started_at wrong type', jsonb_set(tests.payload('00000000-0000-4000-a0aa-000000000004', 1), '{session,started_at}', '12'), 'session.started_at must be an ISO-8601 timestamp');
select tests.bad('unknown source', jsonb_set(tests.payload('00000000-0000-4000-a0aa-000000000004', 2), '{segments,1,source}', '"phone"'), 'segments\[1\]\.source must be "microphone" or "system"');
select tests.bad('start_ms a string', jsonb_set(tests.payload('00000000-0000-4000-a0aa-000000000004', 2), '{segments,0,start_ms}', '"10"'), 'segments\[0\]\.start_ms must be a whole number');
select tests.bad('end before start', jsonb_set(tests.payload('00000000-0000-4000-a0aa-000000000004', 2), '{segments,1,end_ms}', '5'), 'segments\[1\]\.end_ms is before \.start_ms');
select tests.bad('segments out of order',
  jsonb_set(jsonb_set(tests.payload('00000000-0000-4000-a0aa-000000000004', 4), '{segments,2,start_ms}', '100'), '{segments,2,end_ms}', '200'),
  'segments\[2\] starts before the previous segment of its source');
select tests.bad('duplicate segment ids',
  jsonb_set(tests.payload('00000000-0000-4000-a0aa-000000000004', 2), '{segments,1,id}', tests.payload('00000000-0000-4000-a0aa-000000000004', 2) #> '{segments,0,id}'),
  'segments repeat the id');
select tests.bad('segment id of another session',
  jsonb_set(tests.payload('00000000-0000-4000-a0aa-000000000004', 1), '{segments,0,id}', to_jsonb(tests.fx('A', 'transcript_segments'))),
  'segments id .* already belongs to another session');
select tests.bad('confidence out of range', jsonb_set(tests.payload('00000000-0000-4000-a0aa-000000000004', 1), '{segments,0,confidence}', '7'), 'confidence must be between 0 and 1');
select tests.bad('segment without id', tests.payload('00000000-0000-4000-a0aa-000000000004', 1) #- '{segments,0,id}', 'segments\[0\]\.id must be a UUID');
select tests.bad('note without at_ms', tests.payload('00000000-0000-4000-a0aa-000000000004', 1) #- '{notes,0,at_ms}', 'notes\[0\]\.at_ms must be a whole number');
select tests.bad('session moved to another interview',
  jsonb_set(tests.payload('00000000-0000-4000-a0aa-000000000001', 1), '{session,interview_id}', to_jsonb(tests.fx('B', 'interviews'))),
  'differs from the stored session|is not in any organisation');
select tests.bad('10 MB payload', jsonb_set(tests.payload('00000000-0000-4000-a0aa-000000000004', 1), '{segments,0,text}', to_jsonb(repeat('x', 10 * 1024 * 1024))),
  '^ERROR 54000: sync_session: payload is [0-9]+ bytes, over the 8 MiB limit');
select is((select count(*)::int from public.recording_sessions where id = '00000000-0000-4000-a0aa-000000000004'), 0, 'no refused payload stored anything');
select is((select count(*)::int from public.transcript_segments where session_id = '00000000-0000-4000-a0aa-000000000004'), 0, 'not even segments before the bad one');

-- start_realtime_call ---------------------------------------------------------------------------
update public.org_settings set concurrent_session_cap = 2, monthly_minute_quota = 100, max_session_minutes = 30,
  language = 'de', vocabulary_prompt = 'Kubernetes', allow_client_prompt = false where org_id = tests.org('A');
create table tests.policy as
  select tests.call('recruiter_a', format($q$select public.start_realtime_call(%L, 'microphone', '00000000-0000-4000-a0cc-000000000001', 'en', 'ignored')$q$, tests.fx('A', 'interviews')))::jsonb as p;
select is((select p ->> 'model' from tests.policy), 'gpt-4o-transcribe', 'the org''s model is returned');
select is((select p ->> 'turn_detection' from tests.policy), 'server_vad', 'with its turn mode');
select is((select p ->> 'language' from tests.policy), 'en', 'a client language is used where the org allows it');
select is((select p ->> 'prompt' from tests.policy), 'Kubernetes', 'a client prompt is ignored where the org forbids it');
select is((select (p ->> 'max_seconds')::int from tests.policy), 1800, 'max minutes come from the org');
select is((select count(*)::int from public.realtime_calls where id = '00000000-0000-4000-a0cc-000000000001' and ended_at is null), 1, 'the call is recorded');
select is(tests.call('recruiter_a', $q$select public.attach_realtime_call('00000000-0000-4000-a0cc-000000000001', 'rtc_abc')::text$q$), '', 'the proxy attaches OpenAI''s call id');
select matches(tests.call('recruiter2_a', $q$select public.attach_realtime_call('00000000-0000-4000-a0cc-000000000001', 'rtc_x')::text$q$), '^ERROR P0002', 'only the caller attaches');
select matches(tests.call('viewer_a', format($q$select public.start_realtime_call(%L, 'microphone')$q$, tests.fx('A', 'interviews'))),
  '^ERROR 42501: start_realtime_call: interview .* is not in an organisation where you may record', 'viewers cannot start calls');
select matches(tests.call('owner_b', format($q$select public.start_realtime_call(%L, 'microphone')$q$, tests.fx('A', 'interviews'))),
  '^ERROR 42501', 'nor can other organisations');
select matches(tests.call('recruiter_a', format($q$select public.start_realtime_call(%L, 'speaker')$q$, tests.fx('A', 'interviews'))),
  '^ERROR 22023: start_realtime_call: source must be', 'the source is checked');
select ok(tests.call('recruiter2_a', format($q$select public.start_realtime_call(%L, 'system')$q$, tests.fx('A', 'interviews'))) !~ '^ERROR', 'a second call fits the cap of 2');
select matches(tests.call('admin_a', format($q$select public.start_realtime_call(%L, 'microphone')$q$, tests.fx('A', 'interviews'))),
  '^ERROR HK001: start_realtime_call: the organisation already has 2 live transcriptions', 'a third is refused by the concurrency cap');
select matches(tests.call('recruiter2_a', $q$select public.end_realtime_call('rtc_abc', 600) ->> 'seconds'$q$), '^ERROR P0002', 'another recruiter cannot end the call');
select is(tests.call('admin_a', $q$select public.end_realtime_call('rtc_abc', 600) ->> 'seconds'$q$), '600.000', 'an admin ends it with its seconds');
select is(tests.call('recruiter_a', $q$select public.end_realtime_call('rtc_abc', 900) ->> 'seconds'$q$), '600.000', 'ending again changes nothing');
update public.org_settings set monthly_minute_quota = 11 where org_id = tests.org('A');
select matches(tests.call('recruiter_a', format($q$select public.start_realtime_call(%L, 'microphone')$q$, tests.fx('A', 'interviews'))),
  '^ERROR HK002: start_realtime_call: the monthly quota of 11 minutes is used up', 'the monthly quota is enforced');

-- create_organization and purge_expired ---------------------------------------------------------
select ok(tests.call('outsider', $q$select public.create_organization('Outsider Inc')$q$) !~ '^ERROR', 'anyone signed in can create an organisation');
select is((select role::text from public.memberships m join public.organizations o on o.id = m.org_id where o.name = 'Outsider Inc'), 'owner', 'and owns it');
update public.org_settings set retention_days = 30 where org_id = tests.org('B');
update public.recording_sessions set started_at = now() - interval '31 days' where id = tests.fx('B', 'recording_sessions');
select is((public.purge_expired() ->> 'recording_sessions_deleted')::int, 1, 'purge deletes what is past retention');
select is((public.purge_expired() ->> 'recording_sessions_deleted')::int, 0, 'and is safe to run again');

select * from finish();
rollback;
