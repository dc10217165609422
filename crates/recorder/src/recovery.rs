//! After a crash: sessions left recording become interrupted, their recording files are
//! finalised, and what was kept is reported so the app and the CLI can say so at start. A
//! session another process is still recording (the app, while `hark` runs beside it) is told
//! apart by the lock its recorder holds ([`LiveLock`]) and left alone.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use hark_store::{Session, Store};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{RecorderError, Result};

/// A session a crash (or power loss, or a killed process) cut short, as found at start.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Interrupted {
    /// The session.
    pub session_id: Uuid,
    /// Its interview's title.
    pub job_title: String,
    /// Seconds of audio kept.
    pub seconds: f64,
    /// Why the recording file could not be finalised, if it could not (the transcript is kept
    /// either way).
    pub audio_problem: Option<String>,
}

impl Interrupted {
    /// One line for the user: what was cut short and what was kept.
    pub fn describe(&self) -> String {
        let kept = format!(
            "the recording of \"{}\" was cut short when Hark stopped unexpectedly; {} of audio and the transcript up to then were kept",
            self.job_title,
            minutes_and_seconds(self.seconds)
        );
        match &self.audio_problem {
            None => kept,
            Some(problem) => format!("{kept}, but its audio file could not be repaired: {problem}"),
        }
    }
}

/// A lock on `<recording>.lock` that a recorder holds for as long as it records that file; the
/// system lets go of it when the process ends, however it ends.
#[derive(Debug)]
pub struct LiveLock {
    /// Closed before the file is removed (Windows cannot remove an open file).
    file: Option<File>,
    path: PathBuf,
}

impl LiveLock {
    /// Takes the lock for this recording; `None` if another recorder holds it.
    pub fn try_take(recording: &Path) -> Result<Option<LiveLock>> {
        let mut name = recording.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|err| lock_error(&path, &err))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(LiveLock {
                file: Some(file),
                path,
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(err)) => Err(lock_error(&path, &err)),
        }
    }
}

impl Drop for LiveLock {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let _ = file.unlock();
        }
        // Whoever takes the lock next still checks the session's state before touching it.
        let _ = std::fs::remove_file(&self.path);
    }
}

fn lock_error(path: &Path, err: &std::io::Error) -> RecorderError {
    RecorderError::Config(format!(
        "cannot lock {} ({err}); check that the recordings folder's drive is connected and writable, or choose another data folder (in the app's Settings, or with HARK_DATA_DIR)",
        path.display()
    ))
}

/// Finalises the recording files of sessions a crash left recording, so any player reads them
/// whole, and marks the sessions interrupted (queued for sync) with the seconds the file really
/// holds when that is more than the last count saved. Sessions a live recorder holds are left alone.
/// For a session recorded with a live transcript, each source's audio after its last transcript
/// segment is kept as a gap: the words the crash cut off before their transcript came, which
/// back-fill transcribes once a proxy is configured. `keep_gaps` (a proxy is configured now)
/// decides for sessions from before that was recorded.
pub fn finish_interrupted(store: &mut Store, keep_gaps: bool) -> Result<Vec<Interrupted>> {
    let mut found = Vec::new();
    for session in store.sessions_left_recording()? {
        // Held until this session is repaired, so no recorder can be writing its file.
        let _held = match session.recording_path.as_deref() {
            Some(path) => match LiveLock::try_take(Path::new(path)) {
                Ok(Some(lock)) => Some(lock),
                Ok(None) => continue,
                // A file that cannot be locked is not being recorded either (its folder is
                // gone or read-only): finish the session, and the file says what is wrong.
                Err(_) => None,
            },
            None => None,
        };
        // Repaired first: with the lock held no recorder writes it, and a session its recorder
        // finished meanwhile has a finished file, which the repair leaves alone.
        let (seconds, audio_problem) = finalise_file(&session);
        let seconds = seconds.max(session.seconds_recorded);
        if !store.interrupt(session.id, seconds)? {
            continue;
        }
        if session.live_transcript.unwrap_or(keep_gaps) && audio_problem.is_none() {
            keep_the_tail(store, &session, seconds)?;
        }
        let job_title = store
            .interview(session.interview_id)
            .map(|interview| interview.job_title)
            .unwrap_or_default();
        let interrupted = Interrupted {
            session_id: session.id,
            job_title,
            seconds,
            audio_problem,
        };
        tracing::warn!(session = %session.id, "{}", interrupted.describe());
        found.push(interrupted);
    }
    Ok(found)
}

/// Keeps each source's audio after its last segment, up to `seconds`, as a gap.
fn keep_the_tail(store: &mut Store, session: &Session, seconds: f64) -> Result<()> {
    let detail = store.session(&session.id.to_string())?;
    let end_ms = (seconds * 1000.0) as i64;
    for source in &session.sources {
        let from = detail
            .segments
            .iter()
            .filter(|s| &s.source == source)
            .map(|s| s.end_ms)
            .max()
            .unwrap_or(0);
        if end_ms > from {
            store.save_segment(&hark_store::Segment::gap(session.id, source, from, end_ms))?;
        }
    }
    Ok(())
}

