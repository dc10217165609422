//! Pure signal processing: downmixing, resampling between rates, exact 20 ms framing and levels.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::error::{AudioError, Result};
use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// Averages interleaved channels into mono, appending to `out`.
pub fn downmix_into(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    if channels <= 1 {
        out.extend_from_slice(interleaved);
        return;
    }
    let scale = 1.0 / channels as f32;
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale),
    );
}

/// Converts mono PCM from one rate to another (capture: any rate to 48 kHz; playback: 48 kHz to
/// the output device's rate), in a stream of arbitrary block sizes.
#[derive(Debug)]
pub struct RateConverter {
    from_hz: u32,
    resampler: Option<Box<Fft<f32>>>,
    pending: Vec<f32>,
    output: Vec<f32>,
}

/// Input frames per resampler call: 10 ms, which keeps the added latency small.
fn chunk_for(rate: u32) -> usize {
    (rate / 100) as usize
}

impl RateConverter {
    /// A converter from `from_hz` to the engine's 48 kHz.
    pub fn to_engine(from_hz: u32) -> Result<RateConverter> {
        RateConverter::new(from_hz, SAMPLE_RATE)
    }

    /// A converter from `from_hz` to `to_hz` (equal rates pass through untouched).
    pub fn new(from_hz: u32, to_hz: u32) -> Result<RateConverter> {
        let resampler = if from_hz == to_hz {
            None
        } else {
            let fft = Fft::<f32>::new(
                from_hz as usize,
                to_hz as usize,
                chunk_for(from_hz),
                1,
                FixedSync::Input,
            )
            .map_err(|err| AudioError::Resample {
                from_hz,
                message: err.to_string(),
            })?;
            Some(Box::new(fft))
        };
        Ok(RateConverter {
            from_hz,
            resampler,
            pending: Vec::new(),
            output: Vec::new(),
        })
    }

    /// Samples of delay the resampler adds, at the output rate.
    pub fn delay(&self) -> usize {
        self.resampler
            .as_ref()
            .map(|r| r.output_delay())
            .unwrap_or(0)
    }

    /// Converts `input`, appending samples at the output rate to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<()> {
        let Some(resampler) = self.resampler.as_mut() else {
            out.extend_from_slice(input);
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let chunk = chunk_for(self.from_hz);
        let mut consumed = 0;
        while self.pending.len() - consumed >= chunk {
            self.output.resize(resampler.output_frames_max(), 0.0);
            let input = InterleavedSlice::new(&self.pending[consumed..consumed + chunk], 1, chunk)
                .map_err(|err| AudioError::Resample {
                    from_hz: self.from_hz,
                    message: err.to_string(),
                })?;
            let capacity = self.output.len();
            let mut output =
                InterleavedSlice::new_mut(&mut self.output, 1, capacity).map_err(|err| {
                    AudioError::Resample {
                        from_hz: self.from_hz,
                        message: err.to_string(),
                    }
                })?;
            let (_, written) = resampler
                .process_into_buffer(&input, &mut output, None)
                .map_err(|err| AudioError::Resample {
                    from_hz: self.from_hz,
                    message: err.to_string(),
                })?;
            out.extend_from_slice(&self.output[..written]);
            consumed += chunk;
        }
        self.pending.drain(..consumed);
        Ok(())
    }
}

/// Cuts a stream of samples into exact 20 ms frames, whatever the block sizes.
#[derive(Debug, Default)]
pub struct Framer {
    pending: Vec<f32>,
}

impl Framer {
    /// Appends samples; calls `on_frame` for every complete frame.
    pub fn push(&mut self, samples: &[f32], mut on_frame: impl FnMut(&[f32; FRAME_SAMPLES])) {
        self.pending.extend_from_slice(samples);
        let mut start = 0;
        while self.pending.len() - start >= FRAME_SAMPLES {
            let frame: &[f32; FRAME_SAMPLES] = self.pending[start..start + FRAME_SAMPLES]
                .try_into()
                .expect("exact length");
            on_frame(frame);
            start += FRAME_SAMPLES;
        }
        self.pending.drain(..start);
    }

    /// Samples waiting for a full frame.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// A level reading in dBFS (0 = full scale; silence is `f32::NEG_INFINITY`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// Root mean square.
    pub rms_dbfs: f32,
    /// Highest absolute sample.
    pub peak_dbfs: f32,
}

fn dbfs(amplitude: f32) -> f32 {
    if amplitude <= 0.0 {
        f32::NEG_INFINITY
    } else {
        20.0 * amplitude.log10()
    }
}

/// Measures RMS and peak over 50 ms windows of 48 kHz audio.
#[derive(Debug, Default)]
pub struct LevelMeter {
    sum_squares: f64,
    peak: f32,
    n_samples: usize,
}

/// Samples in one meter window (50 ms at 48 kHz).
pub const LEVEL_WINDOW: usize = 2400;

