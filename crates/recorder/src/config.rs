//! Configuration: a TOML file in the OS's config folder (`…/hark/config.toml`), overridden by
//! `HARK_*` environment variables, overridden by command-line flags. Nothing is required: with no
//! proxy configured Hark records and stores locally, and says why there is no live transcript.
//! The `[preferences]` table (devices, language, vocabulary, theme) is the recruiter's own; the
//! app's Settings screen writes it, keeping the file's comments, and the CLI reads it too.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{RecorderError, Result};

/// Settings as read from one layer (file, environment or flags).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// The proxy's API base, e.g. `https://hark-proxy.fly.dev/v1`.
    pub proxy_url: Option<String>,
    /// The organisation's Supabase URL.
    pub supabase_url: Option<String>,
    /// The organisation's Supabase anon key.
    pub supabase_anon_key: Option<String>,
    /// Where the database and recordings live.
    pub data_dir: Option<PathBuf>,
    /// The recruiter's preferences (file only).
    #[serde(default, skip_serializing_if = "Preferences::is_empty")]
    pub preferences: Preferences,
}

/// Light, dark, or as the system is.
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Follow the system.
    #[default]
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

/// What a recording starts with unless told otherwise, and how the app looks.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Microphone device id (from `hark devices`); none: the system default.
    pub microphone: Option<String>,
    /// System-audio device id, or `default`; none: system audio is not recorded.
    pub system_audio: Option<String>,
    /// Language spoken, as an ISO-639-1 code such as `en`; none: detected.
    pub language: Option<String>,
    /// Words the transcriber should expect: names, products, jargon.
    pub prompt: Option<String>,
    /// The app's colours.
    pub theme: Option<Theme>,
    /// The global shortcut that starts, or stops and saves, the recording (keys such as
    /// `CommandOrControl+Alt+R`); none: that default.
    pub record_shortcut: Option<String>,
    /// The global shortcut that bookmarks the moment; none: `CommandOrControl+Alt+B`.
    pub bookmark_shortcut: Option<String>,
}

/// The longest vocabulary prompt kept, in characters.
pub const MAX_PROMPT_CHARS: usize = 1_000;

impl Preferences {
    fn is_empty(&self) -> bool {
        *self == Preferences::default()
    }

    /// The preferences with blanks removed, or what is wrong with them and how to fix it.
    pub fn checked(self) -> Result<Preferences> {
        let kept = |value: Option<String>| {
            value
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let language = kept(self.language).map(|l| l.to_ascii_lowercase());
        if let Some(code) = &language
            && !(code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase()))
        {
            return Err(RecorderError::Config(format!(
                "the language {code:?} is not a two-letter ISO-639-1 code; use one like en, de or fr, or leave it empty to detect it"
            )));
        }
        let prompt = kept(self.prompt);
        if let Some(prompt) = &prompt
            && prompt.chars().count() > MAX_PROMPT_CHARS
        {
            return Err(RecorderError::Config(format!(
                "the vocabulary prompt has {} characters; keep it under {MAX_PROMPT_CHARS}: the names and terms, not sentences",
                prompt.chars().count()
            )));
        }
        Ok(Preferences {
            microphone: kept(self.microphone).filter(|m| m != "default"),
            system_audio: kept(self.system_audio).filter(|s| s != "none"),
            language,
            prompt,
            theme: self.theme.filter(|t| *t != Theme::System),
            record_shortcut: kept(self.record_shortcut),
            bookmark_shortcut: kept(self.bookmark_shortcut),
        })
    }
}

impl Layer {
    fn over(self, base: Layer) -> Layer {
        Layer {
            proxy_url: self.proxy_url.or(base.proxy_url),
            supabase_url: self.supabase_url.or(base.supabase_url),
            supabase_anon_key: self.supabase_anon_key.or(base.supabase_anon_key),
            data_dir: self.data_dir.or(base.data_dir),
            preferences: if self.preferences.is_empty() {
                base.preferences
            } else {
                self.preferences
            },
        }
    }
}