/// The seconds of audio in the session's file once finalised (the longest source), or why it
/// could not be.
fn finalise_file(session: &Session) -> (f64, Option<String>) {
    let Some(path) = session.recording_path.as_deref() else {
        return (0.0, None);
    };
    if !Path::new(path).exists() {
        return (0.0, Some(format!("{path} is missing")));
    }
    match hark_audio::recording::recover(Path::new(path)) {
        Ok(recovery) => {
            let seconds = recovery.tracks.iter().map(|(_, s)| *s).fold(0.0, f64::max);
            (seconds, None)
        }
        Err(err) => (0.0, Some(err.to_string())),
    }
}

fn minutes_and_seconds(seconds: f64) -> String {
    let whole = seconds.max(0.0).round() as u64;
    match (whole / 60, whole % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_audio::FRAME_SAMPLES;
    use hark_audio::encoder::Encoder;
    use hark_audio::recording::{RecordingWriter, read};
    use hark_store::{NewSession, SessionState};

    /// A store with one session a crash left recording: its file holds `seconds` of tone, cut
    /// mid-page as a power loss leaves it, while the store last counted `counted` seconds.
    fn crashed(name: &str, seconds: f32, counted: f64) -> (PathBuf, Session) {
        crashed_with(name, seconds, counted, None)
    }

    /// [`crashed`], recorded with a live transcript or not (`None`: not known).
    fn crashed_with(
        name: &str,
        seconds: f32,
        counted: f64,
        live_transcript: Option<bool>,
    ) -> (PathBuf, Session) {
        let dir = std::env::temp_dir().join(format!("hark-recovery-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("recording.ogg");
        let mut writer = RecordingWriter::create(&file, &["microphone"]).unwrap();
        let mut encoder = Encoder::new(24_000, 0).unwrap();
        let tone: Vec<f32> = (0..(48_000.0 * seconds) as usize)
            .map(|i| 0.3 * (i as f32 * 0.05).sin())
            .collect();
        for frame in tone.chunks_exact(FRAME_SAMPLES) {
            let packet = encoder.encode(frame.try_into().unwrap()).unwrap();
            writer.write(0, &packet).unwrap();
        }
        // The process dies: nothing more is written or finished.
        std::mem::forget(writer);
        let len = std::fs::metadata(&file).unwrap().len();
        let cut = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        cut.set_len(len - 29).unwrap();
        let db = dir.join("hark.db");
        let store = Store::open(&db).unwrap();
        let interview = store.create_interview("Backend engineer", None).unwrap();
        let session = store
            .start_session(&NewSession {
                interview_id: interview.id,
                sources: vec!["microphone".into()],
                recording_path: Some(file.display().to_string()),
                live_transcript,
                ..NewSession::default()
            })
            .unwrap();
        store.set_seconds_recorded(session.id, counted).unwrap();
        (db, session)
    }

    #[test]
    fn a_crashed_session_is_finished_its_file_repaired_and_reported_once() {
        let (db, session) = crashed("repair", 6.2, 4.5);
        let file = session.recording_path.clone().unwrap();
        assert!(!read(Path::new(&file)).unwrap()[0].finished);

        let mut store = Store::open(&db).unwrap();
        let found = finish_interrupted(&mut store, false).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        let cut = &found[0];
        assert_eq!(cut.session_id, session.id);
        assert_eq!(cut.job_title, "Backend engineer");
        assert_eq!(cut.audio_problem, None);
        // The file holds more than the store had counted (it counts every few seconds); what
        // was kept is what the file holds, at most the last second short of what was recorded.
        assert!(cut.seconds > 4.5 && cut.seconds <= 6.2, "{}", cut.seconds);
        assert!(cut.seconds >= 6.2 - 1.0 - 0.02, "{}", cut.seconds);
        let tracks = read(Path::new(&file)).unwrap();
        assert!(tracks[0].finished, "the file was finalised");
        assert!((tracks[0].seconds() - cut.seconds).abs() < 0.001);
        let detail = store.session(&session.id.to_string()).unwrap();
        assert_eq!(detail.session.state, SessionState::Interrupted);
        assert!((detail.session.seconds_recorded - cut.seconds).abs() < 0.001);
        // Reported at the start after the crash only.
        assert!(finish_interrupted(&mut store, false).unwrap().is_empty());
    }

    #[test]
    fn a_session_another_process_is_recording_is_left_alone_until_it_lets_go() {
        let (db, session) = crashed("live", 3.0, 2.0);
        let file = session.recording_path.clone().unwrap();
        // The app records it: its recorder holds the lock (its own open file, as another
        // process's would be).
        let live = LiveLock::try_take(Path::new(&file)).unwrap().expect("free");
        assert!(LiveLock::try_take(Path::new(&file)).unwrap().is_none());
        // `hark sessions` opens the same folder meanwhile: nothing is touched.
        let mut store = Store::open(&db).unwrap();
        assert!(finish_interrupted(&mut store, false).unwrap().is_empty());
        let detail = store.session(&session.id.to_string()).unwrap();
        assert_eq!(detail.session.state, SessionState::Recording);
        assert!(
            !read(Path::new(&file)).unwrap()[0].finished,
            "the file was left alone"
        );
        // The recorder dies without finishing: the next start repairs it.
        drop(live);
        assert!(!Path::new(&format!("{file}.lock")).exists());
        let found = finish_interrupted(&mut store, false).unwrap();
        assert_eq!(found.len(), 1);
        assert!(read(Path::new(&file)).unwrap()[0].finished);
        assert!(
            !Path::new(&format!("{file}.lock")).exists(),
            "the lock file is cleaned up"
        );
    }

    /// The gaps left after recovering a session recorded with `live_transcript` (one line heard
    /// live, 200..1500 ms) when a proxy is configured at the next start or not, and the seconds
    /// kept.
    fn tail_kept(
        name: &str,
        live_transcript: Option<bool>,
        proxy_now: bool,
    ) -> (Vec<(i64, i64)>, f64) {
        let (db, session) = crashed_with(name, 4.0, 3.0, live_transcript);
        let mut store = Store::open(&db).unwrap();
        let said = hark_store::Segment {
            id: Uuid::new_v4(),
            session_id: session.id,
            item_id: Some("item_0".into()),
            source: "microphone".into(),
            speaker_label: None,
            start_ms: 200,
            end_ms: 1_500,
            text: "heard live".into(),
            status: hark_store::SegmentStatus::Final,
        };
        store.save_segment(&said).unwrap();
        let found = finish_interrupted(&mut store, proxy_now).unwrap();
        let gaps = store.gaps().unwrap();
        let spans = gaps
            .iter()
            .map(|g| (g.segment.start_ms, g.segment.end_ms))
            .collect();
        (spans, found[0].seconds)
    }

    #[test]
    fn the_audio_after_the_last_transcript_is_kept_for_back_fill_if_it_was_transcribed_live() {
        // Recorded live: owed its transcript whatever the settings at the next start.
        for proxy_now in [true, false] {
            let (gaps, seconds) = tail_kept(&format!("live-{proxy_now}"), Some(true), proxy_now);
            assert_eq!(
                gaps,
                [(1_500, (seconds * 1000.0) as i64)],
                "proxy now: {proxy_now}"
            );
        }
        // Recorded local-only: never owed one, even with a proxy configured since.
        for proxy_now in [true, false] {
            let (gaps, _) = tail_kept(&format!("local-{proxy_now}"), Some(false), proxy_now);
            assert_eq!(gaps, [], "proxy now: {proxy_now}");
        }
        // Recorded before this was kept: today's proxy setting decides.
        let (gaps, seconds) = tail_kept("older-proxy", None, true);
        assert_eq!(gaps, [(1_500, (seconds * 1000.0) as i64)]);
        assert_eq!(tail_kept("older-local", None, false).0, []);
    }

    #[test]
    fn a_missing_file_is_reported_and_the_session_still_finished() {
        let (db, session) = crashed("missing", 2.0, 1.5);
        let file = session.recording_path.clone().unwrap();
        std::fs::remove_file(&file).unwrap();
        let mut store = Store::open(&db).unwrap();
        let found = finish_interrupted(&mut store, false).unwrap();
        assert_eq!(found[0].seconds, 1.5);
        assert_eq!(found[0].audio_problem, Some(format!("{file} is missing")));
        let detail = store.session(&session.id.to_string()).unwrap();
        assert_eq!(detail.session.state, SessionState::Interrupted);
    }

    #[test]
    fn says_what_was_kept_and_what_could_not_be_repaired() {
        let mut cut = Interrupted {
            session_id: Uuid::nil(),
            job_title: "Backend engineer".into(),
            seconds: 754.4,
            audio_problem: None,
        };
        assert_eq!(
            cut.describe(),
            "the recording of \"Backend engineer\" was cut short when Hark stopped unexpectedly; 12 min 34 s of audio and the transcript up to then were kept"
        );
        cut.seconds = 59.6;
        cut.audio_problem = Some("/x.ogg is missing".into());
        assert!(
            cut.describe().contains("; 1 min of audio"),
            "{}",
            cut.describe()
        );
        assert!(
            cut.describe()
                .ends_with("but its audio file could not be repaired: /x.ogg is missing")
        );
    }
}
