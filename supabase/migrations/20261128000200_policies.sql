-- Row-level security: a user sees only the organisations they belong to. Viewers read; recruiters
-- create and edit their own candidates, interviews, sessions, segments and notes; admins and owners
-- manage everything in their organisation. `anon` gets nothing. Helpers are security definer
-- with a fixed search_path, and policies call auth.uid() through a sub-select so Postgres
-- evaluates it once per statement (Supabase's RLS performance advice).

create function public.is_member(org uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.memberships m
    where m.org_id = org and m.user_id = (select auth.uid())
  )
$$;

create function public.has_role(org uuid, roles public.org_role[]) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.memberships m
    where m.org_id = org and m.user_id = (select auth.uid()) and m.role = any (roles)
  )
$$;

-- Whether the current user recorded this session (and may still write to it).
create function public.is_session_recorder(session uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.recording_sessions s
    join public.memberships m on m.org_id = s.org_id and m.user_id = s.recorder_id
    where s.id = session and s.recorder_id = (select auth.uid())
      and m.role in ('owner', 'admin', 'recruiter')
  )
$$;

revoke all on function public.is_member(uuid), public.has_role(uuid, public.org_role[]),
  public.is_session_recorder(uuid) from public, anon;
grant execute on function public.is_member(uuid), public.has_role(uuid, public.org_role[]),
  public.is_session_recorder(uuid) to authenticated, service_role;

-- Privileges: RLS decides rows; `anon` may not even try.
revoke all on all tables in schema public from anon, authenticated;
grant select, insert, update, delete on public.organizations, public.memberships,
  public.org_settings, public.candidates, public.interviews, public.recording_sessions,
  public.transcript_segments, public.session_notes to authenticated;
grant select on public.realtime_calls to authenticated;
grant all on all tables in schema public to service_role;

alter table public.organizations enable row level security;
alter table public.memberships enable row level security;
alter table public.org_settings enable row level security;
alter table public.candidates enable row level security;
alter table public.interviews enable row level security;
alter table public.recording_sessions enable row level security;
alter table public.transcript_segments enable row level security;
alter table public.session_notes enable row level security;
alter table public.realtime_calls enable row level security;
-- Tenant data is protected from the table owner too (the security definer functions below
-- check access themselves and run as a role that bypasses RLS).
alter table public.candidates force row level security;
alter table public.interviews force row level security;
alter table public.recording_sessions force row level security;
alter table public.transcript_segments force row level security;
alter table public.session_notes force row level security;

-- organizations: created through create_organization(); renamed by admins; deleted by owners.
create policy organizations_select on public.organizations for select to authenticated
  using ((select public.is_member(id)));
create policy organizations_update on public.organizations for update to authenticated
  using ((select public.has_role(id, '{owner,admin}')))
  with check ((select public.has_role(id, '{owner,admin}')));
create policy organizations_delete on public.organizations for delete to authenticated
  using ((select public.has_role(id, '{owner}')));

-- memberships: admins add, change and remove members, but not themselves and never to owner
-- (only owners make owners); anyone may leave.
create policy memberships_select on public.memberships for select to authenticated
  using ((select public.is_member(org_id)));
create policy memberships_insert on public.memberships for insert to authenticated
  with check (
    (select public.has_role(org_id, '{owner,admin}'))
    and user_id <> (select auth.uid())
    and (role <> 'owner' or (select public.has_role(org_id, '{owner}')))
  );
create policy memberships_update on public.memberships for update to authenticated
  using ((select public.has_role(org_id, '{owner,admin}')) and user_id <> (select auth.uid()))
  with check (
    (select public.has_role(org_id, '{owner,admin}'))
    and user_id <> (select auth.uid())
    and (role <> 'owner' or (select public.has_role(org_id, '{owner}')))
  );
create policy memberships_delete on public.memberships for delete to authenticated
  using (
    user_id = (select auth.uid())
    or ((select public.has_role(org_id, '{owner,admin}'))
        and (role <> 'owner' or (select public.has_role(org_id, '{owner}'))))
  );

-- org_settings: members read (the app shows limits); admins write.
create policy org_settings_select on public.org_settings for select to authenticated
  using ((select public.is_member(org_id)));
create policy org_settings_insert on public.org_settings for insert to authenticated
  with check ((select public.has_role(org_id, '{owner,admin}')));
create policy org_settings_update on public.org_settings for update to authenticated
  using ((select public.has_role(org_id, '{owner,admin}')))
  with check ((select public.has_role(org_id, '{owner,admin}')));

-- candidates and interviews: recruiters create and edit their own; admins all.
create policy candidates_select on public.candidates for select to authenticated
  using ((select public.is_member(org_id)));
