//! The Supabase backend over HTTP, as clients reach it: gateway → postrust → PostgreSQL with
//! row-level security, users signed in at the Auth stand-in. postrust answers an RLS refusal
//! (42501) with 401 where PostgREST says 403, so assertions use the error code.

use hark_tests::supabase::{Project, Session, send, session_payload};
use serde_json::json;
use uuid::Uuid;

/// Two organisations: A (owner alice, recruiter carol, viewer vic) and B (owner bob).
struct World {
    project: Project,
    alice: Session,
    carol: Session,
    vic: Session,
    bob: Session,
    org_a: Uuid,
    interview_a: Uuid,
    interview_b: Uuid,
}

async fn world() -> World {
    let project = Project::from_env();
    let (alice, carol, vic, bob) = (
        project.new_user("alice").await,
        project.new_user("carol").await,
        project.new_user("vic").await,
        project.new_user("bob").await,
    );
    let org_a = project
        .organization(&alice, &[(&carol, "recruiter"), (&vic, "viewer")])
        .await;
    let org_b = project.organization(&bob, &[]).await;
    let interview_a = project.interview(&alice, org_a).await;
    let interview_b = project.interview(&bob, org_b).await;
    World {
        project,
        alice,
        carol,
        vic,
        bob,
        org_a,
        interview_a,
        interview_b,
    }
}

#[tokio::test]
async fn the_gateway_wants_an_api_key() {
    let project = Project::from_env();
    let client = hark_tests::http();
    let url = format!("{}/rest/v1/organizations", project.url);
    let missing = client.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("No API key found in request")
    );
    let wrong = client
        .get(&url)
        .header("apikey", "not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("Invalid API key"));
    // The anon key alone is the anon role: it sees nothing.
    let anon = send(project.rest(None).from("organizations").select("*")).await;
    assert_eq!(anon.code(), Some("42501"), "{anon:?}");
}

#[tokio::test]
async fn synced_sessions_are_seen_by_their_organisation_only() {
    let w = world().await;
    let session_id = Uuid::new_v4();
    let stored = w
        .project
        .rpc(
            &w.carol,
            "sync_session",
            json!({"payload": session_payload(session_id, w.interview_a, 12)}),
        )
        .await;
    assert_eq!(stored.status, 200, "{stored:?}");
    assert_eq!(stored.body["segments_written"], 12);
    assert_eq!(stored.body["org_id"], json!(w.org_a));

    // Everyone in A reads it, the viewer included.
    for reader in [&w.alice, &w.carol, &w.vic] {
        let segments = send(
            w.project
                .rest(Some(reader))
                .from("transcript_segments")
                .select("id")
                .eq("session_id", session_id.to_string()),
        )
        .await;
        assert_eq!(
            segments.body.as_array().map(Vec::len),
            Some(12),
            "{segments:?}"
        );
    }
    // Bob of B sees none of A's rows, in any table.
    for table in [
        "organizations",
        "memberships",
        "candidates",
        "interviews",
        "recording_sessions",
        "transcript_segments",
        "session_notes",
        "realtime_calls",
    ] {
        let rows = send(
            w.project
                .rest(Some(&w.bob))
                .from(table)
                .select("*")
                .eq("org_id", w.org_a.to_string()),
        )
        .await;
        let rows = if table == "organizations" {
            send(
                w.project
                    .rest(Some(&w.bob))
                    .from(table)
                    .select("*")
                    .eq("id", w.org_a.to_string()),
            )
            .await
        } else {
            rows
        };
        assert_eq!(rows.status, 200, "{table}: {rows:?}");
        assert_eq!(rows.body, json!([]), "bob must not see {table} of org A");
    }
}

