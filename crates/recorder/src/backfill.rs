//! Back-fill: the audio a live transcript missed (offline, a dropped call, last words that did
//! not come in time) is kept as gaps; once the recording is over, each gap's audio is read back
//! from the recording file, cut into utterances by the same voice detector manual turn mode
//! uses, and transcribed through the proxy's batch endpoint, so a lost network costs no
//! transcript in the end.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hark_audio::FRAME_SAMPLES;
use hark_audio::recording::Track;
use hark_realtime::{RealtimeError, TurnDetector, batch};
use hark_store::{Gap, Heard, Segment};
use uuid::Uuid;

use crate::error::{RecorderError, Result};
use crate::recorder::Token;
use crate::store_thread::StoreThread;
use crate::vad::Vad;

/// The longest piece sent at once: OpenAI takes files up to 25 MB, and two minutes of 16 kHz
/// WAV are under 4 MB.
const MAX_PIECE_MS: i64 = 120_000;
/// How much of a gap is decoded at a time to find its utterances (11.5 MB of samples).
const SCAN_MS: i64 = 60_000;
/// The longest `Retry-After` waited for within a pass; a longer one ends the pass.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// What one back-fill pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filled {
    /// Gaps transcribed (or found silent) and replaced.
    pub gaps: usize,
    /// The segments they became.
    pub segments: Vec<Segment>,
    /// Sessions whose transcript changed (lines added, or a silent gap removed).
    pub sessions: Vec<Uuid>,
    /// Gaps still waiting: the pass ended early, or the proxy refused them, or their file
    /// cannot be read.
    pub left: usize,
    /// Why the pass ended before the last gap (offline, signed out, rate limits, a recording
    /// starting), if it did; the rest waits for the next pass.
    pub stopped: Option<String>,
}

impl Filled {
    fn changed(&mut self, session: Uuid) {
        if !self.sessions.contains(&session) {
            self.sessions.push(session);
        }
    }
}

/// How transcribing one gap ended.
enum Outcome {
    /// Replaced by these segments.
    Filled(Vec<Segment>),
    /// Part of it was transcribed and saved (these segments), the rest waits: the pass ends,
    /// saying why.
    Stopped(Vec<Segment>, String),
    /// This gap cannot be transcribed now (refused for it alone); the pass goes on.
    Refused(String),
}

