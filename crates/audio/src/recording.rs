//! The recording file: Ogg/Opus (RFC 7845), one logical stream per source, written before audio
//! goes anywhere else and flushed to disk twice a second, so a crash or power loss loses at most
//! the last second. [`recover`] finalises a file a crash left behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use ogg::{PacketReader, PacketWriteEndInfo, PacketWriter};

use crate::FRAME_SAMPLES;
use crate::encoder::{Decoder, Packet};
use crate::error::{AudioError, Result};

/// Samples Opus decoders skip at the start (RFC 7845 pre-skip; libopus's default look-ahead).
pub(crate) const PRE_SKIP: u16 = 312;
/// Packets per page and per flush: 25 × 20 ms = 0.5 s, so that an unflushed half second plus a
/// page torn by power loss stay within the one second a crash may cost.
const PACKETS_PER_FLUSH: u32 = 25;

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> AudioError + '_ {
    move |source| AudioError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn opus_head() -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.push(1); // version
    head.push(1); // mono
    head.extend(PRE_SKIP.to_le_bytes());
    head.extend(48_000u32.to_le_bytes());
    head.extend(0i16.to_le_bytes());
    head.push(0); // mapping family
    head
}

fn opus_tags(source: &str) -> Vec<u8> {
    let vendor = b"hark";
    let comment = format!("HARK_SOURCE={source}");
    let mut tags = b"OpusTags".to_vec();
    tags.extend((vendor.len() as u32).to_le_bytes());
    tags.extend(vendor);
    tags.extend(1u32.to_le_bytes());
    tags.extend((comment.len() as u32).to_le_bytes());
    tags.extend(comment.as_bytes());
    tags
}

/// Writes a recording: `sources` are labels such as `microphone` and `system`.
pub struct RecordingWriter {
    path: std::path::PathBuf,
    writer: PacketWriter<'static, BufWriter<File>>,
    /// Per source: serial, packets since the last page, samples written.
    streams: Vec<(u32, u32, u64)>,
    /// Sync each page to disk as it ends (a live recording); a repair syncs once, at the end.
    sync_pages: bool,
}

impl std::fmt::Debug for RecordingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RecordingWriter {
    /// Creates the file and writes each stream's headers (on disk before any audio).
    pub fn create(path: &Path, sources: &[&str]) -> Result<RecordingWriter> {
        let file = File::create(path).map_err(io_err(path))?;
        let mut writer = PacketWriter::new(BufWriter::new(file));
        let mut streams = Vec::new();
        for (idx, source) in sources.iter().enumerate() {
            let serial = 0x4841_0000 + idx as u32;
            writer
                .write_packet(opus_head(), serial, PacketWriteEndInfo::EndPage, 0)
                .map_err(io_err(path))?;
            writer
                .write_packet(opus_tags(source), serial, PacketWriteEndInfo::EndPage, 0)
                .map_err(io_err(path))?;
            streams.push((serial, 0, 0));
        }
        let mut recording = RecordingWriter {
            path: path.to_owned(),
            writer,
            streams,
            sync_pages: true,
        };
        recording.sync()?;
        Ok(recording)
    }