#[tokio::test]
async fn cross_tenant_tricks_fail() {
    let w = world().await;
    let bob = w.project.rest(Some(&w.bob));
    // Write into A.
    let insert = send(
        bob.from("candidates")
            .insert(json!({"org_id": w.org_a, "full_name": "Mallory"}).to_string()),
    )
    .await;
    assert_eq!(insert.code(), Some("42501"), "{insert:?}");
    // Add himself to A, as owner.
    let join =
        send(bob.from("memberships").insert(
            json!({"org_id": w.org_a, "user_id": w.bob.user_id, "role": "owner"}).to_string(),
        ))
        .await;
    assert_eq!(join.code(), Some("42501"), "{join:?}");
    // Change or delete A's interview: RLS hides it, so nothing is touched.
    let update = send(
        bob.from("interviews")
            .eq("id", w.interview_a.to_string())
            .update(json!({"job_title": "pwned"}).to_string()),
    )
    .await;
    assert_eq!(update.body, json!([]), "{update:?}");
    let delete = send(
        bob.from("interviews")
            .eq("id", w.interview_a.to_string())
            .delete(),
    )
    .await;
    assert_eq!(delete.body, json!([]), "{delete:?}");
    let still = send(
        w.project
            .rest(Some(&w.alice))
            .from("interviews")
            .select("job_title")
            .eq("id", w.interview_a.to_string()),
    )
    .await;
    assert_eq!(still.body, json!([{"job_title": "Platform Engineer"}]));
    // Move his own interview into A.
    let moved = send(
        bob.from("interviews")
            .eq("id", w.interview_b.to_string())
            .update(json!({"org_id": w.org_a}).to_string()),
    )
    .await;
    assert_eq!(moved.code(), Some("42501"), "{moved:?}");
    // Sync a session into A's interview, or start a call on it.
    let sync = w
        .project
        .rpc(
            &w.bob,
            "sync_session",
            json!({"payload": session_payload(Uuid::new_v4(), w.interview_a, 1)}),
        )
        .await;
    assert_eq!(sync.code(), Some("42501"), "{sync:?}");
    assert!(
        sync.message()
            .contains("is not in any organisation you belong to"),
        "{sync:?}"
    );
    let call = w
        .project
        .rpc(
            &w.bob,
            "start_realtime_call",
            json!({"interview_id": w.interview_a, "source": "microphone"}),
        )
        .await;
    assert_eq!(call.code(), Some("42501"), "{call:?}");
    // Write the call audit directly.
    let audit = send(
        bob.from("realtime_calls")
            .insert(json!({"id": Uuid::new_v4(), "org_id": w.org_a}).to_string()),
    )
    .await;
    assert_eq!(audit.code(), Some("42501"), "{audit:?}");
    // Purge everyone's data.
    let purge = w.project.rpc(&w.bob, "purge_expired", json!({})).await;
    assert_eq!(purge.code(), Some("42501"), "{purge:?}");
    // A viewer of A cannot write either.
    let viewer = w
        .project
        .rpc(
            &w.vic,
            "sync_session",
            json!({"payload": session_payload(Uuid::new_v4(), w.interview_a, 1)}),
        )
        .await;
    assert_eq!(viewer.code(), Some("42501"), "{viewer:?}");
}

#[tokio::test]
async fn sync_session_twice_changes_nothing() {
    let w = world().await;
    let session_id = Uuid::new_v4();
    let payload = json!({"payload": session_payload(session_id, w.interview_a, 40)});
    let first = w
        .project
        .rpc(&w.carol, "sync_session", payload.clone())
        .await;
    assert_eq!(
        (first.status, first.body["segments_written"].clone()),
        (200, json!(40)),
        "{first:?}"
    );
    let before = send(
        w.project
            .rest(Some(&w.carol))
            .from("recording_sessions")
            .select("updated_at")
            .eq("id", session_id.to_string()),
    )
    .await;
    let second = w.project.rpc(&w.carol, "sync_session", payload).await;
    assert_eq!(second.status, 200, "{second:?}");
    assert_eq!(second.body["segments_written"], 0);
    assert_eq!(second.body["notes_written"], 0);
    assert_eq!(second.body["session_written"], false);
    assert_eq!(second.body["segments_stored"], 40);
    let after = send(
        w.project
            .rest(Some(&w.carol))
            .from("recording_sessions")
            .select("updated_at")
            .eq("id", session_id.to_string()),
    )
    .await;
    assert_eq!(before.body, after.body, "the session row was not rewritten");
}

