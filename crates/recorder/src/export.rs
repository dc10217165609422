//! Exports of a session: Markdown and plain text with speakers and timestamps, SRT and WebVTT
//! with correct cue timing, JSON with everything, and a Word document (DOCX, via `docx-rs`).

use hark_store::{SegmentStatus, SessionDetail};

use crate::error::{RecorderError, Result};

/// An export format.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Format {
    /// Markdown: a heading, then one paragraph per segment.
    Md,
    /// Plain text, one line per segment.
    Txt,
    /// SubRip subtitles.
    Srt,
    /// WebVTT subtitles.
    Vtt,
    /// Everything, as JSON.
    Json,
    /// A Word document (binary: saved to a file, never shown as text).
    Docx,
}

impl Format {
    /// The file name extension (without the dot).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Md => "md",
            Format::Txt => "txt",
            Format::Srt => "srt",
            Format::Vtt => "vtt",
            Format::Json => "json",
            Format::Docx => "docx",
        }
    }

    /// What the format is called in a save dialog.
    pub fn label(self) -> &'static str {
        match self {
            Format::Md => "Markdown",
            Format::Txt => "Text",
            Format::Srt => "SubRip subtitles",
            Format::Vtt => "WebVTT subtitles",
            Format::Json => "JSON",
            Format::Docx => "Word document",
        }
    }

    /// Whether the export is text (the rest are binary documents).
    pub fn is_text(self) -> bool {
        self != Format::Docx
    }
}

/// The speaker shown for a segment: its label, else You (microphone) / Candidate (system).
pub fn speaker(source: &str, label: Option<&str>) -> String {
    match label {
        Some(label) if !label.trim().is_empty() => label.trim().to_string(),
        _ if source == "system" => "Candidate".into(),
        _ => "You".into(),
    }
}

