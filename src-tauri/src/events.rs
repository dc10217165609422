//! Typed events to the window: every recorder event but levels (connection state, partial and
//! final segments, warnings) as `RecordingEvent`, levels as `LevelsEvent`, every sync status
//! change as `SyncStatusEvent`, and `CloseRequested` when the window is closed while recording.
//! Levels go ten times a second with every source in one event (the loudest of each tenth of a
//! second), which is all a meter shows; silence after an emptied meter is not sent at all, and
//! nothing is sent while no meter is shown.

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

/// Something happened in the current recording (levels come as [`LevelsEvent`]).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct RecordingEvent(pub RecorderEvent);

/// A session's sync status changed (pending, syncing, synced, failed).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct SyncStatusEvent(pub SyncEvent);

/// The window was asked to close while recording: the UI asks whether to stop and quit.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct CloseRequested;

/// How often levels reach the window.
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

/// The meters' levels, every source in one event (one script for the page to run, not one per
/// source): the loudest peak per source index since the last (dBFS), `null` where a meter stays
/// as it is.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type, tauri_specta::Event)]
pub struct LevelsEvent {
    pub peaks_dbfs: Vec<Option<f32>>,
}

/// Turns the recorder's level events into [`LevelsEvent`]s: at most one per [`LEVEL_EVERY`] with
/// every source's loudest peak since the last, leaving out a meter that would stay empty (silence,
/// pauses between answers), and none at all while no meter is shown, so the window is not woken
/// for nothing. Every other event is [`RecordingEvent`]'s.
#[derive(Debug, Default)]
pub struct LevelThrottle {
    sources: Vec<SourceLevel>,
    /// When levels were last due (sent, or left out as unchanged).
    due_at: Option<Instant>,
    shown: MetersShown,
}

/// One source's throttle state.
#[derive(Debug, Clone, Copy)]
struct SourceLevel {
    /// The loudest peak since levels were last due; `None` if none came.
    peak: Option<f32>,
    /// Whether the meter shows empty: the last peak sent was at or below the floor.
    empty: bool,
}

impl LevelThrottle {
    /// A throttle that sends levels only while `shown` says meters are shown.
    pub fn new(shown: MetersShown) -> Self {
        LevelThrottle {
            shown,
            ..LevelThrottle::default()
        }
    }

    /// The levels to send for `event` arriving at `now`, or `None` while they are held back (and
    /// for every event that is not a level).
    pub fn pass(&mut self, event: &RecorderEvent, now: Instant) -> Option<LevelsEvent> {
        let RecorderEvent::Audio {
            event: AudioEvent::Level {
                source, peak_dbfs, ..
            },
        } = *event
        else {
            return None;
        };
        if self.sources.len() <= source {
            let unseen = SourceLevel {
                peak: None,
                empty: false,
            };
            self.sources.resize(source + 1, unseen);
        }
        if !self.shown.get() {
            // What was held is stale by the time a meter shows again.
            self.sources.iter_mut().for_each(|state| state.peak = None);
            return None;
        }
        let state = &mut self.sources[source];
        state.peak = Some(state.peak.map_or(peak_dbfs, |held| held.max(peak_dbfs)));
        if self
            .due_at
            .is_some_and(|at| now.duration_since(at) < LEVEL_EVERY)
        {
            return None;
        }
        self.due_at = Some(now);
        let peaks_dbfs: Vec<Option<f32>> = self
            .sources
            .iter_mut()
            .map(|state| {
                let peak = state.peak.take()?;
                let empty = peak <= METER_FLOOR_DBFS;
                let unchanged = empty && state.empty;
                state.empty = empty;
                (!unchanged).then_some(peak)
            })
            .collect();
        peaks_dbfs
            .iter()
            .any(Option::is_some)
            .then_some(LevelsEvent { peaks_dbfs })
    }
}

