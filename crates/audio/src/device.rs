//! Capture devices: listing with stable ids, picking by id with fallback, and turning cpal's
//! errors into messages that name the problem and the fix on each operating system.

use cpal::traits::{DeviceTrait, HostTrait};
use serde::Serialize;

use crate::error::{AudioError, Result};

/// What a source records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum SourceKind {
    /// The recruiter's microphone.
    Microphone,
    /// What the computer plays (a remote candidate's voice): a loopback of the output device,
    /// or on Linux the sound server's monitor source.
    System,
}

impl SourceKind {
    fn noun(self) -> &'static str {
        match self {
            SourceKind::Microphone => "microphone",
            SourceKind::System => "system audio source",
        }
    }
}

/// Which device a source should use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "id")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum DeviceChoice {
    /// Whatever the system's default is, following it when it changes.
    Default,
    /// One device by its stable id (from [`list_devices`]); the default stands in while it is
    /// missing.
    Id(String),
}

/// One way a device can deliver audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FormatRange {
    /// Sample format, such as `f32` or `i16`.
    pub sample_format: String,
    /// Channel count.
    pub channels: u16,
    /// Lowest sample rate in Hz.
    pub min_rate: u32,
    /// Highest sample rate in Hz.
    pub max_rate: u32,
}

/// A capture device as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DeviceInfo {
    /// Stable id (`host:name`), to store in settings and pass back as [`DeviceChoice::Id`].
    pub id: String,
    /// Human name.
    pub name: String,
    /// Microphone-like input or a system-audio source.
    pub kind: SourceKind,
    /// Whether it is the system's default for its kind.
    pub is_default: bool,
    /// The format capture will open it with (rate, channels, sample format).
    pub default_format: Option<FormatRange>,
    /// Every supported format (channel counts above 8 left out).
    pub formats: Vec<FormatRange>,
}

/// The audio host Hark captures through: PulseAudio/PipeWire on Linux when a server runs
/// (sources and monitors can be picked by name), else ALSA; WASAPI on Windows; Core Audio on
/// macOS.
/// `HARK_AUDIO_HOST` (a cpal host name such as `alsa` or `pulseaudio`) overrides the choice.
pub(crate) fn host() -> cpal::Host {
    if let Ok(wanted) = std::env::var("HARK_AUDIO_HOST") {
        let found = cpal::available_hosts()
            .into_iter()
            .find(|id| id.name().eq_ignore_ascii_case(&wanted));
        match found.map(cpal::host_from_id) {
            Some(Ok(host)) => return host,
            _ => {
                tracing::warn!(%wanted, "HARK_AUDIO_HOST names no available audio host; using the default")
            }
        }
    }
    cpal::default_host()
}

pub(crate) fn is_pulse(host: &cpal::Host) -> bool {
    #[cfg(target_os = "linux")]
    {
        host.id() == cpal::HostId::PulseAudio
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = host;
        false
    }
}

/// Whether a Linux sound-server source is the monitor of an output (system audio).
fn is_monitor_name(id: &str) -> bool {
    id.ends_with(".monitor")
}

fn device_id(device: &cpal::Device) -> String {
    device
        .id()
        .map(|id| id.to_string())
        .unwrap_or_else(|_| device.to_string())
}

fn device_name(device: &cpal::Device) -> String {
    device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| device_id(device))
}

/// The devices that can record `kind`, with how capture would open them.
fn candidates(host: &cpal::Host, kind: SourceKind) -> Result<Vec<cpal::Device>> {
    let all = host
        .devices()
        .map_err(|err| from_cpal(err, "the sound system", kind))?;
    let pulse = is_pulse(host);
    Ok(all
        .filter(|device| {
            let monitor = pulse && is_monitor_name(&device_id(device));
            match kind {
                SourceKind::Microphone => device.supports_input() && !monitor,
                // Linux: monitor sources. Windows and macOS: loopback of output devices.
                SourceKind::System if pulse => monitor,
                SourceKind::System => {
                    cfg!(any(windows, target_os = "macos")) && device.supports_output()
                }
            }
        })
        .collect())
}