/// The settings in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The proxy's API base; `None` records locally without a live transcript.
    pub proxy_url: Option<String>,
    /// The organisation's Supabase URL, when cloud sync is set up.
    pub supabase_url: Option<String>,
    /// The organisation's Supabase anon key.
    pub supabase_anon_key: Option<String>,
    /// Where the database and recordings live.
    pub data_dir: PathBuf,
    /// The file the settings were read from, if it exists.
    pub file: Option<PathBuf>,
    /// The recruiter's preferences.
    pub preferences: Preferences,
}

/// The config file's standard place (`~/.config/hark/config.toml` on Linux,
/// `~/Library/Application Support/hark/config.toml` on macOS, `%APPDATA%\hark\config.toml` on
/// Windows).
pub fn default_file() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("hark").join("config.toml"))
}

/// The data folder's standard place.
pub fn default_data_dir() -> PathBuf {
    dirs::data_local_dir()
        .map(|dir| dir.join("hark"))
        .unwrap_or_else(|| PathBuf::from(".hark"))
}

/// What a new settings file holds: every key, commented out, so the file explains itself.
const TEMPLATE: &str = "\
# Hark's settings, read by the desktop app and the `hark` command.
# HARK_PROXY_URL, HARK_SUPABASE_URL, HARK_SUPABASE_ANON_KEY and HARK_DATA_DIR override them.
#
# The transcription proxy your organisation runs (live transcript):
# proxy_url = \"https://hark-proxy.example.com/v1\"
# Your organisation's Supabase project (sign-in and sync; leave out to keep everything here):
# supabase_url = \"https://abcdefgh.supabase.co\"
# supabase_anon_key = \"eyJ...\"
# Where sessions and recordings are kept:
# data_dir = \"/path/to/folder\"
#
# Your preferences (the app's Settings screen writes these):
# [preferences]
# microphone = \"<id from `hark devices`>\"   # else the system default
# system_audio = \"default\"                  # or an id; else no system audio
# language = \"en\"                           # else detected
# prompt = \"Kubernetes, Terraform, gRPC\"    # names and terms to expect
# theme = \"dark\"                            # light, dark or system
# record_shortcut = \"CommandOrControl+Alt+R\"  # the app's global shortcuts
# bookmark_shortcut = \"CommandOrControl+Alt+B\"
";

/// Creates the settings file with every key commented out (local-only), unless it exists.
pub fn create_file(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    write_settings(path, TEMPLATE)
}

/// Writes the settings file (and its folder), or says why not and what to check.
fn write_settings(path: &Path, text: &str) -> Result<()> {
    let write = || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, text)
    };
    write().map_err(|err| {
        RecorderError::Config(format!(
            "cannot write {}: {err}; check that the folder is writable",
            path.display()
        ))
    })
}

/// Connects to an organisation: saves the proxy URL and the Supabase project in the settings
/// file (keeping its data folder), after checking they are usable. Takes effect at the next start.
pub fn save_connection(
    path: &Path,
    proxy_url: &str,
    supabase_url: &str,
    supabase_anon_key: &str,
) -> Result<()> {
    let trimmed = |value: &str| Some(value.trim().to_string()).filter(|v| !v.is_empty());
    let mut layer = read_file(path)?;
    layer.proxy_url = trimmed(proxy_url);
    layer.supabase_url = trimmed(supabase_url);
    layer.supabase_anon_key = trimmed(supabase_anon_key);
    check_connection(
        &layer.proxy_url,
        &layer.supabase_url,
        &layer.supabase_anon_key,
    )?;
    let text = toml::to_string(&layer)
        .map_err(|err| RecorderError::Config(format!("cannot write the settings: {err}")))?;
    write_settings(
        path,
        &format!("# Hark's settings (see `hark --help`); HARK_* variables override them.\n{text}"),
    )
}

