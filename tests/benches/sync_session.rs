//! Benchmark: storing a 2-hour interview (1,500 segments) in Supabase over loopback, through the
//! gateway and postrust — one `sync_session` RPC, beside the naive way (one insert request per
//! segment) in the same run. Needs the test stack (`cargo xtask stack`).

use std::time::{Duration, Instant};

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
    Ok(())
}