/// `h:mm:ss` (or `m:ss` under an hour) for reading.
fn clock(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `hh:mm:ss{sep}mmm` for subtitles.
fn cue_time(ms: i64, sep: char) -> String {
    let ms = ms.max(0);
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Text for a WebVTT cue or voice tag: `&`, `<` and `>` as character references, since a
/// bare `<` opens a tag, `&` a reference and `-->` would read as cue timing.
fn vtt_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Segments worth exporting: final and back-filled ones with text, in timeline order.
fn spoken(detail: &SessionDetail) -> impl Iterator<Item = &hark_store::Segment> {
    detail
        .segments
        .iter()
        .filter(|s| s.status != SegmentStatus::Failed && !s.text.trim().is_empty())
}

/// A file name to suggest for the export: the interview's title (without characters file
/// systems refuse) and the format's extension.
pub fn file_name(detail: &SessionDetail, format: Format) -> String {
    let title: String = detail
        .interview
        .job_title
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '-',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    let title = title.trim().trim_start_matches('.');
    let title = if title.is_empty() { "Interview" } else { title };
    format!("{title}.{}", format.extension())
}

/// The export as a file's bytes, in any format.
pub fn render_bytes(detail: &SessionDetail, format: Format) -> Result<Vec<u8>> {
    match format {
        Format::Docx => docx(detail),
        text => render(detail, text).map(String::into_bytes),
    }
}

/// Renders `detail` in a text format; a binary format is refused with how to save it instead.
pub fn render(detail: &SessionDetail, format: Format) -> Result<String> {
    let mut out = String::new();
    match format {
        Format::Docx => {
            return Err(RecorderError::Invalid(
                "a Word document is binary and cannot be shown as text: save it to a file (`hark export ID --format docx --out interview.docx`)".into(),
            ));
        }
        Format::Md => {
            let title = &detail.interview.job_title;
            out.push_str(&format!("# {title}\n\n"));
            if let Some(candidate) = &detail.interview.candidate_name {
                out.push_str(&format!("Candidate: {candidate}  \n"));
            }
            out.push_str(&format!(
                "Session: {}  \nDuration: {}\n\n",
                detail.session.id,
                clock((detail.session.seconds_recorded * 1000.0) as i64)
            ));
            for s in spoken(detail) {
                out.push_str(&format!(
                    "**{}** [{}]: {}\n\n",
                    speaker(&s.source, s.speaker_label.as_deref()),
                    clock(s.start_ms),
                    s.text.trim()
                ));
            }
            if !detail.notes.is_empty() {
                out.push_str("## Notes\n\n");
                for note in &detail.notes {
                    out.push_str(&format!("- [{}] {}\n", clock(note.at_ms), note.body.trim()));
                }
            }
        }
        Format::Txt => {
            for s in spoken(detail) {
                out.push_str(&format!(
                    "[{}] {}: {}\n",
                    clock(s.start_ms),
                    speaker(&s.source, s.speaker_label.as_deref()),
                    s.text.trim()
                ));
            }
        }
        Format::Srt => {
            for (n, s) in spoken(detail).enumerate() {
                out.push_str(&format!(
                    "{}\n{} --> {}\n{}: {}\n\n",
                    n + 1,
                    cue_time(s.start_ms, ','),
                    cue_time(s.end_ms.max(s.start_ms + 1), ','),
                    speaker(&s.source, s.speaker_label.as_deref()),
                    s.text.trim()
                ));
            }
        }
        Format::Vtt => {
            out.push_str("WEBVTT\n\n");
            for s in spoken(detail) {
                out.push_str(&format!(
                    "{} --> {}\n<v {}>{}\n\n",
                    cue_time(s.start_ms, '.'),
                    cue_time(s.end_ms.max(s.start_ms + 1), '.'),
                    vtt_escape(&speaker(&s.source, s.speaker_label.as_deref())),
                    vtt_escape(s.text.trim())
                ));
            }
        }
        Format::Json => {
            // The session as it is, less this computer's own bookkeeping: where it syncs (the
            // project and the recruiter's account), why it waits, and its sync state.
            let mut value = serde_json::to_value(detail).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.remove("held");
                object.remove("sync_state");
            }
            if let Some(session) = value.get_mut("session").and_then(|v| v.as_object_mut()) {
                session.remove("destination");
            }
            out = serde_json::to_string_pretty(&value).unwrap_or_default();
            out.push('\n');
        }
    }
    Ok(out)
}

/// A Word document: title, candidate and duration, one paragraph per segment (speaker in
/// bold, time, text), then the notes.
fn docx(detail: &SessionDetail) -> Result<Vec<u8>> {
    use docx_rs::{Docx, Paragraph, Run};
    let line = |text: String| Paragraph::new().add_run(Run::new().add_text(text));
    let mut doc = Docx::new().add_paragraph(
        Paragraph::new().add_run(
            Run::new()
                .add_text(detail.interview.job_title.as_str())
                .bold()
                .size(36),
        ),
    );
    if let Some(candidate) = &detail.interview.candidate_name {
        doc = doc.add_paragraph(line(format!("Candidate: {candidate}")));
    }
    doc = doc.add_paragraph(line(format!(
        "Duration: {}",
        clock((detail.session.seconds_recorded * 1000.0) as i64)
    )));
    for s in spoken(detail) {
        doc = doc.add_paragraph(
            Paragraph::new()
                .add_run(
                    Run::new()
                        .add_text(speaker(&s.source, s.speaker_label.as_deref()))
                        .bold(),
                )
                .add_run(Run::new().add_text(format!(" [{}]: ", clock(s.start_ms))))
                .add_run(Run::new().add_text(s.text.trim())),
        );
    }
    if !detail.notes.is_empty() {
        doc = doc
            .add_paragraph(Paragraph::new().add_run(Run::new().add_text("Notes").bold().size(28)));
        for note in &detail.notes {
            doc = doc.add_paragraph(line(format!(
                "[{}] {}",
                clock(note.at_ms),
                note.body.trim()
            )));
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    doc.build()
        .pack(&mut out)
        .map_err(|err| RecorderError::Invalid(format!("cannot write the Word document: {err}")))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cue_times_carry_hours_minutes_and_milliseconds() {
        assert_eq!(cue_time(3_723_004, ','), "01:02:03,004");
        assert_eq!(cue_time(59_999, '.'), "00:00:59.999");
        assert_eq!(clock(3_723_004), "1:02:03");
        assert_eq!(clock(61_000), "1:01");
    }

    #[test]
    fn speakers_default_by_source_and_labels_win() {
        assert_eq!(speaker("microphone", None), "You");
        assert_eq!(speaker("system", Some(" ")), "Candidate");
        assert_eq!(speaker("system", Some("Ada")), "Ada");
    }

    #[test]
    fn webvtt_escapes_markup_in_cue_text_and_speaker_names() {
        let mut store = hark_store::Store::open_in_memory().unwrap();
        let interview = store.create_interview("Escapes", None).unwrap();
        let session = store
            .start_session(&hark_store::NewSession {
                interview_id: interview.id,
                sources: vec!["microphone".into()],
                ..Default::default()
            })
            .unwrap();
        store
            .save_segment(&hark_store::Segment {
                id: uuid::Uuid::new_v4(),
                session_id: session.id,
                item_id: None,
                source: "microphone".into(),
                speaker_label: Some("Ada <R&D>".into()),
                start_ms: 0,
                end_ms: 1_500,
                text: "if a < b && c > d --> <b>done</b>".into(),
                status: SegmentStatus::Final,
            })
            .unwrap();
        store
            .finish_session(session.id, 2.0, hark_store::SessionState::Completed)
            .unwrap();
        let detail = store.session(&session.id.to_string()).unwrap();
        let vtt = render(&detail, Format::Vtt).unwrap();
        assert_eq!(
            vtt,
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n\
             <v Ada &lt;R&amp;D&gt;>if a &lt; b &amp;&amp; c &gt; d --&gt; &lt;b&gt;done&lt;/b&gt;\n\n"
        );
        // The other text formats are not markup: they keep the words as spoken.
        let srt = render(&detail, Format::Srt).unwrap();
        assert!(srt.contains("Ada <R&D>: if a < b && c > d"), "{srt}");
    }

    #[test]
    fn json_exports_leave_out_where_the_session_syncs_and_as_whom() {
        let mut store = hark_store::Store::open_in_memory().unwrap();
        let interview = store.create_interview("Private", None).unwrap();
        let session = store
            .start_session(&hark_store::NewSession {
                interview_id: interview.id,
                destination: hark_store::Destination::Organisation {
                    project_url: Some("https://org.example".into()),
                    user_id: Some(uuid::Uuid::from_u128(7)),
                    email: Some("recruiter@example.com".into()),
                },
                ..Default::default()
            })
            .unwrap();
        store
            .finish_session(session.id, 2.0, hark_store::SessionState::Completed)
            .unwrap();
        let mut detail = store.session(&session.id.to_string()).unwrap();
        detail.held = Some("recorded by someone".into());
        let json = render(&detail, Format::Json).unwrap();
        for private in [
            "org.example",
            "recruiter@example.com",
            "destination",
            "held",
            "sync_state",
        ] {
            assert!(!json.contains(private), "{private} in {json}");
        }
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["session"]["id"], session.id.to_string());
        assert_eq!(value["interview"]["job_title"], "Private");
    }
}
