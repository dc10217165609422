-- Seed for `supabase db reset` on a developer's local project: one demo organisation owned by a
-- demo user, with an interview to record. Production projects are not seeded.
insert into auth.users (id, email)
values ('00000000-0000-4000-8000-00000000d3e0', 'demo@hark.example')
on conflict (id) do nothing;

insert into public.organizations (id, name)
values ('00000000-0000-4000-8000-00000000d3e1', 'Demo Org')
on conflict (id) do nothing;
insert into public.memberships (org_id, user_id, role)
values ('00000000-0000-4000-8000-00000000d3e1', '00000000-0000-4000-8000-00000000d3e0', 'owner')
on conflict do nothing;
insert into public.org_settings (org_id)
values ('00000000-0000-4000-8000-00000000d3e1')
on conflict do nothing;
insert into public.candidates (id, org_id, full_name, created_by)
values ('00000000-0000-4000-8000-00000000d3e2', '00000000-0000-4000-8000-00000000d3e1', 'Ada Example',
  '00000000-0000-4000-8000-00000000d3e0')
on conflict (id) do nothing;
insert into public.interviews (id, org_id, candidate_id, job_title, created_by)
values ('00000000-0000-4000-8000-00000000d3e3', '00000000-0000-4000-8000-00000000d3e1',
  '00000000-0000-4000-8000-00000000d3e2', 'Backend Engineer', '00000000-0000-4000-8000-00000000d3e0')
on conflict (id) do nothing;
