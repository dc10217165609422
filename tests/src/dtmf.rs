//! DTMF tones: synthesis for test scripts and a Goertzel detector for the emulator's
//! "recognition", so an end-to-end test can play known digits and expect an exact transcript.

use std::f32::consts::PI;

/// Row (low) frequencies of the DTMF keypad, Hz.
pub const LOW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high) frequencies of the DTMF keypad, Hz.
pub const HIGH_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad, row by row.
pub const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The two frequencies of a key, or `None` for a character that is not on the keypad.
pub fn frequencies(key: char) -> Option<(f32, f32)> {
    let key = key.to_ascii_uppercase();
    KEYPAD.iter().enumerate().find_map(|(row, keys)| {
        keys.iter()
            .position(|k| *k == key)
            .map(|col| (LOW_HZ[row], HIGH_HZ[col]))
    })
}

/// A tone of `ms` milliseconds for `key`, each of its two sines at `amplitude` (full scale 1.0).
///
/// # Panics
/// When `key` is not a DTMF key: test scripts are written by hand, so this is a bug in the test.
pub fn tone(key: char, ms: u32, amplitude: f32, sample_rate: u32) -> Vec<f32> {
    let (low, high) = frequencies(key).unwrap_or_else(|| panic!("{key:?} is not a DTMF key"));
    let n_samples = (sample_rate as u64 * ms as u64 / 1000) as usize;
    (0..n_samples)
        .map(|i| {
            let t = i as f32 / sample_rate as f32;
            amplitude * ((2.0 * PI * low * t).sin() + (2.0 * PI * high * t).sin())
        })
        .collect()
}

/// Silence of `ms` milliseconds.
pub fn silence(ms: u32, sample_rate: u32) -> Vec<f32> {
    vec![0.0; (sample_rate as u64 * ms as u64 / 1000) as usize]
}

/// A script of utterances: each a run of digit tones, separated by pauses.
#[derive(Debug, Clone)]
pub struct Script {
    /// Sample rate of the rendered audio.
    pub sample_rate: u32,
    /// Tone length, ms.
    pub tone_ms: u32,
    /// Gap between the tones of one utterance, ms.
    pub gap_ms: u32,
    /// Amplitude of each sine.
    pub amplitude: f32,
    samples: Vec<f32>,
    utterances: Vec<String>,
}

impl Script {
    /// An empty script at 48 kHz with 120 ms tones, 80 ms gaps and −16 dBFS sines.
    pub fn new() -> Script {
        Script {
            sample_rate: 48_000,
            tone_ms: 120,
            gap_ms: 80,
            amplitude: 0.16,
            samples: Vec::new(),
            utterances: Vec::new(),
        }
    }

    /// An empty script rendering at `sample_rate`.
    pub fn at_rate(sample_rate: u32) -> Script {
        Script {
            sample_rate,
            ..Script::new()
        }
    }

    /// Sets the amplitude of each sine for what is appended next.
    pub fn amplitude(mut self, amplitude: f32) -> Script {
        self.amplitude = amplitude;
        self
    }

    /// Appends silence.
    pub fn pause(mut self, ms: u32) -> Script {
        self.samples.extend(silence(ms, self.sample_rate));
        self
    }

    /// Appends one utterance: the digits of `keys` as tones (spaces are ignored).
    pub fn say(mut self, keys: &str) -> Script {
        let keys: Vec<char> = keys.chars().filter(|c| !c.is_whitespace()).collect();
        for (idx, key) in keys.iter().enumerate() {
            if idx > 0 {
                self.samples.extend(silence(self.gap_ms, self.sample_rate));
            }
            self.samples
                .extend(tone(*key, self.tone_ms, self.amplitude, self.sample_rate));
        }
        self.utterances.push(transcript_of(&keys));
        self
    }

    /// The rendered mono audio.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// The transcript the emulator must return for each utterance, e.g. `"4 1 7"`.
    pub fn expected_transcripts(&self) -> &[String] {
        &self.utterances
    }
}

impl Default for Script {
    fn default() -> Script {
        Script::new()
    }
}