/// Saves the recruiter's preferences in the settings file's `[preferences]` table, keeping
/// everything else in the file (comments included). Returns them as saved.
pub fn save_preferences(path: &Path, preferences: Preferences) -> Result<Preferences> {
    let preferences = preferences.checked()?;
    let table = toml_edit::ser::to_document(&preferences)
        .map_err(|err| RecorderError::Config(format!("cannot write the preferences: {err}")))?;
    edit_settings(path, |doc| {
        if preferences.is_empty() {
            doc.remove("preferences");
        } else {
            doc.insert(
                "preferences",
                toml_edit::Item::Table(table.as_table().clone()),
            );
        }
    })?;
    Ok(preferences)
}

/// Points the settings file's `data_dir` at `dir` (after the folder was copied there), keeping
/// everything else in the file. Takes effect at the next start.
pub fn save_data_dir(path: &Path, dir: &Path) -> Result<()> {
    let dir = dir.to_str().ok_or_else(|| {
        RecorderError::Invalid(format!(
            "{} is not valid Unicode, which the settings file cannot hold; choose a folder with a plainer name",
            dir.display()
        ))
    })?;
    edit_settings(path, |doc| {
        doc.insert("data_dir", toml_edit::value(dir));
    })
}

/// Changes the settings file (created from the template if missing) with `edit`, keeping its
/// comments; a file that is not valid is reported, not overwritten.
fn edit_settings(path: &Path, edit: impl FnOnce(&mut toml_edit::DocumentMut)) -> Result<()> {
    let text = read_text(path)?.unwrap_or_else(|| TEMPLATE.to_string());
    parse_layer(path, &text)?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|err| RecorderError::Config(format!("{} is not valid: {err}", path.display())))?;
    edit(&mut doc);
    write_settings(path, &doc.to_string())
}

/// The settings file's text, or `None` when there is no file yet.
fn read_text(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(RecorderError::Config(format!(
            "cannot read {}: {err}",
            path.display()
        ))),
    }
}

fn read_file(path: &Path) -> Result<Layer> {
    match read_text(path)? {
        Some(text) => parse_layer(path, &text),
        None => Ok(Layer::default()),
    }
}

fn parse_layer(path: &Path, text: &str) -> Result<Layer> {
    toml::from_str(text).map_err(|err| {
        RecorderError::Config(format!(
            "{} is not valid: {err}; the keys are proxy_url, supabase_url, supabase_anon_key, data_dir and [preferences]",
            path.display()
        ))
    })
}

fn from_env(var: impl Fn(&str) -> Option<String>) -> Layer {
    let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    Layer {
        proxy_url: get("HARK_PROXY_URL"),
        supabase_url: get("HARK_SUPABASE_URL"),
        supabase_anon_key: get("HARK_SUPABASE_ANON_KEY"),
        data_dir: get("HARK_DATA_DIR").map(PathBuf::from),
        preferences: Preferences::default(),
    }
}

/// Checks an organisation's settings before they are saved: the Supabase URL and anon key are
/// required, and every URL must be http(s).
pub fn check_connection(
    proxy_url: &Option<String>,
    supabase_url: &Option<String>,
    supabase_anon_key: &Option<String>,
) -> Result<()> {
    let (Some(url), Some(key)) = (supabase_url, supabase_anon_key) else {
        return Err(RecorderError::Config(
            "connecting needs the Supabase URL and its anon key; your admin has both".into(),
        ));
    };
    check_url("the proxy URL", proxy_url)?;
    check_url("the Supabase URL", supabase_url)?;
    hark_cloud::Project::new(url, key)?;
    Ok(())
}

fn check_url(name: &str, url: &Option<String>) -> Result<()> {
    if let Some(url) = url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(RecorderError::Config(format!(
            "{name} {url:?} is not an http(s) URL; set it like https://hark-proxy.example.com/v1"
        )));
    }
    Ok(())
}

impl Config {
    /// Reads the file (`file`, else the standard place), then the environment, then `flags`.
    pub fn load(file: Option<&Path>, flags: Layer) -> Result<Config> {
        Config::load_with(file, flags, |name| std::env::var(name).ok())
    }

