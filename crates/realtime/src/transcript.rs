//! The transcript assembler: turns the server's events into ordered segments on the recording's
//! own timeline. Items are ordered by `previous_item_id`; deltas build provisional text that the
//! `.completed` transcript replaces; `.failed` items keep their span for back-fill.

use hark_wire::realtime::ServerEvent;
use serde::Serialize;

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// Text so far is provisional.
    Partial,
    /// The final transcript.
    Final,
    /// Transcription failed; the span can be sent to batch transcription later.
    Failed,
}

/// One utterance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// OpenAI's item id.
    pub item_id: String,
    /// The item before it, as the server said.
    pub previous_item_id: Option<String>,
    /// Provisional or final text.
    pub text: String,
    /// Partial, final or failed.
    pub state: ItemState,
    /// Start on the recording's timeline, when known.
    pub start_ms: Option<i64>,
    /// End on the recording's timeline, when known.
    pub end_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether `committed` has placed it.
    placed: bool,
}

/// What changed, for the UI and the store.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Update {
    /// New provisional text for an item.
    Partial {
        /// The item.
        item_id: String,
        /// All text so far.
        text: String,
    },
    /// An item's final text and span.
    Final {
        /// The item.
        item_id: String,
        /// The transcript.
        text: String,
        /// Start on the recording's timeline.
        start_ms: i64,
        /// End on the recording's timeline.
        end_ms: i64,
    },
    /// An item that could not be transcribed.
    Failed {
        /// The item.
        item_id: String,
        /// The server's explanation.
        message: String,
        /// Start on the recording's timeline.
        start_ms: i64,
        /// End on the recording's timeline.
        end_ms: i64,
    },
}

/// Assembles one call's transcript.
#[derive(Debug, Default)]
pub struct Assembler {
    offset_ms: i64,
    items: Vec<Item>,
    manual_spans: std::collections::VecDeque<(i64, i64)>,
}

impl Assembler {
    /// An assembler whose audio time 0 is `offset_ms` on the recording's timeline (the position
    /// of the first frame sent on this call).
    pub fn new(offset_ms: i64) -> Assembler {
        Assembler {
            offset_ms,
            ..Assembler::default()
        }
    }

    /// Manual turn mode: the span (recording timeline) of the utterance just committed; it is
    /// given to the next item the server reports committed.
    pub fn expect_commit(&mut self, start_ms: i64, end_ms: i64) {
        self.manual_spans
            .push_back((start_ms, end_ms.max(start_ms)));
    }

