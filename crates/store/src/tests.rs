//! Tests of the local store on real SQLite files: migrations, sessions, segments, notes,
//! full-text search, the outbox and crash recovery.

use super::*;

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hark-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("hark.db")
}

fn segment(session: Uuid, item: &str, start_ms: i64, text: &str) -> Segment {
    Segment {
        id: Uuid::new_v4(),
        session_id: session,
        item_id: Some(item.into()),
        source: "microphone".into(),
        speaker_label: None,
        start_ms,
        end_ms: start_ms + 1_500,
        text: text.into(),
        status: SegmentStatus::Final,
    }
}

/// The account the outbox tests send as.
fn me() -> Sender {
    Sender {
        project_url: "https://org.example".into(),
        user_id: Uuid::from_u128(1),
        email: Some("me@example.com".into()),
    }
}

fn session_for(store: &Store, title: &str) -> Session {
    let interview = store.create_interview(title, Some("Ada Lovelace")).unwrap();
    store
        .start_session(&NewSession {
            interview_id: interview.id,
            sources: vec!["microphone".into(), "system".into()],
            recording_path: Some("/tmp/x.ogg".into()),
            ..NewSession::default()
        })
        .unwrap()
}

#[test]
fn a_new_file_gets_the_schema_in_wal_mode_and_reopens() {
    let path = temp_db("open");
    let id = {
        let store = Store::open(&path).unwrap();
        let mode: String = store
            .conn
            .query_row("pragma journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        store.create_interview("Backend engineer", None).unwrap().id
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.interviews(None).unwrap()[0].id, id);
    let version: i64 = store
        .conn
        .query_row("pragma user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
}

#[test]
fn bad_input_is_refused_with_the_field_named() {
    let store = Store::open_in_memory().unwrap();
    let err = store.create_interview("   ", None).unwrap_err();
    assert!(err.to_string().contains("job_title"), "{err}");
    let session = session_for(&store, "Designer");
    let mut backwards = segment(session.id, "item_1", 5_000, "hello");
    backwards.end_ms = 1_000;
    let err = store.save_segment(&backwards).unwrap_err();
    assert!(err.to_string().contains("start_ms/end_ms"), "{err}");
    let err = store
        .start_session(&NewSession {
            interview_id: Uuid::new_v4(),
            ..NewSession::default()
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                what: "interview",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().ends_with("or with `hark interviews`"),
        "{err}"
    );
}

#[test]
fn segments_upsert_by_item_id_and_come_back_in_timeline_order() {
    let store = Store::open_in_memory().unwrap();
    let session = session_for(&store, "Data scientist");
    store
        .save_segment(&segment(session.id, "item_2", 4_000, "second"))
        .unwrap();
    store
        .save_segment(&segment(session.id, "item_1", 1_000, "first draft"))
        .unwrap();
    // The same item again (a correction) replaces the text instead of adding a row.
    store
        .save_segment(&segment(session.id, "item_1", 1_000, "first"))
        .unwrap();
    store
        .add_note(session.id, NoteKind::Bookmark, 2_000, "good answer")
        .unwrap();
    let detail = store.session(&session.id.to_string()).unwrap();
    let texts: Vec<&str> = detail.segments.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, ["first", "second"]);
    assert_eq!(detail.notes.len(), 1);
    assert_eq!(detail.interview.job_title, "Data scientist");
    // A unique prefix of the id works too.
    let prefix = &session.id.to_string()[..8];
    assert_eq!(store.session(prefix).unwrap().session.id, session.id);
}

#[test]
fn finishing_queues_for_sync_and_a_crash_leaves_an_interrupted_session() {
    let path = temp_db("outbox");
    let (done, crashed) = {
        let mut store = Store::open(&path).unwrap();
        let done = session_for(&store, "PM");
        store
            .finish_session(done.id, 61.5, SessionState::Completed)
            .unwrap();
        let crashed = session_for(&store, "QA");
        store.set_seconds_recorded(crashed.id, 12.0).unwrap();
        (done.id, crashed.id)
        // Dropped without finishing `crashed`: as if the app died.
    };
    let mut store = Store::open(&path).unwrap();
    let stuck = store.sessions_left_recording().unwrap();
    assert_eq!(stuck.iter().map(|s| s.id).collect::<Vec<_>>(), [crashed]);
    assert!(store.interrupt(crashed, 12.0).unwrap());
    // A finished session is not interrupted after the fact (its recorder finished it first).
    assert!(!store.interrupt(done, 1.0).unwrap());
    let outbox: Vec<Uuid> = store
        .outbox()
        .unwrap()
        .iter()
        .map(|e| e.session_id)
        .collect();
    assert_eq!(outbox, [done, crashed]);
    let sessions = store.sessions().unwrap();
    let crashed_row = sessions.iter().find(|s| s.session.id == crashed).unwrap();
    assert_eq!(crashed_row.session.state, SessionState::Interrupted);
    assert_eq!(crashed_row.session.seconds_recorded, 12.0);
    assert_eq!(crashed_row.sync_state.as_deref(), Some("pending"));
    assert_eq!(
        sessions
            .iter()
            .find(|s| s.session.id == done)
            .unwrap()
            .session
            .state,
        SessionState::Completed
    );
    // Nothing left to recover the second time.
    assert!(store.sessions_left_recording().unwrap().is_empty());
}

#[test]
fn search_finds_words_with_snippets_and_survives_fts_syntax() {
    let store = Store::open_in_memory().unwrap();
    let session = session_for(&store, "Rust engineer");
    store
        .save_segment(&segment(
            session.id,
            "item_1",
            0,
            "I have built a distributed storage engine in Rust",
        ))
        .unwrap();
    store
        .save_segment(&segment(session.id, "item_2", 3_000, "Café résumé naïve"))
        .unwrap();
    let hits = store.search("storage engine", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert!(
        hits[0].snippet.contains("[storage] [engine]"),
        "{:?}",
        hits[0]
    );
    assert_eq!(hits[0].job_title, "Rust engineer");
    // Accents are folded; prefixes work; FTS operators are plain words, not syntax errors.
    assert_eq!(store.search("resume", 10).unwrap().len(), 1);
    assert_eq!(store.search("distrib*", 10).unwrap().len(), 1);
    assert!(store.search("AND OR \"(", 10).unwrap().is_empty());
    assert!(store.search("   ", 10).unwrap().is_empty());
    // Corrections re-index.
    let mut fixed = segment(session.id, "item_1", 0, "I have built a compiler");
    fixed.id = Uuid::new_v4();
    store.save_segment(&fixed).unwrap();
    assert!(store.search("storage", 10).unwrap().is_empty());
    assert_eq!(store.search("compiler", 10).unwrap().len(), 1);
}

#[test]
fn interviews_are_found_by_id_title_or_candidate_and_ambiguity_is_an_error() {
    let store = Store::open_in_memory().unwrap();
    let one = store
        .create_interview("Staff engineer", Some("Grace Hopper"))
        .unwrap();
    assert_eq!(
        store.find_interview("staff ENGINEER", None).unwrap(),
        Some(one.clone())
    );
    assert_eq!(
        store.find_interview("grace hopper", None).unwrap(),
        Some(one.clone())
    );
    assert_eq!(
        store.find_interview(&one.id.to_string(), None).unwrap(),
        Some(one)
    );
    assert_eq!(store.find_interview("Nobody", None).unwrap(), None);
    store.create_interview("Staff engineer", None).unwrap();
    let err = store.find_interview("Staff engineer", None).unwrap_err();
    assert!(matches!(err, StoreError::Ambiguous { .. }), "{err}");
}

/// An organisation's interview as a pull stores it.
fn pulled(title: &str) -> Interview {
    Interview {
        id: Uuid::new_v4(),
        org_id: Some(Uuid::new_v4()),
        candidate_id: None,
        candidate_name: None,
        job_title: title.into(),
        created_at_ms: 0,
        in_cloud: true,
    }
}

/// The ids of the interviews offered with `project` connected.
fn offered(store: &Store, project: Option<&str>) -> Vec<Uuid> {
    store
        .interviews(project)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect()
}

#[test]
fn interviews_pulled_before_they_kept_their_project_are_placed_by_organisation() {
    let store = Store::open_in_memory().unwrap();
    let local = store.create_interview("Local screening", None).unwrap();
    let (ours, theirs) = (Uuid::new_v4(), Uuid::new_v4());
    let mut unplaced = Vec::new();
    for org in [ours, theirs] {
        let interview = Interview {
            org_id: Some(org),
            ..pulled("Platform engineer")
        };
        store.upsert_cloud_interview(&interview, "x").unwrap();
        unplaced.push(interview.id);
    }
    // As migration 3 left them.
    store
        .conn
        .execute(
            "update interviews set project_url = null where org_id is not null",
            [],
        )
        .unwrap();
    let ids = |project: Option<&str>| offered(&store, project);
    assert_eq!(store.unplaced_interviews().unwrap(), 2);
    assert_eq!(
        ids(Some("https://here.example")).len(),
        3,
        "offered everywhere"
    );
    let by_id = |id: Uuid| store.find_interview(&id.to_string(), Some("https://here.example"));
    assert_eq!(by_id(unplaced[1]).unwrap().map(|i| i.id), Some(unplaced[1]));

    assert_eq!(
        store
            .place_interviews("https://here.example", &[ours])
            .unwrap(),
        (1, 1)
    );
    assert_eq!(store.unplaced_interviews().unwrap(), 0);
    assert_eq!(
        ids(Some("https://here.example")),
        vec![local.id, unplaced[0]]
    );
    assert_eq!(ids(Some("https://there.example")), vec![local.id]);
    assert_eq!(ids(None), vec![local.id]);
    let err = by_id(unplaced[1]).unwrap_err().to_string();
    assert!(
        err.contains("belongs to another project, not to https://here.example"),
        "{err}"
    );
    // Pulled from its own project, the other one is offered there.
    store
        .upsert_cloud_interview(
            &store.interview(unplaced[1]).unwrap(),
            "https://there.example",
        )
        .unwrap();
    assert_eq!(
        ids(Some("https://there.example")),
        vec![local.id, unplaced[1]]
    );
}

#[test]
fn only_the_connected_projects_interviews_are_offered() {
    let store = Store::open_in_memory().unwrap();
    let local = store.create_interview("Local screening", None).unwrap();
    let here = pulled("Platform engineer");
    let there = pulled("Platform engineer");
    store
        .upsert_cloud_interview(&here, "https://here.example")
        .unwrap();
    store
        .upsert_cloud_interview(&there, "https://there.example")
        .unwrap();
    let ids = |project: Option<&str>| offered(&store, project);
    assert_eq!(ids(Some("https://here.example")), vec![local.id, here.id]);
    assert_eq!(ids(Some("https://there.example")), vec![local.id, there.id]);
    assert_eq!(ids(None), vec![local.id]);
    // By title: the connected project's one, not an ambiguity with the other project's.
    assert_eq!(
        store
            .find_interview("platform ENGINEER", Some("https://here.example"))
            .unwrap()
            .map(|i| i.id),
        Some(here.id)
    );
    assert_eq!(
        store.find_interview("Platform engineer", None).unwrap(),
        None
    );
    // By id: its own project's, and a clear refusal elsewhere (also local-only) naming both.
    assert_eq!(
        store
            .find_interview(&there.id.to_string(), Some("https://there.example"))
            .unwrap()
            .map(|i| i.id),
        Some(there.id)
    );
    for connected in [Some("https://here.example"), None] {
        let err = store
            .find_interview(&there.id.to_string(), connected)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&there.id.to_string())
                && err.contains(&format!(
                    "belongs to https://there.example, not to {}, so its organisation would refuse",
                    connected.unwrap_or("local-only mode")
                ))
                && err.contains("connect to its project first"),
            "{err}"
        );
    }
    // A local interview pushed to a project belongs to it from then on.
    store
        .set_interview_org(local.id, Uuid::new_v4(), None, "https://there.example")
        .unwrap();
    assert_eq!(ids(Some("https://here.example")), vec![here.id]);
}

#[test]
fn the_outbox_moves_through_its_states_and_survives_a_crash_mid_sync() {
    let mut store = Store::open_in_memory().unwrap();
    let interview = store.create_interview("Engineer", Some("Ada")).unwrap();
    let session = store
        .start_session(&NewSession {
            interview_id: interview.id,
            ..NewSession::default()
        })
        .unwrap();
    assert!(
        store.outbox_due(now_ms(), &me()).unwrap().is_empty(),
        "still recording"
    );
    store
        .finish_session(session.id, 3.0, SessionState::Completed)
        .unwrap();
    assert_eq!(store.outbox_due(now_ms(), &me()).unwrap(), vec![session.id]);

    // A crash while syncing leaves it `syncing`: still due at the next start.
    store.sync_started(session.id, &me()).unwrap();
    assert_eq!(store.outbox_due(now_ms(), &me()).unwrap(), vec![session.id]);
    // A retryable failure waits for its time; a permanent one waits for a person.
    let later = now_ms() + 60_000;
    store
        .sync_failed(session.id, "502 from the gateway", Retry::At(later))
        .unwrap();
    assert!(store.outbox_due(now_ms(), &me()).unwrap().is_empty());
    assert_eq!(store.outbox_due(later, &me()).unwrap(), vec![session.id]);
    store.sync_started(session.id, &me()).unwrap();
    store
        .sync_failed(session.id, "device_names must be an object", Retry::Never)
        .unwrap();
    let entry = store.outbox_entry(session.id).unwrap().unwrap();
    assert_eq!((entry.state.as_str(), entry.attempts), ("failed", 2));
    assert!(store.outbox_due(later, &me()).unwrap().is_empty());
    assert_eq!(store.retry_sync_now().unwrap(), 1);
    assert_eq!(store.outbox_due(now_ms(), &me()).unwrap(), vec![session.id]);
    store.sync_started(session.id, &me()).unwrap();
    assert!(store.sync_succeeded(session.id).unwrap());
    assert!(store.outbox().unwrap().is_empty());
    assert_eq!(
        store.sessions().unwrap()[0].sync_state.as_deref(),
        Some("synced")
    );

    // What goes out: the session, its interview (local until pushed) and its rows.
    let out = store.outgoing(session.id).unwrap();
    assert_eq!(out.interview.id, interview.id);
    assert!(!out.interview.in_cloud);
    let org = Uuid::new_v4();
    let candidate = Uuid::new_v4();
    store
        .set_interview_org(interview.id, org, Some(candidate), "https://org.example")
        .unwrap();
    store.interview_pushed(interview.id).unwrap();
    let out = store.outgoing(session.id).unwrap();
    assert!(out.interview.in_cloud);
    assert_eq!(
        (out.interview.org_id, out.interview.candidate_id),
        (Some(org), Some(candidate))
    );
}

#[test]
fn the_recording_notice_is_kept_with_who_and_when_and_only_a_user_is_sent() {
    let store = Store::open_in_memory().unwrap();
    let interview = store.create_interview("Notice", None).unwrap();
    let user = Uuid::new_v4();
    let at_ms = now_ms() - 5_000;
    let signed_in = store
        .start_session(&NewSession {
            interview_id: interview.id,
            consent: Some(Consent {
                by: Some(user),
                at_ms,
            }),
            ..NewSession::default()
        })
        .unwrap();
    let local = store
        .start_session(&NewSession {
            interview_id: interview.id,
            consent: Some(Consent { by: None, at_ms }),
            ..NewSession::default()
        })
        .unwrap();
    let read = |id: Uuid| store.session(&id.to_string()).unwrap().session.consent;
    assert_eq!(
        read(signed_in.id),
        Some(Consent {
            by: Some(user),
            at_ms
        })
    );
    assert_eq!(read(local.id), Some(Consent { by: None, at_ms }));
    let mut store = store;
    assert_eq!(
        store.outgoing(signed_in.id).unwrap().consent,
        Some((user, at_ms))
    );
    // Without a user there is nobody the organisation knows to name: nothing is sent.
    assert_eq!(store.outgoing(local.id).unwrap().consent, None);
    // A notice "confirmed" after the recording started is refused, naming the field.
    let err = store
        .start_session(&NewSession {
            interview_id: interview.id,
            consent: Some(Consent {
                by: None,
                at_ms: now_ms() + 3_600_000,
            }),
            ..NewSession::default()
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("consent"), "{err}");
}

#[test]
fn corrections_are_searchable_and_queue_a_finished_session_again() {
    let mut store = Store::open_in_memory().unwrap();
    let session = session_for(&store, "Corrections");
    store
        .save_segment(&segment(session.id, "i1", 0, "we use rust daily"))
        .unwrap();
    let mut theirs = segment(session.id, "i2", 2_000, "I like kotlin");
    theirs.source = "system".into();
    store.save_segment(&theirs).unwrap();

    // While recording, a correction is kept but nothing is queued yet.
    let mine = store.session(&session.id.to_string()).unwrap().segments[0].id;
    store.edit_segment(mine, "we use Rust daily").unwrap();
    assert!(store.outbox().unwrap().is_empty());

    store
        .finish_session(session.id, 4.0, SessionState::Completed)
        .unwrap();
    store.sync_started(session.id, &me()).unwrap();
    store.sync_succeeded(session.id).unwrap();
    assert!(store.outbox().unwrap().is_empty(), "synced");

    let edited = store
        .edit_segment(mine, "  we use Rust every day ")
        .unwrap();
    assert_eq!(edited.text, "we use Rust every day");
    assert_eq!(store.outbox().unwrap()[0].state, "pending");
    assert_eq!(store.search("every day", 10).unwrap().len(), 1);
    assert!(store.search("daily", 10).unwrap().is_empty());
    let err = store.edit_segment(mine, "   ").unwrap_err().to_string();
    assert!(err.contains("text"), "{err}");
    assert!(matches!(
        store.edit_segment(Uuid::new_v4(), "x"),
        Err(StoreError::NotFound { .. })
    ));

    // Naming the candidate changes only their segments, and goes back with None.
    store.sync_started(session.id, &me()).unwrap();
    store.sync_succeeded(session.id).unwrap();
    assert_eq!(
        store
            .rename_speaker(session.id, "system", Some(" Ada "))
            .unwrap(),
        1
    );
    assert_eq!(store.outbox().unwrap()[0].state, "pending");
    let labels: Vec<Option<String>> = store
        .session(&session.id.to_string())
        .unwrap()
        .segments
        .into_iter()
        .map(|s| s.speaker_label)
        .collect();
    assert_eq!(labels, [None, Some("Ada".to_string())]);
    store.rename_speaker(session.id, "system", None).unwrap();
    assert!(
        store.session(&session.id.to_string()).unwrap().segments[1]
            .speaker_label
            .is_none()
    );
}

#[test]
fn deleting_a_session_takes_its_transcript_and_spares_one_being_recorded() {
    let mut store = Store::open_in_memory().unwrap();
    let live = session_for(&store, "Live");
    let done = session_for(&store, "Done");
    store
        .save_segment(&segment(done.id, "i1", 0, "unforgettable words"))
        .unwrap();
    store
        .add_note(done.id, NoteKind::Note, 500, "good")
        .unwrap();
    store
        .finish_session(done.id, 2.0, SessionState::Completed)
        .unwrap();

    let err = store.delete_session(live.id).unwrap_err().to_string();
    assert!(err.contains("stop it first"), "{err}");
    assert_eq!(
        store.delete_session(done.id).unwrap().as_deref(),
        Some("/tmp/x.ogg")
    );
    assert!(store.search("unforgettable", 10).unwrap().is_empty());
    assert!(store.outbox().unwrap().is_empty());
    assert_eq!(store.sessions().unwrap().len(), 1);
    assert!(store.session(&done.id.to_string()).is_err());
}

/// A finished session (queued for sync) whose transcript is one line, `text`.
fn finished_with_a_line(store: &mut Store, title: &str, text: &str) -> Session {
    let session = session_for(store, title);
    store
        .save_segment(&segment(session.id, "i1", 0, text))
        .unwrap();
    store
        .finish_session(session.id, 2.0, SessionState::Completed)
        .unwrap();
    session
}

#[test]
fn a_change_made_while_a_send_is_in_flight_stays_queued_after_it() {
    let mut store = Store::open_in_memory().unwrap();
    let session = finished_with_a_line(&mut store, "In flight", "first words");
    let line = store.session(&session.id.to_string()).unwrap().segments[0].id;

    // An edit lands while the send that read the old text is on its way: when that send
    // succeeds, the edit is still to be sent.
    store.sync_started(session.id, &me()).unwrap();
    store.edit_segment(line, "first word").unwrap();
    assert!(!store.sync_succeeded(session.id).unwrap());
    let entry = store.outbox_entry(session.id).unwrap().unwrap();
    assert_eq!(entry.state, "pending");
    assert_eq!(store.outbox_due(now_ms(), &me()).unwrap(), vec![session.id]);

    // The same for a failed send: the renamed speaker is due now, not after this
    // attempt's back-off or never, and the stale error is not shown.
    store.sync_started(session.id, &me()).unwrap();
    store
        .rename_speaker(session.id, "microphone", Some("Grace"))
        .unwrap();
    assert!(
        !store
            .sync_failed(session.id, "refused", Retry::Never)
            .unwrap()
    );
    let entry = store.outbox_entry(session.id).unwrap().unwrap();
    assert_eq!((entry.state.as_str(), entry.last_error), ("pending", None));
    assert_eq!(store.outbox_due(now_ms(), &me()).unwrap(), vec![session.id]);

    // Left alone, the next send completes.
    store.sync_started(session.id, &me()).unwrap();
    assert!(store.sync_succeeded(session.id).unwrap());
    assert_eq!(
        store
            .session(&session.id.to_string())
            .unwrap()
            .sync_state
            .as_deref(),
        Some("synced")
    );
    // A session with no outbox entry at all is still an error.
    assert!(matches!(
        store.sync_succeeded(Uuid::new_v4()),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn a_segment_saved_after_the_session_finished_queues_it_again() {
    let mut store = Store::open_in_memory().unwrap();
    let session = session_for(&store, "Late words");
    // While recording, segments queue nothing: stopping does.
    store
        .save_segment(&segment(session.id, "i1", 0, "on time"))
        .unwrap();
    assert!(store.outbox().unwrap().is_empty());
    assert_eq!(
        store.session(&session.id.to_string()).unwrap().sync_state,
        None
    );
    store
        .finish_session(session.id, 5.0, SessionState::Completed)
        .unwrap();
    store.sync_started(session.id, &me()).unwrap();
    assert!(store.sync_succeeded(session.id).unwrap());
    assert!(store.outbox().unwrap().is_empty(), "synced");

    // The saver stores the last words after Stop: the session goes back in the queue.
    store
        .save_segment(&segment(session.id, "i2", 3_000, "said just before Stop"))
        .unwrap();
    let entry = store.outbox_entry(session.id).unwrap().unwrap();
    assert_eq!((entry.state.as_str(), entry.attempts), ("pending", 0));
    assert_eq!(store.outbox_due(now_ms(), &me()).unwrap(), vec![session.id]);

    // Also while a send is in flight: that send does not cover it.
    store.sync_started(session.id, &me()).unwrap();
    store
        .save_segment(&segment(session.id, "i3", 4_000, "later still"))
        .unwrap();
    assert!(!store.sync_succeeded(session.id).unwrap());
    assert_eq!(
        store
            .session(&session.id.to_string())
            .unwrap()
            .sync_state
            .as_deref(),
        Some("pending")
    );
}

#[test]
fn a_session_being_sent_is_not_deleted_until_the_send_ends() {
    let mut store = Store::open_in_memory().unwrap();
    let session = finished_with_a_line(&mut store, "Sending", "keep me for now");
    store.sync_started(session.id, &me()).unwrap();

    let err = store.delete_session(session.id).unwrap_err().to_string();
    assert!(err.contains("wait until it has finished syncing"), "{err}");
    // Nothing was removed.
    assert_eq!(store.search("keep", 10).unwrap().len(), 1);
    assert_eq!(
        store
            .session(&session.id.to_string())
            .unwrap()
            .sync_state
            .as_deref(),
        Some("syncing")
    );

    assert!(store.sync_succeeded(session.id).unwrap());
    assert_eq!(
        store.delete_session(session.id).unwrap().as_deref(),
        Some("/tmp/x.ogg")
    );
    assert!(store.sessions().unwrap().is_empty());
}

/// A gap: a span the live transcript missed, no text yet.
fn gap_of(session: Uuid, start_ms: i64, end_ms: i64) -> Segment {
    Segment::gap(session, "microphone", start_ms, end_ms)
}

#[test]
fn a_gap_of_a_finished_session_is_replaced_by_what_was_heard_in_it() {
    let mut store = Store::open_in_memory().unwrap();
    let session = session_for(&store, "Went offline");
    store
        .save_segment(&segment(session.id, "a", 0, "before the outage"))
        .unwrap();
    let gap = gap_of(session.id, 4_000, 9_000);
    store.save_segment(&gap).unwrap();
    // Not while recording: the file is still being written.
    assert!(store.gaps().unwrap().is_empty());
    store
        .finish_session(session.id, 10.0, SessionState::Completed)
        .unwrap();
    store.sync_started(session.id, &me()).unwrap();
    store.sync_succeeded(session.id).unwrap();
    let gaps = store.gaps().unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].segment, gap);
    // A gap is back-fill's bookkeeping: the organisation gets the transcript, not the gap.
    let texts = |store: &mut Store| -> Vec<String> {
        let outgoing = store.outgoing(session.id).unwrap();
        outgoing.segments.into_iter().map(|s| s.text).collect()
    };
    assert_eq!(texts(&mut store), ["before the outage"]);
    assert_eq!(gaps[0].recording_path, "/tmp/x.ogg");

    let heard = [
        Heard {
            start_ms: 4_300,
            end_ms: 5_500,
            text: "said while offline".into(),
        },
        Heard {
            start_ms: 7_000,
            end_ms: 8_200,
            text: "and more".into(),
        },
    ];
    let filled = store.fill_gap(gap.id, &heard, None).unwrap();
    // The first keeps the gap's id, so a synced copy of the gap is updated, not left beside it.
    assert_eq!(filled[0].id, gap.id);
    assert_ne!(filled[1].id, gap.id);
    let detail = store.session(&session.id.to_string()).unwrap();
    let lines: Vec<_> = detail
        .segments
        .iter()
        .map(|s| (s.start_ms, s.text.as_str(), s.status))
        .collect();
    assert_eq!(
        lines,
        [
            (0, "before the outage", SegmentStatus::Final),
            (4_300, "said while offline", SegmentStatus::Backfilled),
            (7_000, "and more", SegmentStatus::Backfilled),
        ]
    );
    assert!(store.gaps().unwrap().is_empty());
    assert_eq!(
        texts(&mut store),
        ["before the outage", "said while offline", "and more"]
    );
    assert_eq!(store.search("offline", 10).unwrap().len(), 1);
    // The synced session goes out again with its new lines.
    assert_eq!(
        store.outbox_entry(session.id).unwrap().unwrap().state,
        "pending"
    );
    // Filled once only.
    assert!(matches!(
        store.fill_gap(gap.id, &heard, None),
        Err(StoreError::NotFound { what: "gap", .. })
    ));
}

#[test]
fn a_gap_that_held_only_silence_goes() {
    let mut store = Store::open_in_memory().unwrap();
    let session = session_for(&store, "Quiet start");
    let gap = gap_of(session.id, 0, 300);
    store.save_segment(&gap).unwrap();
    store
        .finish_session(session.id, 1.0, SessionState::Completed)
        .unwrap();
    assert!(store.fill_gap(gap.id, &[], None).unwrap().is_empty());
    assert!(
        store
            .session(&session.id.to_string())
            .unwrap()
            .segments
            .is_empty()
    );
    assert!(store.gaps().unwrap().is_empty());
}

#[test]
fn a_gap_transcribed_in_part_keeps_the_rest_for_later() {
    let mut store = Store::open_in_memory().unwrap();
    let session = session_for(&store, "Long outage");
    let gap = gap_of(session.id, 10_000, 600_000);
    store.save_segment(&gap).unwrap();
    store
        .finish_session(session.id, 600.0, SessionState::Completed)
        .unwrap();
    let heard = [Heard {
        start_ms: 12_000,
        end_ms: 14_000,
        text: "first part".into(),
    }];
    let filled = store.fill_gap(gap.id, &heard, Some(130_000)).unwrap();
    assert_ne!(filled[0].id, gap.id);
    let gaps = store.gaps().unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(
        (
            gaps[0].segment.id,
            gaps[0].segment.start_ms,
            gaps[0].segment.end_ms
        ),
        (gap.id, 130_000, 600_000)
    );
    let texts: Vec<_> = store
        .session(&session.id.to_string())
        .unwrap()
        .segments
        .into_iter()
        .map(|s| s.text)
        .collect();
    assert_eq!(texts, ["first part", ""]);
}

/// A finished session recorded for `destination`.
fn finished_for(store: &mut Store, destination: Destination) -> Uuid {
    let interview = store.create_interview("Engineer", None).unwrap();
    let session = store
        .start_session(&NewSession {
            interview_id: interview.id,
            destination,
            ..NewSession::default()
        })
        .unwrap();
    store
        .finish_session(session.id, 3.0, SessionState::Completed)
        .unwrap();
    session.id
}

#[test]
fn the_outbox_hands_a_session_only_to_the_account_it_was_recorded_for() {
    let mut store = Store::open(&temp_db("destinations")).unwrap();
    let other_user = Sender {
        user_id: Uuid::from_u128(2),
        email: Some("them@example.com".into()),
        ..me()
    };
    let other_project = Sender {
        project_url: "https://elsewhere.example".into(),
        ..me()
    };
    let local = finished_for(&mut store, Destination::LocalOnly);
    let mine = finished_for(
        &mut store,
        Destination::Organisation {
            project_url: Some(me().project_url),
            user_id: Some(me().user_id),
            email: me().email,
        },
    );
    // Recorded for the project while nobody was signed in.
    let anyones = finished_for(
        &mut store,
        Destination::Organisation {
            project_url: Some(me().project_url),
            user_id: None,
            email: None,
        },
    );
    let due = |store: &Store, sender: &Sender| store.outbox_due(now_ms(), sender).unwrap();

    assert_eq!(due(&store, &me()), vec![mine, anyones]);
    assert_eq!(due(&store, &other_user), vec![anyones]);
    assert!(due(&store, &other_project).is_empty());
    // The sync loop wakes for its own account's sessions only.
    assert_eq!(store.next_attempt_at(&me()).unwrap(), Some(0));
    assert_eq!(store.next_attempt_at(&other_project).unwrap(), None);

    // Sending one names whose it is when it is not the sender's.
    let refused = store
        .sync_started(mine, &other_user)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("recorded by me@example.com"), "{refused}");
    let refused = store.sync_started(local, &me()).unwrap_err().to_string();
    assert!(refused.contains("on this computer only"), "{refused}");
    assert_eq!(store.outbox_entry(local).unwrap().unwrap().attempts, 0);

    // The first account to send an unclaimed session takes it.
    store.sync_started(anyones, &other_user).unwrap();
    assert_eq!(
        store.destination(anyones).unwrap(),
        Destination::Organisation {
            project_url: Some(me().project_url),
            user_id: Some(other_user.user_id),
            email: other_user.email.clone(),
        }
    );
    store.sync_failed(anyones, "offline", Retry::At(0)).unwrap();
    assert_eq!(due(&store, &me()), vec![mine]);

    // What the library says about each, from the configured project and the signed-in user.
    let held = |id| {
        store
            .destination(id)
            .unwrap()
            .held(Some("https://org.example"), Some(me().user_id))
    };
    assert!(held(local).unwrap().contains("only if you send it"));
    assert_eq!(held(mine), None);
    assert!(
        held(anyones)
            .unwrap()
            .contains("recorded by them@example.com")
    );
    let elsewhere = store
        .destination(mine)
        .unwrap()
        .held(Some("https://elsewhere.example"), Some(me().user_id))
        .unwrap();
    assert!(
        elsewhere.contains("recorded for the organisation at https://org.example"),
        "{elsewhere}"
    );
}

#[test]
fn sharing_sends_a_session_as_the_recruiter_who_chose_to() {
    let mut store = Store::open(&temp_db("share")).unwrap();
    let local = finished_for(&mut store, Destination::LocalOnly);
    assert!(store.outbox_due(now_ms(), &me()).unwrap().is_empty());
    assert!(store.share_session(local, &me()).unwrap());
    assert_eq!(store.outbox_due(now_ms(), &me()).unwrap(), vec![local]);
    assert!(store.destination(local).unwrap().sent_by(&me()));
    assert_eq!(
        store
            .session(&local.to_string())
            .unwrap()
            .session
            .destination,
        store.destination(local).unwrap()
    );

    // Synced here: sharing again changes nothing and queues nothing.
    store.sync_started(local, &me()).unwrap();
    store.first_sent(local).unwrap();
    assert!(store.sync_succeeded(local).unwrap());
    assert!(!store.share_session(local, &me()).unwrap());
    assert_eq!(store.outbox_entry(local).unwrap().unwrap().state, "synced");

    // Sent as another account, and queued again since (an edit): not sent a second time.
    store
        .save_segment(&segment(local, "late", 0, "an edit"))
        .unwrap();
    assert_eq!(store.outbox_entry(local).unwrap().unwrap().state, "pending");
    let them = Sender {
        user_id: Uuid::from_u128(2),
        ..me()
    };
    let refused = store.share_session(local, &them).unwrap_err().to_string();
    assert!(
        refused.contains(
            "already been sent to the organisation at https://org.example as me@example.com"
        ),
        "{refused}"
    );
    assert!(store.destination(local).unwrap().sent_by(&me()));

    // A send that failed before the project took anything does not tie a session to that
    // account: another may still send it as theirs.
    let tried = finished_for(&mut store, Destination::Unclaimed);
    store.sync_started(tried, &me()).unwrap();
    store
        .sync_failed(tried, "you record in no organisation", Retry::Never)
        .unwrap();
    assert!(store.share_session(tried, &them).unwrap());
    assert!(store.destination(tried).unwrap().sent_by(&them));
    assert_eq!(store.outbox_due(now_ms(), &them).unwrap(), vec![tried]);

    // Still recording: refused, and nothing queued.
    let interview = store.create_interview("Engineer", None).unwrap();
    let live = store
        .start_session(&NewSession {
            interview_id: interview.id,
            destination: Destination::LocalOnly,
            ..NewSession::default()
        })
        .unwrap();
    let refused = store.share_session(live.id, &me()).unwrap_err().to_string();
    assert!(refused.contains("still recording"), "{refused}");
    assert_eq!(store.destination(live.id).unwrap(), Destination::LocalOnly);
}

#[test]
fn a_shared_local_only_recording_is_left_to_back_fill_where_it_has_no_transcript() {
    let mut store = Store::open(&temp_db("share-gaps")).unwrap();
    let interview = store.create_interview("Engineer", None).unwrap();
    let session = store
        .start_session(&NewSession {
            interview_id: interview.id,
            sources: vec!["microphone".into(), "system".into()],
            recording_path: Some("/tmp/local.ogg".into()),
            destination: Destination::LocalOnly,
            ..NewSession::default()
        })
        .unwrap();
    // The microphone was transcribed (a proxy without an organisation); system audio was not.
    store
        .save_segment(&segment(session.id, "item_1", 1_000, "hello"))
        .unwrap();
    store
        .finish_session(session.id, 42.5, SessionState::Completed)
        .unwrap();
    assert!(store.gaps().unwrap().is_empty());

    store.share_session(session.id, &me()).unwrap();
    let gaps = store.gaps().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let gap = &gaps[0].segment;
    assert_eq!(
        (gap.source.as_str(), gap.start_ms, gap.end_ms, gap.status),
        ("system", 0, 42_500, SegmentStatus::Failed)
    );
    assert!(gaps[0].destination.sent_by(&me()));
    // Nothing was said on it (back-fill removes the gap); sharing again makes no new gap: the
    // session is no longer local-only.
    store.fill_gap(gap.id, &[], None).unwrap();
    assert!(store.gaps().unwrap().is_empty());
    store.share_session(session.id, &me()).unwrap();
    assert!(store.gaps().unwrap().is_empty());
}