    /// Appends one 20 ms packet of source `source_idx`; every half second of audio is flushed and
    /// synced to disk.
    pub fn write(&mut self, source_idx: usize, packet: &Packet) -> Result<()> {
        let path = self.path.clone();
        let (serial, since_page, samples) = &mut self.streams[source_idx];
        *samples += FRAME_SAMPLES as u64;
        *since_page += 1;
        let end_page = *since_page >= PACKETS_PER_FLUSH;
        let info = if end_page {
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        let granule = *samples + u64::from(PRE_SKIP);
        self.writer
            .write_packet(packet.data.clone(), *serial, info, granule)
            .map_err(io_err(&path))?;
        if end_page {
            *since_page = 0;
            if self.sync_pages {
                self.sync()?;
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        let path = self.path.clone();
        let inner = self.writer.inner_mut();
        inner.flush().map_err(io_err(&path))?;
        inner.get_ref().sync_data().map_err(io_err(&path))
    }

    /// Ends every stream and syncs the file.
    pub fn finish(mut self) -> Result<()> {
        let path = self.path.clone();
        for (serial, _, samples) in self.streams.clone() {
            // An empty end-of-stream packet is not valid Opus; end with a silent frame instead.
            let silence = crate::encoder::Encoder::new(24_000, 0)?.encode(&[0.0; FRAME_SAMPLES])?;
            let granule = samples + FRAME_SAMPLES as u64 + u64::from(PRE_SKIP);
            self.writer
                .write_packet(silence.data, serial, PacketWriteEndInfo::EndStream, granule)
                .map_err(io_err(&path))?;
        }
        self.sync()
    }
}

/// One source's audio read back.
#[derive(Debug, Clone)]
pub struct Track {
    /// `microphone`, `system`, … (from the stream's tags).
    pub source: String,
    /// Opus packets in order.
    pub packets: Vec<Vec<u8>>,
    /// Whether the stream was ended properly (false after a crash).
    pub finished: bool,
}

impl Track {
    /// Seconds of audio.
    pub fn seconds(&self) -> f64 {
        self.packets.len() as f64 * FRAME_SAMPLES as f64 / 48_000.0
    }

    /// Decodes the samples from `start_s` for `duration_s` seconds (all with `None`). A span
    /// decodes only its own packets and a few before them, so a minute of a two-hour file costs
    /// a minute of decoding and memory.
    pub fn decode(&self, span: Option<(f64, f64)>) -> Result<Vec<f32>> {
        /// Packets decoded before a span's first, for the decoder to settle.
        const WARM_UP: usize = 5;
        let skip = usize::from(PRE_SKIP);
        let (from, to) = match span {
            None => (0, usize::MAX),
            Some((start, duration)) => {
                let from = (start.max(0.0) * 48_000.0) as usize;
                (from, from + (duration.max(0.0) * 48_000.0) as usize)
            }
        };
        // Packet `i` holds the samples from `i * FRAME_SAMPLES - PRE_SKIP` on.
        let first = ((from + skip) / FRAME_SAMPLES).saturating_sub(WARM_UP);
        let last = to
            .saturating_add(skip)
            .div_ceil(FRAME_SAMPLES)
            .min(self.packets.len());
        let mut decoder = Decoder::new()?;
        let mut pcm = Vec::with_capacity(last.saturating_sub(first) * FRAME_SAMPLES);
        for packet in self.packets.get(first..last).unwrap_or_default() {
            decoder.decode(packet, &mut pcm)?;
        }
        // `pcm[0]` is sample `first * FRAME_SAMPLES - PRE_SKIP` of the track.
        let drop = (from + skip)
            .saturating_sub(first * FRAME_SAMPLES)
            .min(pcm.len());
        pcm.drain(..drop);
        pcm.truncate(to - from);
        Ok(pcm)
    }
}

/// Reads every track of a recording; a crash-truncated tail ends the read without an error.
pub fn read(path: &Path) -> Result<Vec<Track>> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut reader = PacketReader::new(std::io::BufReader::new(file));
    let mut tracks: Vec<(u32, Track)> = Vec::new();
    loop {
        let packet = match reader.read_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            // A page cut off by a crash: what came before is intact.
            Err(_) if !tracks.is_empty() => break,
            Err(err) => {
                return Err(AudioError::Corrupt {
                    path: path.display().to_string(),
                    problem: err.to_string(),
                });
            }
        };
        let serial = packet.stream_serial();
        if packet.data.starts_with(b"OpusHead") {
            tracks.push((
                serial,
                Track {
                    source: String::new(),
                    packets: Vec::new(),
                    finished: false,
                },
            ));
            continue;
        }
        let Some((_, track)) = tracks.iter_mut().find(|(s, _)| *s == serial) else {
            continue;
        };
        if packet.data.starts_with(b"OpusTags") {
            let text = String::from_utf8_lossy(&packet.data);
            track.source = text
                .split("HARK_SOURCE=")
                .nth(1)
                .unwrap_or("unknown")
                .to_owned();
            continue;
        }
        if packet.last_in_stream() {
            track.finished = true;
            continue;
        }
        track.packets.push(packet.data);
    }
    if tracks.is_empty() {
        return Err(AudioError::Corrupt {
            path: path.display().to_string(),
            problem: "no Opus stream".into(),
        });
    }
    Ok(tracks.into_iter().map(|(_, track)| track).collect())
}

/// What [`recover`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// Sources and the seconds of audio kept for each.
    pub tracks: Vec<(String, f64)>,
    /// Whether the file needed finalising.
    pub was_unfinished: bool,
}

