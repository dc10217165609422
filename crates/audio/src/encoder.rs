//! Opus encoding of 20 ms mono frames into packets with RTP timestamps, ready for a WebRTC
//! track and for the recording file.

use crate::error::{AudioError, Result};
use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// One encoded 20 ms frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The Opus packet.
    pub data: Vec<u8>,
    /// RTP timestamp (48 kHz clock) of its first sample.
    pub rtp_timestamp: u32,
    /// Samples since the stream began, at its first sample (the recording's timeline).
    pub sample_position: u64,
}

/// An Opus encoder for speech: VOIP application, in-band FEC on.
#[derive(Debug)]
pub struct Encoder {
    opus: opus::Encoder,
    rtp_base: u32,
    samples: u64,
    buffer: Vec<u8>,
}

/// Encoder complexity (0–10; libopus defaults to 10). At 5 SILK's noise-shaping quantiser keeps
/// two delayed-decision states instead of four (libopus `silk_setup_complexity`), roughly halving
/// the encoder's CPU, with no difference a transcriber notices at speech bitrates; the
/// recorder's whole budget is 2 % of a core.
pub const COMPLEXITY: i32 = 5;

fn opus_err(step: &'static str) -> impl Fn(opus::Error) -> AudioError {
    move |source| AudioError::Opus { step, source }
}

impl Encoder {
    /// An encoder at `bitrate` bits per second (24–32 kbps suits speech), RTP timestamps
    /// starting at `rtp_base`.
    pub fn new(bitrate: i32, rtp_base: u32) -> Result<Encoder> {
        let mut opus =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(opus_err("create encoder"))?;
        opus.set_bitrate(opus::Bitrate::Bits(bitrate.clamp(6_000, 510_000)))
            .map_err(opus_err("set bitrate"))?;
        opus.set_complexity(COMPLEXITY)
            .map_err(opus_err("set complexity"))?;
        opus.set_inband_fec(true).map_err(opus_err("enable FEC"))?;
        opus.set_packet_loss_perc(10)
            .map_err(opus_err("set expected loss"))?;
        Ok(Encoder {
            opus,
            rtp_base,
            samples: 0,
            buffer: vec![0; 1500],
        })
    }

    /// Encodes one frame.
    pub fn encode(&mut self, frame: &[f32; FRAME_SAMPLES]) -> Result<Packet> {
        let n = self
            .opus
            .encode_float(frame, &mut self.buffer)
            .map_err(opus_err("encode"))?;
        let packet = Packet {
            data: self.buffer[..n].to_vec(),
            rtp_timestamp: self.rtp_base.wrapping_add(self.samples as u32),
            sample_position: self.samples,
        };
        self.samples += FRAME_SAMPLES as u64;
        Ok(packet)
    }
}

/// Decodes Opus packets back to 48 kHz mono (for playback, back-fill and tests).
#[derive(Debug)]
pub struct Decoder {
    opus: opus::Decoder,
    buffer: Vec<f32>,
}

impl Decoder {
    /// A mono 48 kHz decoder.
    pub fn new() -> Result<Decoder> {
        let opus = opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)
            .map_err(opus_err("create decoder"))?;
        Ok(Decoder {
            opus,
            buffer: vec![0.0; 5760],
        })
    }

    /// Decodes one packet (an empty one conceals a lost packet), appending to `out`.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<usize> {
        let len = if packet.is_empty() {
            FRAME_SAMPLES
        } else {
            self.buffer.len()
        };
        let n = self
            .opus
            .decode_float(packet, &mut self.buffer[..len], false)
            .map_err(opus_err("decode"))?;
        out.extend_from_slice(&self.buffer[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_carry_rtp_timestamps_and_decode_back() {
        let mut encoder = Encoder::new(24_000, u32::MAX - 1000).unwrap();
        let mut decoder = Decoder::new().unwrap();
        let signal: Vec<f32> = (0..48_000)
            .map(|i| 0.4 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 48_000.0).sin())
            .collect();
        let mut decoded = Vec::new();
        let mut bytes = 0;
        for (idx, frame) in signal.chunks_exact(FRAME_SAMPLES).enumerate() {
            let packet = encoder.encode(frame.try_into().unwrap()).unwrap();
            assert_eq!(packet.sample_position, (idx * FRAME_SAMPLES) as u64);
            assert_eq!(
                packet.rtp_timestamp,
                (u32::MAX - 1000).wrapping_add((idx * FRAME_SAMPLES) as u32),
                "wraps"
            );
            bytes += packet.data.len();
            decoder.decode(&packet.data, &mut decoded).unwrap();
        }
        assert_eq!(decoded.len(), 48_000);
        // 24 kbps ≈ 3000 bytes per second.
        assert!(
            (2000..4500).contains(&bytes),
            "{bytes} bytes for one second"
        );
        // Opus delays by a few ms; compare energy and correlation after the first frames.
        let energy = |s: &[f32]| s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32;
        let ratio = energy(&decoded[4800..]) / energy(&signal[4800..]);
        assert!((0.7..1.3).contains(&ratio), "energy ratio {ratio}");
    }

    #[test]
    fn a_lost_packet_is_concealed_with_a_full_frame() {
        let mut decoder = Decoder::new().unwrap();
        let mut out = Vec::new();
        assert_eq!(decoder.decode(&[], &mut out).unwrap(), FRAME_SAMPLES);
    }
}
