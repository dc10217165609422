//! Audio files for upload tests: WAV (hound) and Ogg/Opus (ogg + opus), made from PCM.

use std::io::Cursor;

/// A 16-bit WAV file of mono `samples`, written to every one of `channels`.
pub fn wav_bytes(samples: &[f32], sample_rate: u32, channels: u16) -> Vec<u8> {
    let mut cursor = Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
    for sample in samples {
        for _ in 0..channels {
            writer
                .write_sample((sample * i16::MAX as f32) as i16)
                .unwrap();
        }
    }
    writer.finalize().unwrap();
    cursor.into_inner()
}

/// An Ogg/Opus file (RFC 7845) of 48 kHz mono PCM.
pub fn ogg_opus_bytes(samples: &[f32]) -> Vec<u8> {
    const PRE_SKIP: u16 = 312;
    let mut encoder =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    let mut writer = ogg::PacketWriter::new(Cursor::new(Vec::new()));
    let serial = 7;
    let mut head = b"OpusHead".to_vec();
    head.push(1);
    head.push(1);
    head.extend(PRE_SKIP.to_le_bytes());
    head.extend(48_000u32.to_le_bytes());
    head.extend(0i16.to_le_bytes());
    head.push(0);
    writer
        .write_packet(head, serial, ogg::PacketWriteEndInfo::EndPage, 0)
        .unwrap();
    let mut tags = b"OpusTags".to_vec();
    tags.extend(4u32.to_le_bytes());
    tags.extend(b"hark");
    tags.extend(0u32.to_le_bytes());
    writer
        .write_packet(tags, serial, ogg::PacketWriteEndInfo::EndPage, 0)
        .unwrap();
    let mut padded = vec![0.0f32; PRE_SKIP as usize];
    padded.extend_from_slice(samples);
    let frames: Vec<&[f32]> = padded.chunks(960).collect();
    let mut packet = vec![0u8; 1500];
    for (idx, frame) in frames.iter().enumerate() {
        let mut pcm = [0.0f32; 960];
        pcm[..frame.len()].copy_from_slice(frame);
        let n = encoder.encode_float(&pcm, &mut packet).unwrap();
        let end = if idx + 1 == frames.len() {
            ogg::PacketWriteEndInfo::EndStream
        } else {
            ogg::PacketWriteEndInfo::NormalPacket
        };
        writer
            .write_packet(packet[..n].to_vec(), serial, end, ((idx + 1) * 960) as u64)
            .unwrap();
    }
    writer.into_inner().into_inner()
}
