//! Client-side turn detection for models without server VAD (`manual` turn mode): from one
//! voice-activity flag per 20 ms frame, decides where utterances begin and end, so the caller
//! commits each one and tells the assembler its span.

/// Milliseconds per frame.
const FRAME_MS: i64 = 20;

/// Splits a stream of voiced/unvoiced frames into utterances.
#[derive(Debug, Clone)]
pub struct TurnDetector {
    /// Voiced frames in a row that start an utterance.
    start_frames: u32,
    /// Silence that ends one.
    silence_ms: i64,
    /// Audio kept before the first voiced frame.
    prefix_ms: i64,
    /// Shortest utterance worth committing (OpenAI refuses buffers under 100 ms).
    min_ms: i64,
    voiced_run: u32,
    /// Start of the utterance in progress (after prefix), and the end of its last voiced frame.
    current: Option<(i64, i64)>,
    /// End of the last committed utterance: a prefix never reaches back before it.
    last_end: i64,
}

impl Default for TurnDetector {
    fn default() -> TurnDetector {
        TurnDetector::new(500)
    }
}

impl TurnDetector {
    /// Ends an utterance after `silence_ms` without voice (OpenAI's server VAD default is 500).
    pub fn new(silence_ms: i64) -> TurnDetector {
        TurnDetector {
            start_frames: 2,
            silence_ms,
            prefix_ms: 300,
            min_ms: 100,
            voiced_run: 0,
            current: None,
            last_end: 0,
        }
    }

    /// One frame at `position_ms` (its start on the recording's timeline). Returns the span of
    /// an utterance that has just ended, to commit.
    pub fn push(&mut self, position_ms: i64, voiced: bool) -> Option<(i64, i64)> {
        let frame_end = position_ms + FRAME_MS;
        if voiced {
            self.voiced_run += 1;
        } else {
            self.voiced_run = 0;
        }
        match &mut self.current {
            None if self.voiced_run >= self.start_frames => {
                let first_voiced = position_ms - FRAME_MS * i64::from(self.start_frames - 1);
                let start = (first_voiced - self.prefix_ms).max(self.last_end);
                self.current = Some((start, frame_end));
                None
            }
            None => None,
            Some((_, last_voiced)) if voiced => {
                *last_voiced = frame_end;
                None
            }
            Some((_, last_voiced)) if frame_end - *last_voiced >= self.silence_ms => self.end(),
            Some(_) => None,
        }
    }

    /// Ends the utterance in progress (at stop); returns its span if there is one worth sending.
    pub fn flush(&mut self) -> Option<(i64, i64)> {
        self.current.is_some().then(|| self.end()).flatten()
    }

    fn end(&mut self) -> Option<(i64, i64)> {
        let (start, end) = self.current.take()?;
        self.voiced_run = 0;
        self.last_end = end;
        (end - start >= self.min_ms).then_some((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pattern` (one char per frame: `#` voiced) from `at_ms`; returns the spans.
    fn run(detector: &mut TurnDetector, at_ms: i64, pattern: &str) -> Vec<(i64, i64)> {
        pattern
            .chars()
            .enumerate()
            .filter_map(|(i, c)| detector.push(at_ms + i as i64 * FRAME_MS, c == '#'))
            .collect()
    }

    #[test]
    fn an_utterance_ends_after_the_silence_window_with_its_prefix() {
        let mut detector = TurnDetector::new(100);
        // 40 frames of silence, 10 voiced, then silence.
        let pattern = format!("{}{}{}", ".".repeat(40), "#".repeat(10), ".".repeat(10));
        let spans = run(&mut detector, 0, &pattern);
        // Voice from 800 to 1000 ms; 300 ms of prefix; ends 100 ms of silence later.
        assert_eq!(spans, [(500, 1000)]);
    }

    #[test]
    fn short_gaps_and_single_clicks_do_not_split_or_start_utterances() {
        let mut detector = TurnDetector::new(200);
        let pattern = "....#......##..##..##.............";
        let spans = run(&mut detector, 10_000, pattern);
        assert_eq!(spans.len(), 1, "{spans:?}");
        let (start, end) = spans[0];
        assert_eq!(end, 10_000 + 20 * 21);
        assert!(start < 10_000 + 20 * 11);
    }

    #[test]
    fn the_prefix_never_overlaps_the_previous_utterance_and_flush_ends_the_last() {
        let mut detector = TurnDetector::new(100);
        let spans = run(&mut detector, 0, "#####.....##########");
        assert_eq!(spans, [(0, 100)]);
        // The second utterance began at 200 ms; its prefix stops at the first one's end.
        assert_eq!(detector.flush(), Some((100, 400)));
        assert_eq!(detector.flush(), None);
    }
}