    /// Items in conversation order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Items not yet final or failed.
    pub fn unfinished(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.state == ItemState::Partial)
            .count()
    }

    fn position(&self, item_id: &str) -> Option<usize> {
        self.items.iter().position(|i| i.item_id == item_id)
    }

    fn item(&mut self, item_id: &str) -> &mut Item {
        let idx = match self.position(item_id) {
            Some(idx) => idx,
            None => {
                self.items.push(Item {
                    item_id: item_id.to_string(),
                    previous_item_id: None,
                    text: String::new(),
                    state: ItemState::Partial,
                    start_ms: None,
                    end_ms: None,
                    error: None,
                    placed: false,
                });
                self.items.len() - 1
            }
        };
        &mut self.items[idx]
    }

    /// The span of an item, filling gaps from its neighbours when the server gave none.
    fn span(&self, idx: usize) -> (i64, i64) {
        let item = &self.items[idx];
        let before = self.items[..idx]
            .iter()
            .rev()
            .find_map(|i| i.end_ms.or(i.start_ms))
            .unwrap_or(self.offset_ms);
        let start = item.start_ms.unwrap_or(before);
        let end = item.end_ms.unwrap_or(start).max(start);
        (start, end)
    }

    /// Takes one server event; returns what changed.
    pub fn handle(&mut self, event: &ServerEvent) -> Vec<Update> {
        let offset = self.offset_ms;
        match event {
            ServerEvent::SpeechStarted(e) => {
                self.item(&e.item_id).start_ms = Some(offset + e.audio_start_ms as i64);
                Vec::new()
            }
            ServerEvent::SpeechStopped(e) => {
                self.item(&e.item_id).end_ms = Some(offset + e.audio_end_ms as i64);
                Vec::new()
            }
            ServerEvent::Committed(e) => {
                self.place(&e.item_id, e.previous_item_id.as_deref());
                if let Some((start, end)) = self.manual_spans.pop_front() {
                    let item = self.item(&e.item_id);
                    item.start_ms.get_or_insert(start);
                    item.end_ms.get_or_insert(end);
                }
                Vec::new()
            }
            ServerEvent::TranscriptionDelta(e) => {
                let item = self.item(&e.item_id);
                if item.state != ItemState::Partial {
                    return Vec::new();
                }
                item.text.push_str(&e.delta);
                vec![Update::Partial {
                    item_id: e.item_id.clone(),
                    text: item.text.clone(),
                }]
            }
            ServerEvent::TranscriptionCompleted(e) => {
                let item = self.item(&e.item_id);
                item.text = e.transcript.trim().to_string();
                item.state = ItemState::Final;
                let idx = self.position(&e.item_id).unwrap_or_default();
                let (start_ms, end_ms) = self.span(idx);
                vec![Update::Final {
                    item_id: e.item_id.clone(),
                    text: self.items[idx].text.clone(),
                    start_ms,
                    end_ms,
                }]
            }
            ServerEvent::TranscriptionFailed(e) => {
                let item = self.item(&e.item_id);
                item.state = ItemState::Failed;
                item.error = Some(e.error.message.clone());
                let idx = self.position(&e.item_id).unwrap_or_default();
                let (start_ms, end_ms) = self.span(idx);
                vec![Update::Failed {
                    item_id: e.item_id.clone(),
                    message: e.error.message.clone(),
                    start_ms,
                    end_ms,
                }]
            }
            _ => Vec::new(),
        }
    }

    /// Moves an item to just after `previous` (or to the front when it has none).
    fn place(&mut self, item_id: &str, previous: Option<&str>) {
        let idx = match self.position(item_id) {
            Some(idx) => idx,
            None => {
                self.item(item_id);
                self.items.len() - 1
            }
        };
        let mut item = self.items.remove(idx);
        item.previous_item_id = previous.map(str::to_string);
        item.placed = true;
        let at = match previous {
            Some(previous) => self
                .position(previous)
                .map(|p| p + 1)
                .unwrap_or(self.items.len()),
            // The first item of the conversation; items not yet placed stay after it.
            None => 0,
        };
        self.items.insert(at, item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: serde_json::Value) -> ServerEvent {
        ServerEvent::from_json(&json.to_string()).unwrap()
    }

    fn committed(item: &str, previous: Option<&str>) -> ServerEvent {
        event(
            serde_json::json!({"type": "input_audio_buffer.committed", "event_id": "e",
            "previous_item_id": previous, "item_id": item}),
        )
    }

    fn delta(item: &str, text: &str) -> ServerEvent {
        event(
            serde_json::json!({"type": "conversation.item.input_audio_transcription.delta",
            "event_id": "e", "item_id": item, "content_index": 0, "delta": text}),
        )
    }

    fn completed(item: &str, text: &str) -> ServerEvent {
        event(
            serde_json::json!({"type": "conversation.item.input_audio_transcription.completed",
            "event_id": "e", "item_id": item, "content_index": 0, "transcript": text}),
        )
    }

    fn speech(item: &str, start: u64, end: u64) -> [ServerEvent; 2] {
        [
            event(
                serde_json::json!({"type": "input_audio_buffer.speech_started",
                "event_id": "e", "item_id": item, "audio_start_ms": start}),
            ),
            event(
                serde_json::json!({"type": "input_audio_buffer.speech_stopped",
                "event_id": "e", "item_id": item, "audio_end_ms": end}),
            ),
        ]
    }

    #[test]
    fn deltas_are_partial_then_replaced_by_the_completed_text_on_the_recording_timeline() {
        let mut assembler = Assembler::new(2_000);
        for e in speech("item_a", 500, 1_700) {
            assembler.handle(&e);
        }
        assembler.handle(&committed("item_a", None));
        assert_eq!(
            assembler.handle(&delta("item_a", "Hel")),
            [Update::Partial {
                item_id: "item_a".into(),
                text: "Hel".into()
            }]
        );
        assembler.handle(&delta("item_a", "lo wrld"));
        let done = assembler.handle(&completed("item_a", " Hello world "));
        assert_eq!(
            done,
            [Update::Final {
                item_id: "item_a".into(),
                text: "Hello world".into(),
                start_ms: 2_500,
                end_ms: 3_700
            }]
        );
        // A late delta does not reopen a final item.
        assert!(assembler.handle(&delta("item_a", "!")).is_empty());
        assert_eq!(assembler.unfinished(), 0);
    }

    #[test]
    fn items_are_ordered_by_previous_item_id_whatever_order_they_finish_in() {
        let mut assembler = Assembler::new(0);
        assembler.handle(&committed("b", Some("a")));
        assembler.handle(&committed("c", Some("b")));
        assembler.handle(&completed("c", "third"));
        assembler.handle(&committed("a", None));
        assembler.handle(&completed("a", "first"));
        assembler.handle(&completed("b", "second"));
        let order: Vec<&str> = assembler.items().iter().map(|i| i.text.as_str()).collect();
        assert_eq!(order, ["first", "second", "third"]);
    }

    #[test]
    fn manual_commits_give_spans_and_failures_keep_them() {
        let mut assembler = Assembler::new(0);
        assembler.expect_commit(1_000, 2_400);
        assembler.expect_commit(3_000, 3_900);
        assembler.handle(&committed("x", None));
        assembler.handle(&committed("y", Some("x")));
        let failed = assembler.handle(&event(serde_json::json!({
            "type": "conversation.item.input_audio_transcription.failed", "event_id": "e",
            "item_id": "y", "content_index": 0,
            "error": {"type": "server_error", "message": "upstream timeout"}})));
        assert_eq!(
            failed,
            [Update::Failed {
                item_id: "y".into(),
                message: "upstream timeout".into(),
                start_ms: 3_000,
                end_ms: 3_900
            }]
        );
        let done = assembler.handle(&completed("x", "one two"));
        assert!(matches!(
            done[0],
            Update::Final {
                start_ms: 1_000,
                end_ms: 2_400,
                ..
            }
        ));
    }

    #[test]
    fn an_item_without_timing_starts_where_the_previous_one_ended() {
        let mut assembler = Assembler::new(10_000);
        for e in speech("a", 0, 800) {
            assembler.handle(&e);
        }
        assembler.handle(&committed("a", None));
        assembler.handle(&completed("a", "one"));
        assembler.handle(&committed("b", Some("a")));
        let done = assembler.handle(&completed("b", "two"));
        assert!(matches!(
            done[0],
            Update::Final {
                start_ms: 10_800,
                end_ms: 10_800,
                ..
            }
        ));
    }
}