/// Finalises a recording left behind by a crash: rewrites it with valid headers, its packets,
/// correct granule positions and end-of-stream marks (to a temporary file, then renamed).
pub fn recover(path: &Path) -> Result<Recovery> {
    let tracks = read(path)?;
    let was_unfinished = tracks.iter().any(|t| !t.finished);
    if was_unfinished {
        let temporary = path.with_extension("recovering");
        let sources: Vec<&str> = tracks.iter().map(|t| t.source.as_str()).collect();
        let mut writer = RecordingWriter::create(&temporary, &sources)?;
        // Synced once by `finish`, before the rename: a page-by-page sync made repairing a
        // 2-hour recording take seconds. The sources' pages interleave in time, as recorded.
        writer.sync_pages = false;
        let longest = tracks.iter().map(|t| t.packets.len()).max().unwrap_or(0);
        for n in 0..longest {
            for (idx, track) in tracks.iter().enumerate() {
                let Some(data) = track.packets.get(n) else {
                    continue;
                };
                let packet = Packet {
                    data: data.clone(),
                    rtp_timestamp: 0,
                    sample_position: (n * FRAME_SAMPLES) as u64,
                };
                writer.write(idx, &packet)?;
            }
        }
        writer.finish()?;
        std::fs::rename(&temporary, path).map_err(io_err(path))?;
    }
    Ok(Recovery {
        tracks: tracks
            .iter()
            .map(|t| (t.source.clone(), t.seconds()))
            .collect(),
        was_unfinished,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::Encoder;

    fn tone(seconds: f32, freq: f32) -> Vec<f32> {
        (0..(48_000.0 * seconds) as usize)
            .map(|i| 0.3 * (2.0 * std::f32::consts::PI * freq * i as f32 / 48_000.0).sin())
            .collect()
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("hark-audio-{}-{name}", std::process::id()));
        // Not what an earlier run with the same process id left.
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(&dir);
        dir.join("recording.ogg")
    }

    fn record(path: &Path, seconds: f32) -> RecordingWriter {
        let mut writer = RecordingWriter::create(path, &["microphone", "system"]).unwrap();
        let (mut mic, mut system) = (
            Encoder::new(24_000, 0).unwrap(),
            Encoder::new(24_000, 0).unwrap(),
        );
        let (a, b) = (tone(seconds, 440.0), tone(seconds, 1000.0));
        for (fa, fb) in a
            .chunks_exact(FRAME_SAMPLES)
            .zip(b.chunks_exact(FRAME_SAMPLES))
        {
            writer
                .write(0, &mic.encode(fa.try_into().unwrap()).unwrap())
                .unwrap();
            writer
                .write(1, &system.encode(fb.try_into().unwrap()).unwrap())
                .unwrap();
        }
        writer
    }

    #[test]
    fn two_sources_round_trip_through_the_file() {
        let path = temp("roundtrip");
        record(&path, 3.0).finish().unwrap();
        let tracks = read(&path).unwrap();
        assert_eq!(
            tracks.iter().map(|t| t.source.as_str()).collect::<Vec<_>>(),
            ["microphone", "system"]
        );
        assert!(
            tracks
                .iter()
                .all(|t| t.finished && (t.seconds() - 3.0).abs() < 0.001)
        );
        let span = tracks[1].decode(Some((1.0, 0.5))).unwrap();
        assert_eq!(span.len(), 24_000);
        // A span decodes only its own packets (and a few before them): the same samples, up to
        // the decoder starting from another state, and aligned (a sample early or late is worse).
        let whole = tracks[1].decode(None).unwrap();
        let off = |lag: usize| {
            span.iter()
                .zip(&whole[48_000 + lag - 1..])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max)
        };
        assert!(
            off(1) < 0.1,
            "the span differs from the whole by up to {}",
            off(1)
        );
        assert!(
            off(0) > off(1) && off(2) > off(1),
            "{} {} {}",
            off(0),
            off(1),
            off(2)
        );
        let rms = (span.iter().map(|x| x * x).sum::<f32>() / span.len() as f32).sqrt();
        assert!((rms - 0.3 / 2f32.sqrt()).abs() < 0.05, "rms {rms}");
        // A file another decoder reads: `opusdec`/browsers rely on these headers.
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"OggS"));
        assert!(
            !recover(&path).unwrap().was_unfinished,
            "a finished file is left alone"
        );
    }

    #[test]
    fn a_crash_loses_at_most_the_last_second() {
        let path = temp("crash");
        let writer = record(&path, 4.3);
        // The process dies: nothing more is flushed; the file is cut mid-page as a power loss would.
        std::mem::forget(writer);
        let len = std::fs::metadata(&path).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len.saturating_sub(37)).unwrap();
        let recovery = recover(&path).unwrap();
        assert!(recovery.was_unfinished);
        for (source, seconds) in &recovery.tracks {
            assert!(
                *seconds >= 4.3 - 1.0 - 0.02,
                "{source}: only {seconds} s recovered of 4.3"
            );
        }
        let tracks = read(&path).unwrap();
        assert!(
            tracks.iter().all(|t| t.finished),
            "recovery finalised the file"
        );
        // The sources' pages still alternate through the file, as a player streaming it needs:
        // both streams have packets in the file's first second of audio.
        let mut reader = PacketReader::new(File::open(&path).unwrap());
        let early: std::collections::HashSet<u32> =
            std::iter::from_fn(|| reader.read_packet().unwrap())
                .skip(2 * 2) // each stream's two headers
                .take(2 * 50)
                .map(|p| p.stream_serial())
                .collect();
        assert_eq!(early.len(), 2, "one source's pages all came first");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let path = temp("garbage");
        std::fs::write(&path, b"not an ogg file").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("not readable Ogg/Opus"), "{err}");
    }
}