fn default_device(host: &cpal::Host, kind: SourceKind) -> Option<cpal::Device> {
    match kind {
        SourceKind::Microphone => {
            let device = host.default_input_device()?;
            // PulseAudio may name a monitor as the default source when no microphone exists.
            (!(is_pulse(host) && is_monitor_name(&device_id(&device)))).then_some(device)
        }
        SourceKind::System if is_pulse(host) => {
            let sink = host.default_output_device()?;
            let monitor = format!("{}.monitor", device_id(&sink));
            candidates(host, kind)
                .ok()?
                .into_iter()
                .find(|device| device_id(device) == monitor)
        }
        SourceKind::System if cfg!(any(windows, target_os = "macos")) => {
            host.default_output_device()
        }
        SourceKind::System => None,
    }
}

fn format_of(sample_format: cpal::SampleFormat, channels: u16, min: u32, max: u32) -> FormatRange {
    FormatRange {
        sample_format: sample_format.to_string(),
        channels,
        min_rate: min,
        max_rate: max,
    }
}

/// The stream configuration capture opens `device` with.
pub(crate) fn capture_config(
    device: &cpal::Device,
    kind: SourceKind,
) -> std::result::Result<cpal::SupportedStreamConfig, cpal::Error> {
    match kind {
        SourceKind::System if !cfg!(target_os = "linux") => device.default_output_config(),
        _ => device.default_input_config(),
    }
}

fn describe(
    host: &cpal::Host,
    device: &cpal::Device,
    kind: SourceKind,
    default_id: Option<&str>,
) -> DeviceInfo {
    let id = device_id(device);
    let default_format = capture_config(device, kind).ok().map(|config| {
        format_of(
            config.sample_format(),
            config.channels(),
            config.sample_rate(),
            config.sample_rate(),
        )
    });
    // A sound server converts any format; listing them all would only hide the native one.
    let formats = if is_pulse(host) {
        default_format.iter().cloned().collect()
    } else {
        let ranges = match kind {
            SourceKind::System if !cfg!(target_os = "linux") => device
                .supported_output_configs()
                .map(|it| it.collect::<Vec<_>>()),
            _ => device
                .supported_input_configs()
                .map(|it| it.collect::<Vec<_>>()),
        };
        let mut formats: Vec<FormatRange> = ranges
            .unwrap_or_default()
            .into_iter()
            .filter(|range| range.channels() <= 8)
            .map(|range| {
                format_of(
                    range.sample_format(),
                    range.channels(),
                    range.min_sample_rate(),
                    range.max_sample_rate(),
                )
            })
            .collect();
        formats.dedup();
        formats
    };
    DeviceInfo {
        is_default: default_id == Some(id.as_str()),
        name: device_name(device),
        id,
        kind,
        default_format,
        formats,
    }
}

/// Every device that can record microphone or system audio, defaults marked.
pub fn list_devices() -> Result<Vec<DeviceInfo>> {
    let host = host();
    let mut out = Vec::new();
    for kind in [SourceKind::Microphone, SourceKind::System] {
        let default_id = default_device(&host, kind).map(|d| device_id(&d));
        for device in candidates(&host, kind)? {
            out.push(describe(&host, &device, kind, default_id.as_deref()));
        }
        // ALSA's `default` may not be among the hints: list it anyway.
        if let Some(default_id) = &default_id
            && !out.iter().any(|d| d.kind == kind && &d.id == default_id)
            && let Some(device) = default_device(&host, kind)
        {
            out.push(describe(&host, &device, kind, Some(default_id)));
        }
    }
    Ok(out)
}

/// How a device was resolved from a [`DeviceChoice`].
pub(crate) struct Resolved {
    pub device: cpal::Device,
    pub info: DeviceInfo,
    /// The chosen id is missing and the default stands in.
    pub fallback: bool,
}

