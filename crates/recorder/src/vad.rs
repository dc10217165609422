//! Voice activity per 20 ms frame for manual turn mode, with `earshot` (16 kHz, 16 ms frames):
//! the engine's 48 kHz frames are low-passed and decimated by three on the way in.

use hark_audio::FRAME_SAMPLES;

/// Earshot's frame: 16 ms at 16 kHz.
const VAD_FRAME: usize = 256;
/// Score over which a frame is voice.
const THRESHOLD: f32 = 0.5;

/// One source's voice-activity detector.
#[derive(Default)]
pub struct Vad {
    detector: earshot::Detector,
    pending: Vec<f32>,
}

impl std::fmt::Debug for Vad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vad").finish_non_exhaustive()
    }
}

impl Vad {
    /// Whether a 20 ms frame at 48 kHz holds voice (any 16 ms window in it scoring over 0.5).
    pub fn voiced(&mut self, pcm: &[f32; FRAME_SAMPLES]) -> bool {
        // A three-tap average is enough of a low-pass for a voice detector.
        self.pending.extend(
            pcm.chunks_exact(3)
                .map(|three| ((three[0] + three[1] + three[2]) / 3.0).clamp(-1.0, 1.0)),
        );
        let mut best = 0.0f32;
        let mut used = 0;
        while self.pending.len() - used >= VAD_FRAME {
            best = best.max(
                self.detector
                    .predict_f32(&self.pending[used..used + VAD_FRAME]),
            );
            used += VAD_FRAME;
        }
        self.pending.drain(..used);
        best >= THRESHOLD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(signal: impl Fn(usize) -> f32, seconds: usize) -> Vec<[f32; FRAME_SAMPLES]> {
        (0..seconds * 50)
            .map(|f| std::array::from_fn(|i| signal(f * FRAME_SAMPLES + i)))
            .collect()
    }

    #[test]
    fn silence_is_not_voice_and_a_voiced_buzz_is() {
        let mut vad = Vad::default();
        let quiet = frames(|_| 0.0, 1);
        assert!(quiet.iter().all(|f| !vad.voiced(f)));
        // Two DTMF-like sines, as the test scripts use.
        let tone = |i: usize| {
            let t = i as f32 / 48_000.0;
            0.16 * ((2.0 * std::f32::consts::PI * 697.0 * t).sin()
                + (2.0 * std::f32::consts::PI * 1209.0 * t).sin())
        };
        let loud = frames(tone, 1);
        let voiced = loud.iter().filter(|f| vad.voiced(f)).count();
        assert!(voiced > 25, "{voiced} of 50 frames");
    }
}