create policy candidates_insert on public.candidates for insert to authenticated
  with check (
    (select public.has_role(org_id, '{owner,admin}'))
    or ((select public.has_role(org_id, '{recruiter}')) and created_by = (select auth.uid()))
  );
create policy candidates_update on public.candidates for update to authenticated
  using (
    (select public.has_role(org_id, '{owner,admin}'))
    or ((select public.has_role(org_id, '{recruiter}')) and created_by = (select auth.uid()))
  )
  with check (
    (select public.has_role(org_id, '{owner,admin}'))
    or ((select public.has_role(org_id, '{recruiter}')) and created_by = (select auth.uid()))
  );
create policy candidates_delete on public.candidates for delete to authenticated
  using (
    (select public.has_role(org_id, '{owner,admin}'))
    or ((select public.has_role(org_id, '{recruiter}')) and created_by = (select auth.uid()))
  );

create policy interviews_select on public.interviews for select to authenticated
  using ((select public.is_member(org_id)));
create policy interviews_insert on public.interviews for insert to authenticated
  with check (
    (select public.has_role(org_id, '{owner,admin}'))
    or ((select public.has_role(org_id, '{recruiter}')) and created_by = (select auth.uid()))
  );
create policy interviews_update on public.interviews for update to authenticated
  using (
    (select public.has_role(org_id, '{owner,admin}'))
    or ((select public.has_role(org_id, '{recruiter}')) and created_by = (select auth.uid()))
  )
  with check (
    (select public.has_role(org_id, '{owner,admin}'))
    or ((select public.has_role(org_id, '{recruiter}')) and created_by = (select auth.uid()))
  );
create policy interviews_delete on public.interviews for delete to authenticated
  using (
    (select public.has_role(org_id, '{owner,admin}'))
    or ((select public.has_role(org_id, '{recruiter}')) and created_by = (select auth.uid()))
  );

-- recording sessions: the recorder (a recruiter or above) writes their own; admins all.
create policy recording_sessions_select on public.recording_sessions for select to authenticated
  using ((select public.is_member(org_id)));
create policy recording_sessions_insert on public.recording_sessions for insert to authenticated
  with check (
    recorder_id = (select auth.uid())
    and (select public.has_role(org_id, '{owner,admin,recruiter}'))
  );
create policy recording_sessions_update on public.recording_sessions for update to authenticated
  using (
    (select public.has_role(org_id, '{owner,admin}'))
    or (recorder_id = (select auth.uid()) and (select public.has_role(org_id, '{recruiter}')))
  )
  with check (
    (select public.has_role(org_id, '{owner,admin}'))
    or (recorder_id = (select auth.uid()) and (select public.has_role(org_id, '{recruiter}')))
  );
create policy recording_sessions_delete on public.recording_sessions for delete to authenticated
  using (
    (select public.has_role(org_id, '{owner,admin}'))
    or (recorder_id = (select auth.uid()) and (select public.has_role(org_id, '{recruiter}')))
  );

-- segments and notes follow their session.
create policy transcript_segments_select on public.transcript_segments for select to authenticated
  using ((select public.is_member(org_id)));
create policy transcript_segments_insert on public.transcript_segments for insert to authenticated
  with check ((select public.has_role(org_id, '{owner,admin}')) or public.is_session_recorder(session_id));
create policy transcript_segments_update on public.transcript_segments for update to authenticated
  using ((select public.has_role(org_id, '{owner,admin}')) or public.is_session_recorder(session_id))
  with check ((select public.has_role(org_id, '{owner,admin}')) or public.is_session_recorder(session_id));
create policy transcript_segments_delete on public.transcript_segments for delete to authenticated
  using ((select public.has_role(org_id, '{owner,admin}')) or public.is_session_recorder(session_id));

create policy session_notes_select on public.session_notes for select to authenticated
  using ((select public.is_member(org_id)));
create policy session_notes_insert on public.session_notes for insert to authenticated
  with check ((select public.has_role(org_id, '{owner,admin}')) or public.is_session_recorder(session_id));
create policy session_notes_update on public.session_notes for update to authenticated
  using ((select public.has_role(org_id, '{owner,admin}')) or public.is_session_recorder(session_id))
  with check ((select public.has_role(org_id, '{owner,admin}')) or public.is_session_recorder(session_id));
create policy session_notes_delete on public.session_notes for delete to authenticated
  using ((select public.has_role(org_id, '{owner,admin}')) or public.is_session_recorder(session_id));

-- realtime_calls: read your own, or all of your org as an admin; written only by functions.
create policy realtime_calls_select on public.realtime_calls for select to authenticated
  using (user_id = (select auth.uid()) or (select public.has_role(org_id, '{owner,admin}')));