/// Finds the device for `choice`; a missing chosen device falls back to the default.
pub(crate) fn resolve(
    host: &cpal::Host,
    kind: SourceKind,
    choice: &DeviceChoice,
) -> Result<Resolved> {
    let default = default_device(host, kind);
    let default_id = default.as_ref().map(device_id);
    if let DeviceChoice::Id(wanted) = choice
        && let Some(device) = candidates(host, kind)?
            .into_iter()
            .find(|device| &device_id(device) == wanted)
    {
        let info = describe(host, &device, kind, default_id.as_deref());
        return Ok(Resolved {
            device,
            info,
            fallback: false,
        });
    }
    match default {
        Some(device) => {
            let info = describe(host, &device, kind, default_id.as_deref());
            Ok(Resolved {
                device,
                info,
                fallback: matches!(choice, DeviceChoice::Id(_)),
            })
        }
        None => Err(no_device(kind)),
    }
}

/// The devices of one kind present at one moment.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// The default device's id.
    pub default_id: Option<String>,
    /// Every connected device's id.
    pub ids: Vec<String>,
}

/// What is connected now. Use a host of its own: PulseAudio requests on the connection that
/// carries a record stream can stall it.
pub(crate) fn snapshot(host: &cpal::Host, kind: SourceKind) -> Result<Snapshot> {
    Ok(Snapshot {
        default_id: default_device(host, kind).map(|d| device_id(&d)),
        ids: candidates(host, kind)?.iter().map(device_id).collect(),
    })
}

fn no_device(kind: SourceKind) -> AudioError {
    match kind {
        SourceKind::System if cfg!(target_os = "linux") => AudioError::SystemAudioUnavailable {
            reason: "it needs a PulseAudio or PipeWire sound server (install pipewire-pulse or \
                     pulseaudio and log in again); recording the microphone still works"
                .into(),
        },
        SourceKind::System => AudioError::SystemAudioUnavailable {
            reason: "no output device was found to record from; connect speakers or headphones"
                .into(),
        },
        SourceKind::Microphone => AudioError::NoDevice {
            what: kind.noun(),
            fix: NO_MICROPHONE_FIX.into(),
        },
    }
}

#[cfg(target_os = "linux")]
const NO_MICROPHONE_FIX: &str = "connect a microphone and check that the sound server runs \
    (PipeWire or PulseAudio: `pactl info` should answer)";
#[cfg(target_os = "macos")]
const NO_MICROPHONE_FIX: &str = "connect a microphone and check System Settings › Sound › Input";
#[cfg(windows)]
const NO_MICROPHONE_FIX: &str = "connect a microphone and check Settings › System › Sound › Input";
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
const NO_MICROPHONE_FIX: &str = "connect a microphone";

#[cfg(target_os = "macos")]
const PERMISSION_FIX: [&str; 2] = [
    "allow Hark in System Settings › Privacy & Security › Microphone, then start again",
    "allow Hark in System Settings › Privacy & Security › Screen & System Audio Recording \
     (System Audio Recording Only; macOS 14.2 or later), then start again",
];
#[cfg(windows)]
const PERMISSION_FIX: [&str; 2] = [
    "turn on Settings › Privacy & security › Microphone › \"Let desktop apps access your \
     microphone\", then start again",
    "check that no policy blocks audio loopback capture, then start again",
];
#[cfg(not(any(target_os = "macos", windows)))]
const PERMISSION_FIX: [&str; 2] = [
    "allow microphone access in your desktop's privacy settings (or the Flatpak portal), or add \
     your user to the `audio` group, then start again",
    "allow access to the sound server's monitor sources, then start again",
];

/// Maps a cpal error to one that names the problem and the fix.
pub(crate) fn from_cpal(err: cpal::Error, device: &str, kind: SourceKind) -> AudioError {
    use cpal::ErrorKind as K;
    let message = err.to_string();
    match err.kind() {
        K::DeviceNotAvailable | K::HostUnavailable => no_device(kind),
        K::BackendError if message.contains("Connection refused") => no_device(kind),
        K::PermissionDenied => AudioError::PermissionDenied {
            device: device.to_string(),
            fix: PERMISSION_FIX[usize::from(kind == SourceKind::System)],
        },
        K::DeviceBusy => AudioError::DeviceBusy {
            device: device.to_string(),
        },
        K::UnsupportedConfig | K::UnsupportedOperation | K::InvalidInput => {
            AudioError::UnsupportedFormat {
                device: device.to_string(),
                detail: message,
            }
        }
        _ => AudioError::Capture {
            device: device.to_string(),
            message,
        },
    }
}