#[tokio::test]
async fn malformed_payloads_get_clear_errors_and_store_nothing() {
    let w = world().await;
    let session_id = Uuid::new_v4();
    let good = session_payload(session_id, w.interview_a, 5);
    let mut cases: Vec<(&str, serde_json::Value, &str)> = Vec::new();
    let mut no_interview = good.clone();
    no_interview["session"]
        .as_object_mut()
        .unwrap()
        .remove("interview_id");
    cases.push((
        "missing interview",
        no_interview,
        "session.interview_id must be a UUID",
    ));
    let mut wrong_type = good.clone();
    wrong_type["segments"][1]["end_ms"] = json!("soon");
    cases.push((
        "wrong type",
        wrong_type,
        "segments[1].end_ms must be a whole number",
    ));
    let mut out_of_order = good.clone();
    // Segment 4 is the microphone's third; it may not start before the microphone's second.
    out_of_order["segments"][4]["start_ms"] = json!(100);
    out_of_order["segments"][4]["end_ms"] = json!(200);
    cases.push((
        "out of order",
        out_of_order,
        "segments[4] starts before the previous segment of its source",
    ));
    let mut duplicate = good.clone();
    duplicate["segments"][2]["id"] = duplicate["segments"][0]["id"].clone();
    cases.push(("duplicate ids", duplicate, "segments repeat the id"));
    cases.push((
        "not an object",
        json!("hello"),
        "payload must be a JSON object",
    ));
    let mut huge = good.clone();
    huge["segments"][0]["text"] = json!("x".repeat(10 * 1024 * 1024));
    cases.push(("10 MB", huge, "over the 8 MiB limit"));
    for (label, payload, expected) in cases {
        let reply = w
            .project
            .rpc(&w.carol, "sync_session", json!({"payload": payload}))
            .await;
        assert!(reply.status >= 400, "{label}: {reply:?}");
        assert!(
            reply.message().contains(expected),
            "{label}: {:?}",
            reply.body
        );
    }
    let stored = send(
        w.project
            .rest(Some(&w.carol))
            .from("recording_sessions")
            .select("id")
            .eq("id", session_id.to_string()),
    )
    .await;
    assert_eq!(stored.body, json!([]), "nothing partial was stored");
    let segments = send(
        w.project
            .rest(Some(&w.carol))
            .from("transcript_segments")
            .select("id")
            .eq("session_id", session_id.to_string()),
    )
    .await;
    assert_eq!(segments.body, json!([]));
}

#[tokio::test]
async fn two_proxies_racing_for_the_last_slot_cannot_both_win() {
    let w = world().await;
    let dave = w.project.new_user("dave").await;
    let add = send(w.project.rest(Some(&w.alice)).from("memberships").insert(
        json!({"org_id": w.org_a, "user_id": dave.user_id, "role": "recruiter"}).to_string(),
    ))
    .await;
    assert_eq!(add.status, 201, "{add:?}");
    let cap = send(
        w.project
            .rest(Some(&w.alice))
            .from("org_settings")
            .eq("org_id", w.org_a.to_string())
            .update(json!({"concurrent_session_cap": 1}).to_string()),
    )
    .await;
    assert_eq!(cap.body.as_array().map(Vec::len), Some(1), "{cap:?}");
    for round in 0..5 {
        let params = json!({"interview_id": w.interview_a, "source": "microphone"});
        let (first, second) = tokio::join!(
            w.project
                .rpc(&w.carol, "start_realtime_call", params.clone()),
            w.project.rpc(&dave, "start_realtime_call", params.clone()),
        );
        let winners: Vec<_> = [&first, &second]
            .into_iter()
            .filter(|r| r.status == 200)
            .collect();
        let losers: Vec<_> = [&first, &second]
            .into_iter()
            .filter(|r| r.status != 200)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one wins: {first:?} {second:?}"
        );
        assert_eq!(
            losers[0].code(),
            Some("HK001"),
            "round {round}: {:?}",
            losers[0]
        );
        assert!(
            losers[0]
                .message()
                .contains("live transcriptions, its limit"),
            "{:?}",
            losers[0]
        );
        let winner = if first.status == 200 { &w.carol } else { &dave };
        let ended = w
            .project
            .rpc(
                winner,
                "end_realtime_call",
                json!({"call_id": winners[0].body["session_id"], "seconds": 1}),
            )
            .await;
        assert_eq!(ended.status, 200, "{ended:?}");
    }
}