/// The emulator's transcript of a digit sequence: the digits separated by single spaces.
pub fn transcript_of(keys: &[char]) -> String {
    keys.iter()
        .map(char::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Power of one frequency in a block, by the Goertzel recurrence.
fn goertzel_power(samples: &[f32], freq_hz: f32, sample_rate: u32) -> f32 {
    let coeff = 2.0 * (2.0 * PI * freq_hz / sample_rate as f32).cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// Frames quieter than this (RMS, full scale 1.0; −50 dBFS) are never a key.
const MIN_TONE_RMS: f32 = 0.003;

/// Classifies one analysis frame (≈20 ms) as a DTMF key or nothing.
///
/// Each of the 8 keypad frequencies gets its share of the frame's energy; a key is found when
/// the strongest row and column frequencies each hold at least 20 % of it, together at least
/// 60 %, and each is at least 4× its runner-up (so neighbouring rows are not confused).
pub fn classify_frame(samples: &[f32], sample_rate: u32) -> Option<char> {
    if samples.is_empty() {
        return None;
    }
    let energy: f32 = samples.iter().map(|x| x * x).sum();
    let rms = (energy / samples.len() as f32).sqrt();
    if rms < MIN_TONE_RMS {
        return None;
    }
    // 2|X|²/(N·E) is the fraction of the frame's energy at that frequency (1.0 for a pure sine).
    let share =
        |freq| 2.0 * goertzel_power(samples, freq, sample_rate) / (samples.len() as f32 * energy);
    let best = |freqs: &[f32; 4]| {
        let mut shares: Vec<(usize, f32)> = freqs.iter().map(|f| share(*f)).enumerate().collect();
        shares.sort_by(|a, b| b.1.total_cmp(&a.1));
        (shares[0].0, shares[0].1, shares[1].1)
    };
    let (row, row_share, row_runner_up) = best(&LOW_HZ);
    let (col, col_share, col_runner_up) = best(&HIGH_HZ);
    let clear = row_share >= 0.2
        && col_share >= 0.2
        && row_share + col_share >= 0.6
        && row_share >= 4.0 * row_runner_up
        && col_share >= 4.0 * col_runner_up;
    clear.then_some(KEYPAD[row][col])
}

/// Turns per-frame classifications into keys: a key counts once it holds for two frames in a
/// row (≥ 40 ms). The same key counts again only after two frames without it (≥ 40 ms, the
/// inter-digit pause real DTMF receivers require), so a tone that loses one frame on the way
/// (a dropped packet, a late buffer) is still one key.
pub fn keys_from_frames(frames: impl IntoIterator<Item = Option<char>>) -> Vec<char> {
    let mut keys = Vec::new();
    let mut current: Option<char> = None;
    let mut run = 0usize;
    // The last key counted, until a pause of two frames without it re-arms it.
    let mut last: Option<char> = None;
    let mut frames_without_last = 0usize;
    for frame in frames {
        if frame == current {
            run += 1;
        } else {
            current = frame;
            run = 1;
        }
        if last.is_some() && frame == last {
            frames_without_last = 0;
        } else {
            frames_without_last += 1;
            if frames_without_last >= 2 {
                last = None;
            }
        }
        if let Some(key) = current
            && run == 2
            && last != Some(key)
        {
            keys.push(key);
            last = Some(key);
            frames_without_last = 0;
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;

    fn classify_all(samples: &[f32], rate: u32) -> Vec<Option<char>> {
        samples
            .chunks_exact(rate as usize / 50)
            .map(|f| classify_frame(f, rate))
            .collect()
    }

    #[test]
    fn every_key_is_recognised_alone() {
        for row in KEYPAD {
            for key in row {
                let frames = classify_all(&tone(key, 200, 0.2, RATE), RATE);
                assert_eq!(keys_from_frames(frames), vec![key], "key {key}");
            }
        }
    }

    #[test]
    fn a_script_yields_its_digits_at_other_rates_and_levels() {
        for (rate, amplitude) in [(48_000, 0.16), (44_100, 0.05), (16_000, 0.3), (8_000, 0.02)] {
            let script = Script::at_rate(rate)
                .amplitude(amplitude)
                .pause(100)
                .say("4 1 7 7 0")
                .pause(300)
                .say("#9*")
                .pause(200);
            assert_eq!(script.expected_transcripts(), ["4 1 7 7 0", "# 9 *"]);
            let keys = keys_from_frames(classify_all(script.samples(), rate));
            assert_eq!(keys.iter().collect::<String>(), "41770#9*", "rate {rate}");
        }
    }

    #[test]
    fn silence_noise_and_single_sines_are_not_keys() {
        assert_eq!(classify_frame(&silence(20, RATE), RATE), None);
        let noise: Vec<f32> = (0..960u32)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.5)
            .collect();
        assert_eq!(classify_frame(&noise, RATE), None);
        let sine: Vec<f32> = (0..960)
            .map(|i| (2.0 * PI * 697.0 * i as f32 / RATE as f32).sin() * 0.3)
            .collect();
        assert_eq!(classify_frame(&sine, RATE), None);
    }

    #[test]
    fn one_frame_blips_do_not_count() {
        let frames = [
            None,
            Some('5'),
            None,
            Some('5'),
            Some('5'),
            Some('5'),
            None,
            Some('2'),
            Some('2'),
        ];
        assert_eq!(keys_from_frames(frames), vec!['5', '2']);
    }

    #[test]
    fn a_tone_that_loses_one_frame_is_one_key_and_a_real_pause_repeats_it() {
        let dropout = [Some('5'), Some('5'), None, Some('5'), Some('5'), None, None];
        assert_eq!(keys_from_frames(dropout), vec!['5']);
        let blip = [Some('5'), Some('5'), Some('8'), Some('5'), Some('5')];
        assert_eq!(keys_from_frames(blip), vec!['5']);
        let repeated = [Some('5'), Some('5'), None, None, Some('5'), Some('5')];
        assert_eq!(keys_from_frames(repeated), vec!['5', '5']);
        let next_key = [Some('5'), Some('5'), None, Some('2'), Some('2')];
        assert_eq!(keys_from_frames(next_key), vec!['5', '2']);
    }
}