/// Transcribes every gap of a finished recording through the proxy at `proxy_url`, while
/// `keep_going` says so (checked between pieces). What was transcribed is saved as it comes, so
/// an early end loses nothing. The pass ends at a problem every gap would meet (offline, signed
/// out, rate limits beyond a minute, the organisation's quota); a gap the proxy refuses on its
/// own, or whose file cannot be read, is left for later and the pass goes on.
pub async fn fill_gaps(
    store: &StoreThread,
    proxy_url: &str,
    token: &Token,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<Filled> {
    let sender = match token {
        Token::Account(account) => account.sender().await,
        _ => None,
    };
    // Only sessions the account in use sends: the proxy transcribes for its organisation's
    // interviews, and another recruiter's (or a local-only) session waits for its own.
    let gaps: Vec<_> = store
        .call(|store| store.gaps())
        .await?
        .into_iter()
        .filter(|gap| {
            sender
                .as_ref()
                .is_none_or(|sender| gap.destination.sent_by(sender))
        })
        .collect();
    let mut filled = Filled::default();
    if gaps.is_empty() {
        return Ok(filled);
    }
    let http = hark_realtime::client::http_client()?;
    // One file at a time: gaps come ordered by session.
    let mut file: Option<(String, Option<Arc<Vec<Track>>>)> = None;
    let total = gaps.len();
    for (done, gap) in gaps.into_iter().enumerate() {
        if file
            .as_ref()
            .is_none_or(|(path, _)| *path != gap.recording_path)
        {
            let path = gap.recording_path.clone();
            let read =
                tokio::task::spawn_blocking(move || hark_audio::recording::read(Path::new(&path)))
                    .await
                    .map_err(|err| {
                        RecorderError::Invalid(format!("reading a recording failed: {err}"))
                    })?;
            let tracks = match read {
                Ok(tracks) => Some(Arc::new(tracks)),
                Err(err) => {
                    tracing::warn!(path = %gap.recording_path, "gaps cannot be back-filled: {err}");
                    None
                }
            };
            file = Some((gap.recording_path.clone(), tracks));
        }
        let Some(tracks) = file.as_ref().and_then(|(_, tracks)| tracks.clone()) else {
            filled.left += 1;
            continue;
        };
        let Some(track) = tracks.iter().position(|t| t.source == gap.segment.source) else {
            tracing::warn!(source = %gap.segment.source, "a gap's source is not in its recording");
            filled.left += 1;
            continue;
        };
        let session = gap.segment.session_id;
        let outcome = fill(
            store, &http, proxy_url, token, keep_going, gap, tracks, track,
        )
        .await?;
        match outcome {
            Outcome::Filled(segments) => {
                filled.gaps += 1;
                filled.segments.extend(segments);
                filled.changed(session);
            }
            Outcome::Refused(why) => {
                tracing::warn!("a gap is left for later: {why}");
                filled.left += 1;
            }
            Outcome::Stopped(segments, why) => {
                if !segments.is_empty() {
                    filled.changed(session);
                }
                filled.segments.extend(segments);
                filled.left += total - done;
                tracing::info!("back-fill stopped with {} gaps left: {why}", filled.left);
                filled.stopped = Some(why);
                return Ok(filled);
            }
        }
    }
    Ok(filled)
}

/// Whether `err` would meet every gap (so the pass ends) rather than this one alone.
fn ends_the_pass(err: &RecorderError) -> bool {
    match err {
        RecorderError::Transcription(RealtimeError::Refused { status, code, .. }) => {
            *status == 401
                || *status == 429
                || *status >= 500
                || matches!(
                    code.as_deref(),
                    Some("quota_exceeded" | "concurrency_limit")
                )
        }
        _ => true,
    }
}

/// Transcribes one gap: finds its utterances a minute of audio at a time, sends each, and
/// replaces the gap with what came back (or, stopped early, with what came back so far).
#[allow(clippy::too_many_arguments)]
async fn fill(
    store: &StoreThread,
    http: &reqwest::Client,
    proxy_url: &str,
    token: &Token,
    keep_going: &(dyn Fn() -> bool + Sync),
    gap: Gap,
    tracks: Arc<Vec<Track>>,
    track: usize,
) -> Result<Outcome> {
    let (gap_id, start_ms, end_ms) = (gap.segment.id, gap.segment.start_ms, gap.segment.end_ms);
    let scan = Arc::clone(&tracks);
    let pieces = tokio::task::spawn_blocking(move || {
        let mut found = Utterances::default();
        let mut from = start_ms;
        while from < end_ms {
            let to = (from + SCAN_MS).min(end_ms);
            let pcm =
                scan[track].decode(Some((from as f64 / 1000.0, (to - from) as f64 / 1000.0)))?;
            found.scan(&pcm, from);
            from = to;
        }
        // The detector's lead-in never reaches before the gap: that audio was transcribed.
        let found: Vec<(i64, i64)> = found
            .finish()
            .into_iter()
            .map(|(from, to)| (from.max(start_ms), to))
            .filter(|(from, to)| to > from)
            .collect();
        Ok::<_, RecorderError>(pieces(&found))
    })
    .await
    .map_err(|err| RecorderError::Invalid(format!("decoding a gap failed: {err}")))?;
    // A file that cannot be decoded there stays as it is; the other gaps go on.
    let pieces = match pieces {
        Ok(pieces) => pieces,
        Err(err) => return Ok(Outcome::Refused(format!("its audio cannot be read: {err}"))),
    };
    let mut heard = Vec::new();
    let mut stopped = None;
    for (from, to) in pieces {
        if !keep_going() {
            stopped = Some((from, "a recording started".to_owned()));
            break;
        }
        match transcribe(http, proxy_url, token, &gap, (&tracks, track), from, to).await {
            Ok(text) if text.is_empty() => {}
            Ok(text) => heard.push(Heard {
                start_ms: from,
                end_ms: to,
                text,
            }),
            Err(err) if !ends_the_pass(&err) && heard.is_empty() => {
                return Ok(Outcome::Refused(err.to_string()));
            }
            Err(err) => {
                stopped = Some((from, err.to_string()));
                break;
            }
        }
    }
    let rest_from = stopped.as_ref().map(|(from, _)| *from);
    let segments = if rest_from.is_some() && heard.is_empty() {
        Vec::new()
    } else {
        store
            .call(move |store| store.fill_gap(gap_id, &heard, rest_from))
            .await?
    };
    Ok(match stopped {
        Some((_, why)) => Outcome::Stopped(segments, why),
        None => Outcome::Filled(segments),
    })
}

/// Transcribes `from_ms..to_ms` of `track`, waiting out a short `Retry-After`.
async fn transcribe(
    http: &reqwest::Client,
    proxy_url: &str,
    token: &Token,
    gap: &Gap,
    (tracks, track): (&Arc<Vec<Track>>, usize),
    from_ms: i64,
    to_ms: i64,
) -> Result<String> {
    let access = token.get().await?;
    // Decoding up to two minutes is CPU work: off the async runtime (the app has one worker).
    let tracks = Arc::clone(tracks);
    let wav = tokio::task::spawn_blocking(move || {
        let pcm = tracks[track].decode(Some((
            from_ms as f64 / 1000.0,
            (to_ms - from_ms) as f64 / 1000.0,
        )))?;
        Ok::<_, RecorderError>(wav_16k(&pcm))
    })
    .await
    .map_err(|err| RecorderError::Invalid(format!("decoding a gap failed: {err}")))??;
    let mut tries = 0;
    loop {
        let result = batch::transcribe(
            http,
            batch::Transcribe {
                proxy_url,
                token: access.as_deref(),
                interview_id: gap.interview_id,
                source: &gap.segment.source,
                language: gap.language.as_deref(),
                prompt: gap.prompt.as_deref(),
                wav: wav.clone(),
            },
        )
        .await;
        match result {
            Err(RealtimeError::Refused {
                status: 429,
                retry_after: Some(seconds),
                ..
            }) if tries < 5 && Duration::from_secs(seconds) <= MAX_RETRY_WAIT => {
                tries += 1;
                tokio::time::sleep(Duration::from_secs(seconds.max(1))).await;
            }
            other => return Ok(other?),
        }
    }
}

/// Finds utterances in a gap's audio, scanned in consecutive stretches, as manual turn mode
/// finds them live.
#[derive(Default)]
struct Utterances {
    vad: Vad,
    turns: TurnDetector,
    found: Vec<(i64, i64)>,
}

impl Utterances {
    /// The next stretch of 48 kHz audio, starting at `start_ms` on the recording's timeline.
    fn scan(&mut self, pcm: &[f32], start_ms: i64) {
        for (i, frame) in pcm.chunks_exact(FRAME_SAMPLES).enumerate() {
            let frame: &[f32; FRAME_SAMPLES] = frame.try_into().expect("a whole frame");
            let voiced = self.vad.voiced(frame);
            self.found
                .extend(self.turns.push(start_ms + i as i64 * 20, voiced));
        }
    }

    fn finish(mut self) -> Vec<(i64, i64)> {
        self.found.extend(self.turns.flush());
        self.found
    }
}

/// Utterances cut to at most [`MAX_PIECE_MS`] each (a last second or less stays with the piece
/// before it: the service refuses audio under a tenth of a second).
fn pieces(utterances: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut pieces = Vec::new();
    for &(start, end) in utterances {
        let mut from = start;
        while from < end {
            let to = if end - from <= MAX_PIECE_MS + 1_000 {
                end
            } else {
                from + MAX_PIECE_MS
            };
            pieces.push((from, to));
            from = to;
        }
    }
    pieces
}

/// 48 kHz samples as a 16 kHz, 16-bit mono WAV file (a three-tap average before keeping every
/// third sample, as the voice detector does).
fn wav_16k(pcm: &[f32]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::with_capacity(pcm.len() / 3 * 2 + 44));
    {
        let mut writer = hound::WavWriter::new(&mut out, spec).expect("WAV to memory");
        for three in pcm.chunks_exact(3) {
            let sample = ((three[0] + three[1] + three[2]) / 3.0).clamp(-1.0, 1.0);
            writer
                .write_sample((sample * f32::from(i16::MAX)) as i16)
                .expect("WAV to memory");
        }
        writer.finalize().expect("WAV to memory");
    }
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_utterances_are_cut_into_pieces_the_service_takes() {
        assert_eq!(
            pieces(&[
                (0, 1_000),
                (5_000, 5_000 + 2 * MAX_PIECE_MS + 10),
                (400_000, 400_000 + MAX_PIECE_MS + 5_000)
            ]),
            vec![
                (0, 1_000),
                (5_000, 5_000 + MAX_PIECE_MS),
                // The last 10 ms ride with the piece before.
                (5_000 + MAX_PIECE_MS, 5_000 + 2 * MAX_PIECE_MS + 10),
                (400_000, 400_000 + MAX_PIECE_MS),
                (400_000 + MAX_PIECE_MS, 400_000 + MAX_PIECE_MS + 5_000),
            ]
        );
    }

    fn utterances(pcm: &[f32]) -> Vec<(i64, i64)> {
        let mut found = Utterances::default();
        found.scan(pcm, 0);
        found.finish()
    }

    #[test]
    fn a_tone_between_silences_is_one_utterance_and_silence_none() {
        let rate = 48_000.0;
        let mut pcm = vec![0.0f32; 48_000];
        pcm.extend((0..48_000).map(|i| {
            let t = i as f32 / rate;
            0.16 * ((2.0 * std::f32::consts::PI * 697.0 * t).sin()
                + (2.0 * std::f32::consts::PI * 1209.0 * t).sin())
        }));
        pcm.extend(vec![0.0f32; 48_000]);
        let found = utterances(&pcm);
        assert_eq!(found.len(), 1, "{found:?}");
        let (start, end) = found[0];
        assert!((600..=1_000).contains(&start), "{found:?}");
        assert!((1_900..=2_600).contains(&end), "{found:?}");
        assert!(utterances(&vec![0.0f32; 96_000]).is_empty());
    }

    #[test]
    fn the_wav_is_16_khz_mono_with_a_third_of_the_samples() {
        let wav = wav_16k(&vec![0.5f32; 4_800]);
        let reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
        assert_eq!(reader.spec().sample_rate, 16_000);
        assert_eq!(reader.spec().channels, 1);
        assert_eq!(reader.len(), 1_600);
    }
}
