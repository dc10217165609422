//! The emulator's ears: cuts decoded PCM into 20 ms analysis frames and keeps the input audio
//! buffer with OpenAI's server-VAD semantics (or the client's commits in manual mode).

use hark_wire::realtime::ServerVad;

use crate::dtmf;

/// Length of one analysis frame.
pub const FRAME_MS: u64 = 20;

/// What the emulator keeps of 20 ms of audio: its loudness and the DTMF key in it, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameInfo {
    /// RMS amplitude, full scale 1.0.
    pub rms: f32,
    /// The key heard in this frame.
    pub key: Option<char>,
}

/// Cuts PCM of any block size into exact 20 ms frames and analyses each one.
#[derive(Debug)]
pub struct FrameCutter {
    sample_rate: u32,
    pending: Vec<f32>,
}

impl FrameCutter {
    /// A cutter for mono PCM at `sample_rate`.
    pub fn new(sample_rate: u32) -> FrameCutter {
        FrameCutter {
            sample_rate,
            pending: Vec::with_capacity(sample_rate as usize / 25),
        }
    }

    fn frame_len(&self) -> usize {
        (self.sample_rate as u64 * FRAME_MS / 1000) as usize
    }

    /// Adds samples and returns the frames they complete.
    pub fn push(&mut self, samples: &[f32]) -> Vec<FrameInfo> {
        self.pending.extend_from_slice(samples);
        let frame_len = self.frame_len();
        let n_frames = self.pending.len() / frame_len;
        let frames = self.pending[..n_frames * frame_len]
            .chunks_exact(frame_len)
            .map(|frame| analyse(frame, self.sample_rate))
            .collect();
        self.pending.drain(..n_frames * frame_len);
        frames
    }
}

/// Loudness and key of one frame.
pub fn analyse(frame: &[f32], sample_rate: u32) -> FrameInfo {
    let energy: f32 = frame.iter().map(|x| x * x).sum();
    let rms = if frame.is_empty() {
        0.0
    } else {
        (energy / frame.len() as f32).sqrt()
    };
    FrameInfo {
        rms,
        key: dtmf::classify_frame(frame, sample_rate),
    }
}

/// The transcript of a run of frames: its keys separated by spaces (`"4 1 7"`).
pub fn transcript(frames: &[FrameInfo]) -> String {
    dtmf::transcript_of(&dtmf::keys_from_frames(frames.iter().map(|f| f.key)))
}

/// How the emulator maps OpenAI's 0–1 VAD `threshold` to loudness: a frame is speech when its
/// RMS is at least `threshold × 0.1` of full scale (−26 dBFS at the default 0.5).
pub fn speech_rms(threshold: f64) -> f32 {
    (threshold * 0.1) as f32
}

/// Server-VAD parameters with defaults applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadParams {
    /// A frame at or above this RMS is speech.
    pub speech_rms: f32,
    /// Audio kept before the first speech frame, ms.
    pub prefix_padding_ms: u64,
    /// Silence that ends an utterance, ms.
    pub silence_duration_ms: u64,
}

impl From<&ServerVad> for VadParams {
    fn from(vad: &ServerVad) -> VadParams {
        VadParams {
            speech_rms: speech_rms(vad.threshold()),
            prefix_padding_ms: vad.prefix_padding_ms() as u64,
            silence_duration_ms: vad.silence_duration_ms() as u64,
        }
    }
}

/// What the input buffer reports as frames arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum BufferEvent {
    /// Speech began; `audio_start_ms` includes the prefix padding.
    SpeechStarted {
        /// Start of the item on the session timeline, ms.
        audio_start_ms: u64,
    },
    /// Speech ended after the configured silence; the item's audio is committed.
    SpeechStopped {
        /// End of the item (including the silence) on the session timeline, ms.
        audio_end_ms: u64,
        /// The item's frames.
        frames: Vec<FrameInfo>,
    },
}

/// The smallest buffer a commit accepts, as OpenAI documents.
pub const MIN_COMMIT_MS: u64 = 100;

/// A commit of a buffer holding less than [`MIN_COMMIT_MS`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BufferTooSmall {
    /// How much audio the buffer held.
    pub buffered_ms: u64,
}

