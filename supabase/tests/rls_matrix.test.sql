-- The row-level-security matrix: every role × every table × select/insert/update/delete × own
-- organisation / other organisation, against a hand-written table of what each role may do.
begin;
create extension if not exists pgtap;
\ir fixtures.inc

-- Who may do what in their own organisation (o owner, a admin, r recruiter on their own rows,
-- v viewer). Nobody may do anything in an organisation they do not belong to; anon nothing.
create table tests.allowed (tbl text, op text, roles text, primary key (tbl, op));
insert into tests.allowed values
  ('organizations', 'select', 'oarv'), ('organizations', 'insert', ''), ('organizations', 'update', 'oa'), ('organizations', 'delete', 'o'),
  ('memberships', 'select', 'oarv'), ('memberships', 'insert', 'oa'), ('memberships', 'update', 'oa'), ('memberships', 'delete', 'oa'),
  ('org_settings', 'select', 'oarv'), ('org_settings', 'insert', 'oa'), ('org_settings', 'update', 'oa'), ('org_settings', 'delete', ''),
  ('candidates', 'select', 'oarv'), ('candidates', 'insert', 'oar'), ('candidates', 'update', 'oar'), ('candidates', 'delete', 'oar'),
  ('interviews', 'select', 'oarv'), ('interviews', 'insert', 'oar'), ('interviews', 'update', 'oar'), ('interviews', 'delete', 'oar'),
  ('recording_sessions', 'select', 'oarv'), ('recording_sessions', 'insert', 'oar'), ('recording_sessions', 'update', 'oar'), ('recording_sessions', 'delete', 'oar'),
  ('transcript_segments', 'select', 'oarv'), ('transcript_segments', 'insert', 'oar'), ('transcript_segments', 'update', 'oar'), ('transcript_segments', 'delete', 'oar'),
  ('session_notes', 'select', 'oarv'), ('session_notes', 'insert', 'oar'), ('session_notes', 'update', 'oar'), ('session_notes', 'delete', 'oar'),
  ('realtime_calls', 'select', 'oar'), ('realtime_calls', 'insert', ''), ('realtime_calls', 'update', ''), ('realtime_calls', 'delete', '');

create table tests.actors (name text primary key, letter text);
insert into tests.actors values ('owner_a', 'o'), ('admin_a', 'a'), ('recruiter_a', 'r'), ('viewer_a', 'v'), ('outsider', '-'), ('anon', '-');

-- The statement for one table, operation and organisation.
create function tests.statement(tbl text, op text, org text) returns text language plpgsql stable as $$
declare
  org_id uuid := tests.org(org);
  target_member uuid := tests.uid(case org when 'A' then 'recruiter2_a' else 'recruiter_b' end);
  key text := case tbl when 'organizations' then format('id = %L', org_id)
    when 'memberships' then format('org_id = %L and user_id = %L', org_id, target_member)
    when 'org_settings' then format('org_id = %L', org_id)
    else format('id = %L', tests.fx(org, tbl)) end;
  col text := case tbl when 'organizations' then 'name' when 'memberships' then 'role'
    when 'org_settings' then 'language' when 'candidates' then 'full_name' when 'interviews' then 'job_title'
    when 'recording_sessions' then 'model' when 'transcript_segments' then 'text' when 'session_notes' then 'body'
    else 'model' end;
begin
  return case op
    when 'select' then format('select count(*) from public.%I where %s', tbl, case tbl when 'organizations' then key else format('org_id = %L', org_id) end)
    when 'update' then format('update public.%I set %I = %I where %s', tbl, col, col, key)
    when 'delete' then format('delete from public.%I where %s', tbl, key)
    else case tbl
      when 'organizations' then $q$insert into public.organizations (name) values ('New')$q$
      when 'memberships' then format($q$insert into public.memberships (org_id, user_id, role) values (%L, %L, 'viewer')$q$, org_id, tests.uid('spare'))
      when 'org_settings' then format('insert into public.org_settings (org_id) values (%L)', org_id)
      when 'candidates' then format($q$insert into public.candidates (org_id, full_name) values (%L, 'New')$q$, org_id)
      when 'interviews' then format($q$insert into public.interviews (org_id, candidate_id, job_title) values (%L, %L, 'New')$q$, org_id, tests.fx(org, 'candidates'))
      when 'recording_sessions' then format('insert into public.recording_sessions (id, org_id, interview_id, started_at) values (gen_random_uuid(), %L, %L, now())', org_id, tests.fx(org, 'interviews'))
      when 'transcript_segments' then format($q$insert into public.transcript_segments (id, session_id, org_id, source, start_ms, end_ms, text) values (gen_random_uuid(), %L, %L, 'system', 5, 9, 'x')$q$, tests.fx(org, 'recording_sessions'), org_id)
      when 'session_notes' then format($q$insert into public.session_notes (id, session_id, org_id, at_ms, body) values (gen_random_uuid(), %L, %L, 1, 'x')$q$, tests.fx(org, 'recording_sessions'), org_id)
      else format($q$insert into public.realtime_calls (id, org_id, user_id, interview_id, source, model, max_seconds) values (gen_random_uuid(), %L, %L, %L, 'microphone', 'x', 60)$q$, org_id, tests.creator(org), tests.fx(org, 'interviews'))
    end
  end;
