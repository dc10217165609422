//! Benchmark: full-text search over 1,000 synthetic interviews (100 segments each, 100,000
//! segments) in a real SQLite file, beside the naive way (`like '%word%'` over the same table)
//! in the same run.

use std::time::{Duration, Instant};

use hark_store::{NewSession, Segment, SegmentStatus, Store};
use uuid::Uuid;

const INTERVIEWS: usize = 1_000;
const SEGMENTS: usize = 100;

const WORDS: &[&str] = &[
    "experience",
    "team",
    "project",
    "python",
    "rust",
    "design",
    "customer",
    "deadline",
    "database",
    "migration",
    "latency",
    "budget",
    "hiring",
    "mentor",
    "conflict",
    "release",
    "incident",
    "kubernetes",
    "roadmap",
    "feedback",
    "testing",
    "architecture",
    "scale",
    "security",
    "onboarding",
    "review",
    "metrics",
    "product",
    "stakeholder",
    "prototype",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("hark-store-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir.join("hark.db"))?;
    let mut seed = 0x2545_f491u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let filled = Instant::now();
    for n in 0..INTERVIEWS {
        let interview =
            store.create_interview(&format!("Role {n}"), Some(&format!("Candidate {n}")))?;
        let session = store.start_session(&NewSession {
            interview_id: interview.id,
            ..NewSession::default()
        })?;
        for s in 0..SEGMENTS {
            let mut text: Vec<&str> = (0..14)
                .map(|_| WORDS[next() as usize % WORDS.len()])
                .collect();
            // A rare word in one segment of every tenth interview.
            if s == 50 && n % 10 == 0 {
                text.push("zeppelin");
            }
            store.save_segment(&Segment {
                id: Uuid::new_v4(),
                session_id: session.id,
                item_id: Some(format!("item_{s}")),
                source: "microphone".into(),
                speaker_label: None,
                start_ms: s as i64 * 4_000,
                end_ms: s as i64 * 4_000 + 3_500,
                text: text.join(" "),
                status: SegmentStatus::Final,
            })?;
        }
    }
    println!(
        "search: {INTERVIEWS} interviews × {SEGMENTS} segments = {} segments (filled in {:.1} s)",
        INTERVIEWS * SEGMENTS,
        filled.elapsed().as_secs_f64()
    );
    for (label, query) in [
        ("rare word", "zeppelin"),
        ("two common words", "kubernetes latency"),
    ] {
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..30 {
            let started = Instant::now();
            hits = store.search(query, 20)?.len();
            times.push(started.elapsed());
        }
        let naive = naive_search(&dir.join("hark.db"), query)?;
        report(label, query, hits, &mut times, naive);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn report(label: &str, query: &str, hits: usize, times: &mut [Duration], naive: (usize, Duration)) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {label} {query:?}: FTS5 p50 {:.2} ms, worst {:.2} ms ({hits} hits shown); \
         naive like-scan {:.1} ms ({} matching segments)",
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        ms(naive.1),
        naive.0
    );
}

/// The naive way: scan every segment with `like`, all words required.
fn naive_search(
    path: &std::path::Path,
    query: &str,
) -> Result<(usize, Duration), Box<dyn std::error::Error>> {
    let conn = rusqlite::Connection::open(path)?;
    let clauses: Vec<String> = query
        .split_whitespace()
        .map(|w| format!("text like '%{w}%'"))
        .collect();
    let sql = format!(
        "select count(*) from transcript_segments where {}",
        clauses.join(" and ")
    );
    let started = Instant::now();
    let count: i64 = conn.query_row(&sql, [], |r| r.get(0))?;
    Ok((count as usize, started.elapsed()))
}