impl LevelMeter {
    /// Adds samples; calls `on_level` at the end of every 50 ms window.
    pub fn push(&mut self, samples: &[f32], mut on_level: impl FnMut(Level)) {
        for &sample in samples {
            self.sum_squares += f64::from(sample) * f64::from(sample);
            self.peak = self.peak.max(sample.abs());
            self.n_samples += 1;
            if self.n_samples == LEVEL_WINDOW {
                let rms = (self.sum_squares / LEVEL_WINDOW as f64).sqrt() as f32;
                on_level(Level {
                    rms_dbfs: dbfs(rms),
                    peak_dbfs: dbfs(self.peak),
                });
                *self = LevelMeter::default();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, seconds: f32, amplitude: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize)
            .map(|i| amplitude * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn downmix_averages_channels() {
        let mut out = Vec::new();
        downmix_into(&[1.0, 0.0, 0.5, 0.5, -1.0, 1.0], 2, &mut out);
        assert_eq!(out, vec![0.5, 0.5, 0.0]);
        let mut mono = Vec::new();
        downmix_into(&[0.25, -0.25], 1, &mut mono);
        assert_eq!(mono, vec![0.25, -0.25]);
    }

    #[test]
    fn framing_is_exact_whatever_the_block_size() {
        let mut framer = Framer::default();
        let samples: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
        let mut frames = Vec::new();
        // cpal through PulseAudio delivers 640-frame blocks; mix sizes.
        for block in samples.chunks(640).flat_map(|c| c.chunks(333)) {
            framer.push(block, |frame| frames.push(frame[0]));
        }
        assert_eq!(
            frames,
            vec![
                0.0, 960.0, 1920.0, 2880.0, 3840.0, 4800.0, 5760.0, 6720.0, 7680.0, 8640.0
            ]
        );
        assert_eq!(framer.pending(), 10_000 - 10 * 960);
    }

    /// Correlation of `a` and `b` at lag `lag` (b shifted right).
    fn correlation(a: &[f32], b: &[f32], lag: usize) -> f64 {
        let n = a.len().min(b.len().saturating_sub(lag));
        let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..n {
            let (x, y) = (f64::from(a[i]), f64::from(b[i + lag]));
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        ab / (aa.sqrt() * bb.sqrt())
    }

    #[test]
    fn resampling_to_48k_keeps_the_signal_and_its_length() {
        for rate in [44_100, 16_000, 96_000, 48_000] {
            let input = sine(1000.0, rate, 1.0, 0.5);
            let mut converter = RateConverter::to_engine(rate).unwrap();
            let mut out = Vec::new();
            for block in input.chunks(441) {
                converter.process(block, &mut out).unwrap();
            }
            let expected = sine(1000.0, 48_000, 1.0, 0.5);
            // Within one 10 ms chunk of the exact length (the tail waits for a full chunk).
            assert!(
                (out.len() as i64 - expected.len() as i64).abs() <= 480,
                "{rate}: {} samples",
                out.len()
            );
            let lag = converter.delay();
            let c = correlation(&expected[..40_000], &out, lag);
            assert!(c > 0.99, "{rate} Hz: correlation {c} at delay {lag}");
        }
    }

    #[test]
    fn playback_converts_48k_to_the_output_rate() {
        for rate in [44_100, 96_000] {
            let input = sine(1000.0, 48_000, 1.0, 0.5);
            let mut converter = RateConverter::new(48_000, rate).unwrap();
            let mut out = Vec::new();
            for block in input.chunks(960) {
                converter.process(block, &mut out).unwrap();
            }
            let expected = sine(1000.0, rate, 1.0, 0.5);
            assert!(
                (out.len() as i64 - expected.len() as i64).abs() <= i64::from(rate / 100),
                "{rate}: {} samples",
                out.len()
            );
            let lag = converter.delay();
            let c = correlation(&expected[..40_000], &out, lag);
            assert!(c > 0.99, "to {rate} Hz: correlation {c} at delay {lag}");
        }
    }

    #[test]
    fn levels_are_dbfs_over_50_ms() {
        let mut meter = LevelMeter::default();
        let mut levels = Vec::new();
        let full_scale_square: Vec<f32> = (0..LEVEL_WINDOW)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        meter.push(&full_scale_square, |l| levels.push(l));
        meter.push(&sine(1000.0, 48_000, 0.05, 0.5), |l| levels.push(l));
        meter.push(&vec![0.0; LEVEL_WINDOW], |l| levels.push(l));
        assert_eq!(levels.len(), 3);
        assert!(levels[0].rms_dbfs.abs() < 0.01 && levels[0].peak_dbfs.abs() < 0.01);
        // A sine at half scale: peak −6.02 dBFS, RMS −9.03 dBFS.
        assert!((levels[1].peak_dbfs + 6.02).abs() < 0.05, "{:?}", levels[1]);
        assert!((levels[1].rms_dbfs + 9.03).abs() < 0.05, "{:?}", levels[1]);
        assert_eq!(levels[2].rms_dbfs, f32::NEG_INFINITY);
    }
}