/// Whether `event` is a level, which reaches the window as a [`LevelsEvent`] instead.
pub fn is_level(event: &RecorderEvent) -> bool {
    matches!(
        event,
        RecorderEvent::Audio {
            event: AudioEvent::Level { .. }
        }
    )
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

    fn peaks(event: Option<LevelsEvent>) -> Option<Vec<Option<f32>>> {
        event.map(|levels| levels.peaks_dbfs)
    }

    /// A test clock: the instant `ms` milliseconds after it was made.
    fn clock() -> impl Fn(u64) -> Instant {
        let t0 = Instant::now();
        move |ms| t0 + Duration::from_millis(ms)
    }

    #[test]
    fn levels_go_ten_times_a_second_all_sources_at_once_keeping_the_loudest() {
        let mut throttle = LevelThrottle::default();
        let at = clock();
        // The first level goes at once.
        assert_eq!(
            peaks(throttle.pass(&level(0, -30.0), at(0))),
            Some(vec![Some(-30.0)])
        );
        // Within 100 ms levels are held, the loudest per source.
        assert_eq!(peaks(throttle.pass(&level(1, -50.0), at(10))), None);
        assert_eq!(peaks(throttle.pass(&level(0, -10.0), at(50))), None);
        assert_eq!(peaks(throttle.pass(&level(1, -40.0), at(60))), None);
        assert_eq!(
            peaks(throttle.pass(&level(0, -60.0), at(100))),
            Some(vec![Some(-10.0), Some(-40.0)])
        );
        // Sending reset what was held; a source with no level since stays as it is.
        assert_eq!(peaks(throttle.pass(&level(0, -70.0), at(150))), None);
        assert_eq!(
            peaks(throttle.pass(&level(0, -65.0), at(200))),
            Some(vec![Some(-65.0), None])
        );
        assert_eq!(
            peaks(throttle.pass(&level(1, -45.0), at(300))),
            Some(vec![None, Some(-45.0)])
        );
    }

    #[test]
    fn an_empty_meter_is_not_sent_again_until_there_is_sound() {
        let mut throttle = LevelThrottle::default();
        let at = clock();
        assert_eq!(
            peaks(throttle.pass(&level(0, -20.0), at(0))),
            Some(vec![Some(-20.0)])
        );
        // The level that empties the meter goes; more silence after it does not.
        assert_eq!(
            peaks(throttle.pass(&level(0, -90.0), at(100))),
            Some(vec![Some(-90.0)])
        );
        assert_eq!(peaks(throttle.pass(&level(0, -120.0), at(200))), None);
        assert_eq!(peaks(throttle.pass(&level(0, -60.0), at(300))), None);
        // Leaving out silence still counts as the turn: sound 50 ms later waits for its own.
        assert_eq!(peaks(throttle.pass(&level(0, -30.0), at(350))), None);
        assert_eq!(
            peaks(throttle.pass(&level(0, -100.0), at(400))),
            Some(vec![Some(-30.0)])
        );
        // Another source's meter is its own: its first silent level is sent, the silent one's
        // next is not.
        assert_eq!(peaks(throttle.pass(&level(0, -120.0), at(450))), None);
        assert_eq!(
            peaks(throttle.pass(&level(1, -120.0), at(500))),
            Some(vec![Some(-120.0), Some(-120.0)])
        );
        assert_eq!(peaks(throttle.pass(&level(0, -120.0), at(550))), None);
        assert_eq!(
            peaks(throttle.pass(&level(1, -20.0), at(600))),
            Some(vec![None, Some(-20.0)])
        );
    }

    #[test]
    fn no_level_is_sent_while_no_meter_is_shown() {
        let shown = MetersShown::default();
        let mut throttle = LevelThrottle::new(shown.clone());
        let at = clock();
        assert_eq!(
            peaks(throttle.pass(&level(0, -30.0), at(0))),
            Some(vec![Some(-30.0)])
        );
        // A loud level is held for its turn, then the meters go out of sight.
        assert_eq!(peaks(throttle.pass(&level(0, -5.0), at(50))), None);
        shown.set(false);
        assert_eq!(peaks(throttle.pass(&level(0, -20.0), at(100))), None);
        assert_eq!(peaks(throttle.pass(&level(0, -20.0), at(5_000))), None);
        // Shown again: the next level goes, and not the loud one held before.
        shown.set(true);
        assert_eq!(
            peaks(throttle.pass(&level(0, -40.0), at(5_010))),
            Some(vec![Some(-40.0)])
        );
    }

    #[test]
    fn every_other_event_is_left_to_recording_event() {
        let mut throttle = LevelThrottle::default();
        let partial = RecorderEvent::Partial {
            source: "microphone".into(),
            item_id: "item_1".into(),
            text: "1 3".into(),
        };
        assert_eq!(throttle.pass(&partial, Instant::now()), None);
        assert!(!is_level(&partial));
        assert!(is_level(&level(0, -3.0)));
    }
}
