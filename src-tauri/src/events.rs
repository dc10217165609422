//! Typed events to the window: every recorder event (levels, connection state, partial and
//! final segments, warnings) as `RecordingEvent`, every sync status change as `SyncStatusEvent`,
//! and `CloseRequested` when the window is closed while recording. Levels are thinned to ten
//! per second per source (the loudest of each tenth of a second), which is all a meter shows,
//! silence after an emptied meter is not sent at all, and nothing is sent while no meter is shown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hark_audio::Event as AudioEvent;
use hark_cloud::SyncEvent;
use hark_recorder::RecorderEvent;
use serde::Serialize;
use tauri::{AppHandle, Runtime};
use tauri_specta::Event;
use tokio::sync::broadcast;

/// Something happened in the current recording.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct RecordingEvent(pub RecorderEvent);

/// A session's sync status changed (pending, syncing, synced, failed).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct SyncStatusEvent(pub SyncEvent);

/// The window was asked to close while recording: the UI asks whether to stop and quit.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct CloseRequested;

/// How often a source's level reaches the window.
pub const LEVEL_EVERY: Duration = Duration::from_millis(100);

/// The meter's floor: at or below this peak it shows empty (`meterFill` in `ui/src/format.ts`).
pub const METER_FLOOR_DBFS: f32 = -60.0;

/// Whether the window shows level meters: the record screen, in a window the user can see. The
/// page says so (`show_levels`) as its screen or visibility changes; until it does, meters count
/// as shown. Each level event costs the page an evaluated script, a style change and a repaint.
#[derive(Debug, Clone)]
pub struct MetersShown(Arc<AtomicBool>);

impl Default for MetersShown {
    fn default() -> Self {
        MetersShown(Arc::new(AtomicBool::new(true)))
    }
}

impl MetersShown {
    /// Records whether meters are shown.
    pub fn set(&self, shown: bool) {
        self.0.store(shown, Ordering::Relaxed);
    }

    /// Whether meters are shown.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Thins level events to one per source per [`LEVEL_EVERY`], keeping the loudest, drops a level
/// that would leave an already empty meter empty (silence, pauses between answers), and drops
/// every level while no meter is shown, so the window is not woken for nothing; every other event
/// passes unchanged.
#[derive(Debug, Default)]
pub struct LevelThrottle {
    sources: Vec<SourceLevel>,
    shown: MetersShown,
}

/// One source's throttle state.
#[derive(Debug, Clone, Copy)]
struct SourceLevel {
    /// When a level was last due (sent, or dropped as unchanged).
    due_at: Option<Instant>,
    /// The loudest (rms, peak) since then.
    rms: f32,
    peak: f32,
    /// Whether the meter shows empty: the last level sent was at or below the floor.
    empty: bool,
}

impl Default for SourceLevel {
    fn default() -> Self {
        SourceLevel {
            due_at: None,
            rms: f32::NEG_INFINITY,
            peak: f32::NEG_INFINITY,
            empty: false,
        }
    }
}

impl LevelThrottle {
    /// A throttle that sends levels only while `shown` says meters are shown.
    pub fn new(shown: MetersShown) -> Self {
        LevelThrottle {
            sources: Vec::new(),
            shown,
        }
    }