    /// [`Config::load`] with the environment given (tests).
    pub fn load_with(
        file: Option<&Path>,
        flags: Layer,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        let file = file.map(Path::to_path_buf).or_else(default_file);
        let from_file = match &file {
            Some(path) => read_file(path)?,
            None => Layer::default(),
        };
        let merged = flags.over(from_env(var).over(from_file));
        check_url("the proxy URL", &merged.proxy_url)?;
        check_url("the Supabase URL", &merged.supabase_url)?;
        if merged.supabase_url.is_some() != merged.supabase_anon_key.is_some() {
            return Err(RecorderError::Config(
                "cloud sync needs both the Supabase URL and its anon key (HARK_SUPABASE_URL and HARK_SUPABASE_ANON_KEY)".into(),
            ));
        }
        Ok(Config {
            proxy_url: merged
                .proxy_url
                .map(|u| u.trim_end_matches('/').to_string()),
            supabase_url: merged.supabase_url,
            supabase_anon_key: merged.supabase_anon_key,
            data_dir: merged.data_dir.unwrap_or_else(default_data_dir),
            file: file.filter(|f| f.exists()),
            preferences: merged.preferences,
        })
    }

    /// Local-only settings in the standard data folder: what the app runs with while its settings
    /// file or `HARK_*` variables are broken (it says so, and nothing recorded is lost).
    pub fn fallback() -> Config {
        Config {
            proxy_url: None,
            supabase_url: None,
            supabase_anon_key: None,
            data_dir: default_data_dir(),
            file: None,
            preferences: Preferences::default(),
        }
    }

    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("hark.db")
    }

    /// Where recording files go.
    pub fn recordings_dir(&self) -> PathBuf {
        self.data_dir.join("recordings")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_settings_file_explains_itself_and_reads_as_local_only() {
        let dir = std::env::temp_dir().join(format!("hark-config-new-{}", std::process::id()));
        // New: not a file an earlier run with the same process id left (create keeps one).
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("nested").join("config.toml");
        create_file(&file).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("# proxy_url = "), "{text}");
        let config = Config::load_with(Some(&file), Layer::default(), |_| None).unwrap();
        assert_eq!(config.proxy_url, None);
        assert_eq!(config.supabase_url, None);
        assert_eq!(config.file.as_deref(), Some(file.as_path()));
        // An existing file is left alone.
        std::fs::write(&file, "proxy_url = \"https://p.example/v1\"\n").unwrap();
        create_file(&file).unwrap();
        let config = Config::load_with(Some(&file), Layer::default(), |_| None).unwrap();
        assert_eq!(config.proxy_url.as_deref(), Some("https://p.example/v1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn connecting_saves_a_usable_organisation_and_refuses_a_broken_one() {
        let dir = std::env::temp_dir().join(format!("hark-config-connect-{}", std::process::id()));
        let file = dir.join("config.toml");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&file, "data_dir = \"/srv/hark\"\n").unwrap();
        let err = save_connection(&file, "https://p.example/v1", "ftp://nope", "key")
            .unwrap_err()
            .to_string();
        assert!(err.contains("Supabase URL"), "{err}");
        let err = save_connection(&file, "", "https://abc.supabase.co", " ")
            .unwrap_err()
            .to_string();
        assert!(err.contains("anon key"), "{err}");
        // Nothing was written by the refusals.
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "data_dir = \"/srv/hark\"\n"
        );
        save_connection(
            &file,
            "https://p.example/v1 ",
            "https://abc.supabase.co",
            "anon-key",
        )
        .unwrap();
        let config = Config::load_with(Some(&file), Layer::default(), |_| None).unwrap();
        assert_eq!(config.proxy_url.as_deref(), Some("https://p.example/v1"));
        assert_eq!(
            config.supabase_url.as_deref(),
            Some("https://abc.supabase.co")
        );
        assert_eq!(config.supabase_anon_key.as_deref(), Some("anon-key"));
        assert_eq!(config.data_dir, PathBuf::from("/srv/hark"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flags_beat_the_environment_which_beats_the_file() {
        let dir = std::env::temp_dir().join(format!("hark-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        std::fs::write(
            &file,
            "proxy_url = \"https://file.example/v1\"\ndata_dir = \"/from/file\"\n",
        )
        .unwrap();
        let env = |name: &str| (name == "HARK_DATA_DIR").then(|| "/from/env".to_string());
        let config = Config::load_with(Some(&file), Layer::default(), env).unwrap();
        assert_eq!(config.proxy_url.as_deref(), Some("https://file.example/v1"));
        assert_eq!(config.data_dir, PathBuf::from("/from/env"));
        let flags = Layer {
            proxy_url: Some("http://127.0.0.1:8080/v1/".into()),
            ..Layer::default()
        };
        let config = Config::load_with(Some(&file), flags, env).unwrap();
        assert_eq!(
            config.proxy_url.as_deref(),
            Some("http://127.0.0.1:8080/v1")
        );
    }

    #[test]
    fn bad_settings_name_the_problem_and_the_fix() {
        let dir = std::env::temp_dir().join(format!("hark-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        std::fs::write(&file, "proxy = \"x\"\n").unwrap();
        let err = Config::load_with(Some(&file), Layer::default(), |_| None).unwrap_err();
        assert!(err.to_string().contains("proxy_url, supabase_url"), "{err}");
        let err = Config::load_with(Some(&dir.join("none.toml")), Layer::default(), |name| {
            (name == "HARK_PROXY_URL").then(|| "hark.example".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("not an http(s) URL"), "{err}");
        let err = Config::load_with(Some(&dir.join("none.toml")), Layer::default(), |name| {
            (name == "HARK_SUPABASE_URL").then(|| "https://x.supabase.co".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("anon key"), "{err}");
    }

    #[test]
    fn preferences_are_saved_beside_the_rest_and_bad_ones_refused() {
        let dir = std::env::temp_dir().join(format!("hark-config-prefs-{}", std::process::id()));
        let file = dir.join("config.toml");
        create_file(&file).unwrap();
        std::fs::write(
            &file,
            format!("{}proxy_url = \"https://p.example/v1\"\n", TEMPLATE),
        )
        .unwrap();
        let saved = save_preferences(
            &file,
            Preferences {
                microphone: Some(" alsa:mic-2 ".into()),
                system_audio: Some("none".into()),
                language: Some("DE".into()),
                prompt: Some("Kubernetes, gRPC".into()),
                theme: Some(Theme::Dark),
                record_shortcut: None,
                bookmark_shortcut: Some(" CommandOrControl+Alt+K ".into()),
            },
        )
        .unwrap();
        assert_eq!(saved.microphone.as_deref(), Some("alsa:mic-2"));
        assert_eq!(
            saved.bookmark_shortcut.as_deref(),
            Some("CommandOrControl+Alt+K")
        );
        assert_eq!(saved.system_audio, None, "none means not recorded");
        assert_eq!(saved.language.as_deref(), Some("de"));
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains("# The transcription proxy"),
            "comments kept: {text}"
        );
        let config = Config::load_with(Some(&file), Layer::default(), |_| None).unwrap();
        assert_eq!(config.proxy_url.as_deref(), Some("https://p.example/v1"));
        assert_eq!(config.preferences, saved);

        // Refusals name the fix and write nothing.
        for (bad, expected) in [
            (
                Preferences {
                    language: Some("English".into()),
                    ..Preferences::default()
                },
                "ISO-639-1",
            ),
            (
                Preferences {
                    prompt: Some("x".repeat(MAX_PROMPT_CHARS + 1)),
                    ..Preferences::default()
                },
                "keep it under",
            ),
        ] {
            let err = save_preferences(&file, bad).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
        }
        // Back to the defaults: the table goes, the rest stays.
        save_preferences(&file, Preferences::default()).unwrap();
        let config = Config::load_with(Some(&file), Layer::default(), |_| None).unwrap();
        assert_eq!(config.preferences, Preferences::default());
        assert_eq!(config.proxy_url.as_deref(), Some("https://p.example/v1"));
        // A broken file is reported, not overwritten.
        std::fs::write(&file, "proxy = 1\n").unwrap();
        let err = save_preferences(&file, saved).unwrap_err().to_string();
        assert!(err.contains("is not valid"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "proxy = 1\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
