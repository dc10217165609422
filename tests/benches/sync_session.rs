//! Benchmark: storing a 2-hour interview (1,500 segments) in Supabase over loopback, through the
//! gateway and postrust — one `sync_session` RPC, beside the naive way (one insert request per
//! segment) in the same run; the app's sync engine sending such a session from its SQLite store;
//! and sign-in to ready (password sign-in, keyring save, interviews pulled). Needs the test
//! stack (`cargo xtask stack`, which also runs the keyring).

use std::time::{Duration, Instant};

use std::sync::Arc;

use hark_cloud::{Account, Rest, SyncEngine};
use hark_store::{NewSession, Segment, SegmentStatus, SessionState, Store};
use hark_tests::supabase::{Project, send, session_payload};
use serde_json::json;
use uuid::Uuid;

const SEGMENTS: usize = 1500;
const ROUNDS: usize = 5;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let project = Project::from_env();
    let recruiter = project.new_user("bench").await;
    let org = project.organization(&recruiter, &[]).await;
    let interview = project.interview(&recruiter, org).await;

    // The app's side: a store with one long session per round, and a signed-in engine.
    let email = format!("bench-engine-{}@example.test", Uuid::new_v4().simple());
    project.create_user(&email, "correct horse battery").await;
    let engine_user = project.sign_in(&email, "correct horse battery").await;
    let engine_org = project.organization(&engine_user, &[]).await;
    let engine_interview = project.interview(&engine_user, engine_org).await;
    let dir = std::env::temp_dir().join(format!("hark-bench-sync-{}", std::process::id()));
    // An earlier run whose process had the same id left its database here.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let database = dir.join("hark.db");
    let mut store = Store::open(&database)?;
    let project_url = hark_cloud::Project::new(&project.url, &project.anon_key)?.url;
    store.upsert_cloud_interview(
        &hark_store::Interview {
            id: engine_interview,
            org_id: Some(engine_org),
            candidate_id: None,
            candidate_name: None,
            job_title: "Platform Engineer".into(),
            created_at_ms: 0,
            in_cloud: true,
        },
        &project_url,
    )?;
    let cloud = hark_cloud::Project::new(&project.url, &project.anon_key)?;
    let (mut sign_in, mut engine) = (Vec::new(), Vec::new());
    let mut last_account = None;
    for round in 0..ROUNDS {
        let started = Instant::now();
        let account = Arc::new(Account::new(cloud.clone(), &format!("bench-{round}"))?);
        account
            .sign_in_password(&email, "correct horse battery")
            .await?;
        let sync = SyncEngine::new(Rest::new(account.clone()), &database)?;
        let pulled = sync.pull().await?;
        sign_in.push(started.elapsed());
        anyhow::ensure!(pulled == 1, "pulled {pulled} interviews");
        account.sign_out().await?;
        last_account = Some(account);
    }
    let account = last_account.expect("rounds ran");
    account
        .sign_in_password(&email, "correct horse battery")
        .await?;
    let sync = SyncEngine::new(Rest::new(account.clone()), &database)?;
    for _ in 0..ROUNDS {
        let session = store.start_session(&NewSession {
            interview_id: engine_interview,
            sources: vec!["microphone".into(), "system".into()],
            ..NewSession::default()
        })?;
        for i in 0..SEGMENTS {
            store.save_segment(&Segment {
                id: Uuid::new_v4(),
                session_id: session.id,
                item_id: Some(format!("item_{i}")),
                source: if i % 2 == 0 { "microphone" } else { "system" }.into(),
                speaker_label: None,
                start_ms: i as i64 * 4800,
                end_ms: i as i64 * 4800 + 4500,
                text: format!(
                    "Segment {i}: tell me about a system you designed and what you would change."
                ),
                status: SegmentStatus::Final,
            })?;
        }
        store.finish_session(session.id, 7200.0, SessionState::Completed)?;
        let started = Instant::now();
        sync.sync_one(session.id).await?;
        engine.push(started.elapsed());
    }
    account.sign_out().await?;

    let (mut rpc, mut replay, mut naive) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let payload = json!({"payload": session_payload(Uuid::new_v4(), interview, SEGMENTS)});
        let started = Instant::now();
        let reply = project
            .rpc(&recruiter, "sync_session", payload.clone())
            .await;
        rpc.push(started.elapsed());
        anyhow::ensure!(
            reply.body["segments_written"] == json!(SEGMENTS),
            "sync failed: {:?}",
            reply.body
        );
        let started = Instant::now();
        let reply = project
            .rpc(&recruiter, "sync_session", payload.clone())
            .await;
        replay.push(started.elapsed());
        anyhow::ensure!(
            reply.body["segments_written"] == json!(0),
            "replay wrote: {:?}",
            reply.body
        );

        // The naive way: the session row, then one POST per segment.
        let session = &payload["payload"]["session"];
        let naive_session_id = Uuid::new_v4();
        let started = Instant::now();
        let row = json!({"id": naive_session_id, "org_id": org, "interview_id": interview,
            "started_at": session["started_at"], "ended_at": session["ended_at"]});
        let reply = send(
            project
                .rest(Some(&recruiter))
                .from("recording_sessions")
                .insert(row.to_string()),
        )
        .await;
        anyhow::ensure!(reply.status == 201, "naive session: {reply:?}");
        for segment in payload["payload"]["segments"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let mut row = segment.clone();
            row["id"] = json!(Uuid::new_v4());
            row["session_id"] = json!(naive_session_id);
            row["org_id"] = json!(org);
            let reply = send(
                project
                    .rest(Some(&recruiter))
                    .from("transcript_segments")
                    .insert(row.to_string()),
            )
            .await;
            anyhow::ensure!(reply.status == 201, "naive segment: {reply:?}");
        }
        naive.push(started.elapsed());
    }
    let (rpc, replay, naive) = (median(rpc), median(replay), median(naive));
    let (engine, sign_in) = (median(engine), median(sign_in));
    println!(
        "sync_session: a 2-hour interview ({SEGMENTS} segments), median of {ROUNDS} rounds over loopback"
    );
    println!(
        "  one sync_session RPC:               {:>8.1} ms",
        rpc.as_secs_f64() * 1e3
    );
    println!(
        "  the same payload again (no writes): {:>8.1} ms",
        replay.as_secs_f64() * 1e3
    );
    println!(
        "  naive, one insert per segment:      {:>8.1} ms ({:.0}x slower)",
        naive.as_secs_f64() * 1e3,
        naive.as_secs_f64() / rpc.as_secs_f64()
    );
    println!(
        "  the app's sync engine (SQLite → RPC):{:>7.1} ms",
        engine.as_secs_f64() * 1e3
    );
    println!(
        "sign-in to ready (password, keyring, interviews pulled): {:.1} ms",
        sign_in.as_secs_f64() * 1e3
    );
    Ok(())
}