    /// The event to send for `event` arriving at `now`, or `None` while a level is held back.
    pub fn pass(&mut self, event: RecorderEvent, now: Instant) -> Option<RecorderEvent> {
        let RecorderEvent::Audio {
            event:
                AudioEvent::Level {
                    source,
                    rms_dbfs,
                    peak_dbfs,
                },
        } = event
        else {
            return Some(event);
        };
        if self.sources.len() <= source {
            self.sources.resize(source + 1, SourceLevel::default());
        }
        let state = &mut self.sources[source];
        if !self.shown.get() {
            // What was held is stale by the time a meter shows again.
            state.rms = f32::NEG_INFINITY;
            state.peak = f32::NEG_INFINITY;
            return None;
        }
        state.rms = state.rms.max(rms_dbfs);
        state.peak = state.peak.max(peak_dbfs);
        if state
            .due_at
            .is_some_and(|at| now.duration_since(at) < LEVEL_EVERY)
        {
            return None;
        }
        let level = AudioEvent::Level {
            source,
            rms_dbfs: state.rms,
            peak_dbfs: state.peak,
        };
        let empty = state.peak <= METER_FLOOR_DBFS;
        let unchanged = empty && state.empty;
        *state = SourceLevel {
            due_at: Some(now),
            empty,
            ..SourceLevel::default()
        };
        (!unchanged).then_some(RecorderEvent::Audio { event: level })
    }
}

/// Forwards what `events` carries to the window, as `wrap` turns it into an event (or drops it),
/// until the sender goes.
pub fn forward<R, T, E>(
    app: AppHandle<R>,
    mut events: broadcast::Receiver<T>,
    mut wrap: impl FnMut(T) -> Option<E> + Send + 'static,
) where
    R: Runtime,
    T: Clone + Send + 'static,
    E: Event + Serialize + Clone,
{
    tauri::async_runtime::spawn(async move {
        use broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(event) => {
                    let Some(event) = wrap(event) else { continue };
                    if let Err(err) = event.emit(&app) {
                        tracing::warn!("cannot send an event to the window: {err}");
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!("the window fell behind: {skipped} events skipped");
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(source: usize, peak_dbfs: f32) -> RecorderEvent {
        RecorderEvent::Audio {
            event: AudioEvent::Level {
                source,
                rms_dbfs: peak_dbfs - 3.0,
                peak_dbfs,
            },
        }
    }

    fn peak(event: Option<RecorderEvent>) -> Option<(usize, f32)> {
        match event? {
            RecorderEvent::Audio {
                event:
                    AudioEvent::Level {
                        source, peak_dbfs, ..
                    },
            } => Some((source, peak_dbfs)),
            other => panic!("not a level: {other:?}"),
        }
    }

    #[test]
    fn levels_are_thinned_per_source_keeping_the_loudest() {
        let mut throttle = LevelThrottle::default();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        // The first level of each source goes at once.
        assert_eq!(
            peak(throttle.pass(level(0, -30.0), at(0))),
            Some((0, -30.0))
        );
        assert_eq!(
            peak(throttle.pass(level(1, -50.0), at(10))),
            Some((1, -50.0))
        );
        // Within 100 ms they are held, and the loudest is sent when the time is up.
        assert_eq!(peak(throttle.pass(level(0, -10.0), at(50))), None);
        assert_eq!(peak(throttle.pass(level(1, -40.0), at(60))), None);
        assert_eq!(
            peak(throttle.pass(level(0, -60.0), at(100))),
            Some((0, -10.0))
        );
        // The held maximum was reset by sending it.
        assert_eq!(peak(throttle.pass(level(0, -70.0), at(150))), None);
        assert_eq!(
            peak(throttle.pass(level(0, -65.0), at(200))),
            Some((0, -65.0))
        );
        assert_eq!(
            peak(throttle.pass(level(1, -45.0), at(110))),
            Some((1, -40.0))
        );
    }

    #[test]
    fn an_empty_meter_is_not_sent_again_until_there_is_sound() {
        let mut throttle = LevelThrottle::default();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(
            peak(throttle.pass(level(0, -20.0), at(0))),
            Some((0, -20.0))
        );
        // The level that empties the meter goes; more silence after it does not.
        assert_eq!(
            peak(throttle.pass(level(0, -90.0), at(100))),
            Some((0, -90.0))
        );
        assert_eq!(peak(throttle.pass(level(0, -120.0), at(200))), None);
        assert_eq!(peak(throttle.pass(level(0, -60.0), at(300))), None);
        // Dropping a silent level still counts as its turn: sound 50 ms later waits for its own.
        assert_eq!(peak(throttle.pass(level(0, -30.0), at(350))), None);
        assert_eq!(
            peak(throttle.pass(level(0, -100.0), at(400))),
            Some((0, -30.0))
        );
        // Another source's meter is its own: its first silent level is sent.
        assert_eq!(
            peak(throttle.pass(level(1, -120.0), at(400))),
            Some((1, -120.0))
        );
    }

    #[test]
    fn no_level_is_sent_while_no_meter_is_shown() {
        let shown = MetersShown::default();
        let mut throttle = LevelThrottle::new(shown.clone());
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(
            peak(throttle.pass(level(0, -30.0), at(0))),
            Some((0, -30.0))
        );
        // A loud level is held for its turn, then the meters go out of sight.
        assert_eq!(peak(throttle.pass(level(0, -5.0), at(50))), None);
        shown.set(false);
        assert_eq!(peak(throttle.pass(level(0, -20.0), at(100))), None);
        assert_eq!(peak(throttle.pass(level(0, -20.0), at(5_000))), None);
        let partial = RecorderEvent::Partial {
            source: "microphone".into(),
            item_id: "item_1".into(),
            text: "1 3".into(),
        };
        assert!(throttle.pass(partial, at(5_000)).is_some());
        // Shown again: the next level goes, and not the loud one held before.
        shown.set(true);
        assert_eq!(
            peak(throttle.pass(level(0, -40.0), at(5_010))),
            Some((0, -40.0))
        );
    }

    #[test]
    fn everything_else_passes_unchanged() {
        let mut throttle = LevelThrottle::default();
        let now = Instant::now();
        for _ in 0..3 {
            let event = RecorderEvent::Partial {
                source: "microphone".into(),
                item_id: "item_1".into(),
                text: "1 3".into(),
            };
            assert!(matches!(
                throttle.pass(event, now),
                Some(RecorderEvent::Partial { text, .. }) if text == "1 3"
            ));
        }
    }
}