end $$;

create table tests.cases as
  select a.name as actor, t.tbl, t.op, o.key as org,
    (o.key = 'A' and position(a.letter in t.roles) > 0) as expected
  from tests.actors a cross join tests.allowed t cross join tests.orgs o
  order by t.tbl, t.op, a.name, o.key;

select plan((select count(*)::int from tests.cases) + 12);

-- Allowed means: a select sees rows, a write touches exactly the row (or an insert gets past
-- RLS to a unique check). Denied means: no rows, or a privilege error.
create function tests.run_matrix() returns setof text language plpgsql as $$
declare
  c record;
  outcome text;
  allowed boolean;
begin
  for c in select * from tests.cases loop
    perform tests.act_as(c.actor);
    outcome := tests.attempt(tests.statement(c.tbl, c.op, c.org));
    perform tests.as_superuser();
    allowed := outcome in ('rows:1', 'unique') or (c.op = 'select' and outcome ~ '^rows:[1-9]');
    return next is(allowed, c.expected,
      format('%s %s %s in org %s: %s (%s)', c.actor, case when c.expected then 'may' else 'may not' end, c.op, c.org, c.tbl, outcome));
  end loop;
end $$;
select * from tests.run_matrix();

-- Beyond the matrix: a recruiter's rows are theirs, roles cannot be escalated, rows cannot move.
create function tests.as_(actor text, sql text) returns text language plpgsql as $$
declare
  outcome text;
begin
  perform tests.act_as(actor);
  outcome := tests.attempt(sql);
  perform tests.as_superuser();
  return outcome;
end $$;

select is(tests.as_('recruiter2_a', format('update public.recording_sessions set model = model where id = %L', tests.fx('A', 'recording_sessions'))),
  'rows:0', 'a recruiter cannot edit another recruiter''s session');
select is(tests.as_('recruiter2_a', format('update public.transcript_segments set text = text where id = %L', tests.fx('A', 'transcript_segments'))),
  'rows:0', 'a recruiter cannot edit another recruiter''s segments');
select is(tests.as_('recruiter2_a', format('delete from public.session_notes where id = %L', tests.fx('A', 'session_notes'))),
  'rows:0', 'a recruiter cannot delete another recruiter''s notes');
select is(tests.as_('recruiter2_a', format($q$insert into public.transcript_segments (id, session_id, org_id, source, start_ms, end_ms, text) values (gen_random_uuid(), %L, %L, 'system', 0, 1, 'x')$q$,
  tests.fx('A', 'recording_sessions'), tests.org('A'))), 'denied', 'a recruiter cannot add segments to another recruiter''s session');
select is(tests.as_('recruiter_a', format('insert into public.recording_sessions (id, org_id, interview_id, recorder_id, started_at) values (gen_random_uuid(), %L, %L, %L, now())',
  tests.org('A'), tests.fx('A', 'interviews'), tests.uid('recruiter2_a'))), 'denied', 'a recruiter cannot record in someone else''s name');
select is(tests.as_('recruiter_a', format($q$update public.memberships set role = 'admin' where org_id = %L and user_id = %L$q$, tests.org('A'), tests.uid('recruiter_a'))),
  'rows:0', 'a recruiter cannot make themselves admin');
select is(tests.as_('admin_a', format($q$update public.memberships set role = 'owner' where org_id = %L and user_id = %L$q$, tests.org('A'), tests.uid('admin_a'))),
  'rows:0', 'an admin cannot change their own role');
select is(tests.as_('admin_a', format($q$update public.memberships set role = 'owner' where org_id = %L and user_id = %L$q$, tests.org('A'), tests.uid('recruiter2_a'))),
  'denied', 'an admin cannot make anyone owner');
select is(tests.as_('owner_a', format($q$update public.memberships set role = 'admin' where org_id = %L and user_id = %L$q$, tests.org('A'), tests.uid('recruiter2_a'))),
  'rows:1', 'an owner can promote a recruiter to admin');
select is(tests.as_('admin_ab', format('update public.candidates set org_id = %L where id = %L', tests.org('B'), tests.fx('A', 'candidates'))),
  'denied', 'an admin of two organisations cannot move a row between them');
select is(tests.as_('owner_a', format('update public.org_settings set org_id = %L where org_id = %L', tests.org('B'), tests.org('A'))),
  'denied', 'settings cannot be moved to another organisation');
select is(tests.as_('anon', 'select count(*) from public.organizations'), 'denied', 'anon cannot even read organisations');

select * from finish();
rollback;