/// The input audio buffer of one session.
#[derive(Debug)]
pub struct InputBuffer {
    vad: Option<VadParams>,
    /// Uncommitted frames; `frames[0]` starts at `buffer_start_ms`.
    frames: Vec<FrameInfo>,
    buffer_start_ms: u64,
    /// Index (into `frames`) where the current utterance starts, padding included.
    speech_start_idx: Option<usize>,
    silent_frames: u64,
    /// Audio ever received, ms: the session timeline.
    total_ms: u64,
}

impl InputBuffer {
    /// A buffer with server VAD (`Some`) or manual commits (`None`).
    pub fn new(vad: Option<VadParams>) -> InputBuffer {
        InputBuffer {
            vad,
            frames: Vec::new(),
            buffer_start_ms: 0,
            speech_start_idx: None,
            silent_frames: 0,
            total_ms: 0,
        }
    }

    /// Audio received so far, ms.
    pub fn total_ms(&self) -> u64 {
        self.total_ms
    }

    /// Whether an utterance is in progress (server VAD).
    pub fn in_speech(&self) -> bool {
        self.speech_start_idx.is_some()
    }

    /// Switches turn detection (from `session.update`); an utterance in progress is kept.
    pub fn set_vad(&mut self, vad: Option<VadParams>) {
        self.vad = vad;
        if vad.is_none() {
            self.speech_start_idx = None;
        }
    }

    /// Appends one frame and runs server VAD over it.
    pub fn push(&mut self, frame: FrameInfo) -> Option<BufferEvent> {
        self.frames.push(frame);
        self.total_ms += FRAME_MS;
        let vad = self.vad?;
        let voiced = frame.rms >= vad.speech_rms;
        match self.speech_start_idx {
            None if voiced => {
                let padding_frames = (vad.prefix_padding_ms / FRAME_MS) as usize;
                let start_idx = (self.frames.len() - 1).saturating_sub(padding_frames);
                self.speech_start_idx = Some(start_idx);
                self.silent_frames = 0;
                Some(BufferEvent::SpeechStarted {
                    audio_start_ms: self.buffer_start_ms + start_idx as u64 * FRAME_MS,
                })
            }
            None => {
                // Outside speech only the prefix padding is worth keeping.
                let keep = (vad.prefix_padding_ms / FRAME_MS) as usize + 1;
                if self.frames.len() > keep * 2 {
                    self.drop_front(self.frames.len() - keep);
                }
                None
            }
            Some(start_idx) => {
                self.silent_frames = if voiced { 0 } else { self.silent_frames + 1 };
                if self.silent_frames * FRAME_MS < vad.silence_duration_ms {
                    return None;
                }
                let frames = self.frames[start_idx..].to_vec();
                let audio_end_ms = self.total_ms;
                self.drop_front(self.frames.len());
                self.speech_start_idx = None;
                self.silent_frames = 0;
                Some(BufferEvent::SpeechStopped {
                    audio_end_ms,
                    frames,
                })
            }
        }
    }

    /// Commits the buffer as an item (client `input_audio_buffer.commit`).
    pub fn commit(&mut self) -> Result<Vec<FrameInfo>, BufferTooSmall> {
        let start_idx = self.speech_start_idx.unwrap_or(0);
        let buffered_ms = (self.frames.len() - start_idx) as u64 * FRAME_MS;
        if buffered_ms < MIN_COMMIT_MS {
            return Err(BufferTooSmall { buffered_ms });
        }
        let frames = self.frames[start_idx..].to_vec();
        self.drop_front(self.frames.len());
        self.speech_start_idx = None;
        self.silent_frames = 0;
        Ok(frames)
    }

    /// Drops the buffered audio (client `input_audio_buffer.clear`).
    pub fn clear(&mut self) {
        self.drop_front(self.frames.len());
        self.speech_start_idx = None;
        self.silent_frames = 0;
    }

