//! Back-fill: the audio a live transcript missed (offline, a dropped call, last words that did
//! not come in time) is kept as gaps; once the recording is over, each gap's audio is read back
//! from the recording file, cut into utterances by the same voice detector manual turn mode
//! uses, and transcribed through the proxy's batch endpoint, so a lost network costs no
//! transcript in the end.

use std::collections::HashMap;
use std::path::Path;

use hark_audio::FRAME_SAMPLES;
use hark_audio::recording::Track;
use hark_realtime::{TurnDetector, batch};
use hark_store::{Gap, Heard, Segment};

use crate::error::{RecorderError, Result};
use crate::recorder::Token;
use crate::store_thread::StoreThread;
use crate::vad::Vad;

/// The longest piece sent at once: OpenAI takes files up to 25 MB, and two minutes of 16 kHz
/// WAV are under 4 MB.
const MAX_PIECE_MS: i64 = 120_000;

/// What one back-fill pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filled {
    /// Gaps transcribed (or found silent) and replaced.
    pub gaps: usize,
    /// The segments they became, by session.
    pub segments: Vec<Segment>,
    /// Gaps still waiting (the pass stopped at an error, or their file is missing).
    pub left: usize,
}

/// Transcribes every gap of a finished recording through the proxy at `proxy_url`. Stops at
/// the first error the proxy gives (offline, refused), leaving the rest for the next pass;
/// what was filled before it stays filled. A gap whose recording file is gone is skipped and
/// counted as left, with a warning in the log.
pub async fn fill_gaps(store: &StoreThread, proxy_url: &str, token: &Token) -> Result<Filled> {
    let gaps = store.call(|store| store.gaps()).await?;
    let mut filled = Filled::default();
    if gaps.is_empty() {
        return Ok(filled);
    }
    let http = hark_realtime::client::http_client()?;
    let mut tracks: HashMap<String, Option<Vec<Track>>> = HashMap::new();
    let total = gaps.len();
    for (done, gap) in gaps.into_iter().enumerate() {
        if !tracks.contains_key(&gap.recording_path) {
            let path = gap.recording_path.clone();
            let read =
                tokio::task::spawn_blocking(move || hark_audio::recording::read(Path::new(&path)))
                    .await
                    .map_err(|err| {
                        RecorderError::Invalid(format!("reading a recording failed: {err}"))
                    })?;
            let read = match read {
                Ok(read) => Some(read),
                Err(err) => {
                    tracing::warn!(path = %gap.recording_path, "a gap cannot be back-filled: {err}");
                    None
                }
            };
            tracks.insert(gap.recording_path.clone(), read);
        }
        let Some(track) = tracks[&gap.recording_path]
            .as_ref()
            .and_then(|tracks| tracks.iter().find(|t| t.source == gap.segment.source))
            .cloned()
        else {
            filled.left += 1;
            continue;
        };
        match fill(store, &http, proxy_url, token, gap, track).await {
            Ok(segments) => {
                filled.gaps += 1;
                filled.segments.extend(segments);
            }
            Err(err) => {
                filled.left += total - done;
                tracing::info!("back-fill stopped with {} gaps left: {err}", filled.left);
                return Err(err);
            }
        }
    }
    Ok(filled)
}

/// Transcribes one gap and replaces it with what was heard.
async fn fill(
    store: &StoreThread,
    http: &reqwest::Client,
    proxy_url: &str,
    token: &Token,
    gap: Gap,
    track: Track,
) -> Result<Vec<Segment>> {
    let span = &gap.segment;
    let (start_ms, end_ms) = (span.start_ms, span.end_ms);
    let (pcm, pieces) = tokio::task::spawn_blocking(move || {
        let pcm = track.decode(Some((
            start_ms as f64 / 1000.0,
            (end_ms - start_ms) as f64 / 1000.0,
        )))?;
        let pieces = pieces(&utterances(&pcm));
        Ok::<_, RecorderError>((pcm, pieces))
    })
    .await
    .map_err(|err| RecorderError::Invalid(format!("decoding a gap failed: {err}")))??;
    let mut heard = Vec::new();
    for (from, to) in pieces {
        let samples = |ms: i64| ((ms.max(0) as usize) * 48).min(pcm.len());
        let wav = wav_16k(&pcm[samples(from)..samples(to)]);
        let access = token.get().await?;
        let text = batch::transcribe(
            http,
            batch::Transcribe {
                proxy_url,
                token: access.as_deref(),
                interview_id: gap.interview_id,
                source: &span.source,
                language: gap.language.as_deref(),
                prompt: gap.prompt.as_deref(),
                wav,
            },
        )
        .await?;
        if !text.is_empty() {
            heard.push(Heard {
                start_ms: start_ms + from,
                end_ms: start_ms + to,
                text,
            });
        }
    }
    let gap_id = span.id;
    store
        .call(move |store| store.fill_gap(gap_id, &heard))
        .await
}

/// The utterances in 48 kHz `pcm` (ms from its start), as manual turn mode finds them live.
fn utterances(pcm: &[f32]) -> Vec<(i64, i64)> {
    let mut vad = Vad::default();
    let mut turns = TurnDetector::default();
    let mut found = Vec::new();
    for (i, frame) in pcm.chunks_exact(FRAME_SAMPLES).enumerate() {
        let frame: &[f32; FRAME_SAMPLES] = frame.try_into().expect("a whole frame");
        found.extend(turns.push(i as i64 * 20, vad.voiced(frame)));
    }
    found.extend(turns.flush());
    found
}

/// Utterances cut to at most [`MAX_PIECE_MS`] each.
fn pieces(utterances: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut pieces = Vec::new();
    for &(start, end) in utterances {
        let mut from = start;
        while from < end {
            let to = (from + MAX_PIECE_MS).min(end);
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
            pieces(&[(0, 1_000), (5_000, 5_000 + 2 * MAX_PIECE_MS + 10)]),
            vec![
                (0, 1_000),
                (5_000, 5_000 + MAX_PIECE_MS),
                (5_000 + MAX_PIECE_MS, 5_000 + 2 * MAX_PIECE_MS),
                (5_000 + 2 * MAX_PIECE_MS, 5_000 + 2 * MAX_PIECE_MS + 10),
            ]
        );
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