    fn drop_front(&mut self, n_frames: usize) {
        self.frames.drain(..n_frames);
        self.buffer_start_ms += n_frames as u64 * FRAME_MS;
        if let Some(idx) = self.speech_start_idx.as_mut() {
            *idx = idx.saturating_sub(n_frames);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOUD: FrameInfo = FrameInfo {
        rms: 0.2,
        key: Some('5'),
    };
    const QUIET: FrameInfo = FrameInfo {
        rms: 0.0,
        key: None,
    };

    fn vad(prefix_padding_ms: u64, silence_duration_ms: u64) -> VadParams {
        VadParams {
            speech_rms: speech_rms(0.5),
            prefix_padding_ms,
            silence_duration_ms,
        }
    }

    /// Feeds `pattern` ('#' loud, '.' quiet), returning (frame index, event) pairs.
    fn run(buffer: &mut InputBuffer, pattern: &str) -> Vec<(usize, BufferEvent)> {
        pattern
            .chars()
            .enumerate()
            .filter_map(|(idx, c)| {
                let frame = if c == '#' { LOUD } else { QUIET };
                buffer.push(frame).map(|event| (idx, event))
            })
            .collect()
    }

    #[test]
    fn server_vad_reports_start_with_padding_and_stop_after_silence() {
        let mut buffer = InputBuffer::new(Some(vad(100, 100)));
        // 10 quiet frames (200 ms), 5 loud (100 ms), 5 quiet: stop after the 5th quiet frame.
        let events = run(&mut buffer, "..........#####.....");
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(
            events[0],
            (
                10,
                BufferEvent::SpeechStarted {
                    audio_start_ms: 100
                }
            )
        );
        let (
            idx,
            BufferEvent::SpeechStopped {
                audio_end_ms,
                frames,
            },
        ) = &events[1]
        else {
            panic!("{events:?}")
        };
        assert_eq!((*idx, *audio_end_ms), (19, 400));
        // 5 padding frames (100 ms), 5 loud, 5 quiet.
        assert_eq!(frames.len(), 15);
        assert_eq!(frames.iter().filter(|f| f.rms > 0.0).count(), 5);
    }

    #[test]
    fn short_pauses_do_not_split_an_utterance() {
        let mut buffer = InputBuffer::new(Some(vad(0, 200)));
        let events = run(&mut buffer, "###...###..........###..........");
        let stops: Vec<_> = events
            .iter()
            .filter(|(_, e)| matches!(e, BufferEvent::SpeechStopped { .. }))
            .collect();
        assert_eq!(stops.len(), 2, "{events:?}");
        assert_eq!(
            events[0].1,
            BufferEvent::SpeechStarted { audio_start_ms: 0 }
        );
        assert_eq!(
            events[2].1,
            BufferEvent::SpeechStarted {
                audio_start_ms: 380
            }
        );
    }

    #[test]
    fn the_timeline_counts_dropped_silence() {
        let mut buffer = InputBuffer::new(Some(vad(300, 500)));
        let quiet = ".".repeat(500);
        let events = run(&mut buffer, &format!("{quiet}#"));
        assert_eq!(
            events,
            vec![(
                500,
                BufferEvent::SpeechStarted {
                    audio_start_ms: 10_000 - 300
                }
            )]
        );
        assert_eq!(buffer.total_ms(), 10_020);
    }

    #[test]
    fn threshold_decides_what_is_speech() {
        let mut strict = InputBuffer::new(Some(VadParams {
            speech_rms: speech_rms(0.9),
            ..vad(0, 100)
        }));
        assert_eq!(
            strict.push(FrameInfo {
                rms: 0.06,
                key: None
            }),
            None
        );
        let mut lax = InputBuffer::new(Some(VadParams {
            speech_rms: speech_rms(0.2),
            ..vad(0, 100)
        }));
        assert!(
            lax.push(FrameInfo {
                rms: 0.06,
                key: None
            })
            .is_some()
        );
    }

    #[test]
    fn manual_mode_commits_what_was_buffered_and_refuses_tiny_buffers() {
        let mut buffer = InputBuffer::new(None);
        assert_eq!(run(&mut buffer, "..###.."), vec![]);
        assert_eq!(buffer.commit().map(|f| f.len()), Ok(7));
        assert_eq!(buffer.commit(), Err(BufferTooSmall { buffered_ms: 0 }));
        run(&mut buffer, "####");
        assert_eq!(buffer.commit(), Err(BufferTooSmall { buffered_ms: 80 }));
        run(&mut buffer, "#");
        assert_eq!(buffer.commit().map(|f| f.len()), Ok(5));
        run(&mut buffer, "######");
        buffer.clear();
        assert_eq!(buffer.commit(), Err(BufferTooSmall { buffered_ms: 0 }));
    }

    #[test]
    fn transcript_joins_keys() {
        let key = |k| FrameInfo {
            rms: 0.2,
            key: Some(k),
        };
        let frames = [
            key('4'),
            key('4'),
            QUIET,
            key('1'),
            key('1'),
            key('1'),
            QUIET,
            key('7'),
        ];
        assert_eq!(transcript(&frames), "4 1");
    }
}
