//! Configuration: a TOML file in the OS's config folder (`…/hark/config.toml`), overridden by
//! `HARK_*` environment variables, overridden by command-line flags. Nothing is required: with no
//! proxy configured Hark records and stores locally, and says why there is no live transcript.

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
}

impl Layer {
    fn over(self, base: Layer) -> Layer {
        Layer {
            proxy_url: self.proxy_url.or(base.proxy_url),
            supabase_url: self.supabase_url.or(base.supabase_url),
            supabase_anon_key: self.supabase_anon_key.or(base.supabase_anon_key),
            data_dir: self.data_dir.or(base.data_dir),
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
";

/// Creates the settings file with every key commented out (local-only), unless it exists.
pub fn create_file(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let write = || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, TEMPLATE)
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
    if layer.supabase_url.is_none() || layer.supabase_anon_key.is_none() {
        return Err(RecorderError::Config(
            "connecting needs the Supabase URL and its anon key; your admin has both".into(),
        ));
    }
    check_url("the proxy URL", &layer.proxy_url)?;
    check_url("the Supabase URL", &layer.supabase_url)?;
    if let (Some(url), Some(key)) = (&layer.supabase_url, &layer.supabase_anon_key) {
        hark_cloud::Project::new(url, key)?;
    }
    let text = toml::to_string(&layer)
        .map_err(|err| RecorderError::Config(format!("cannot write the settings: {err}")))?;
    let write = || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(
            path,
            format!(
                "# Hark's settings (see `hark --help`); HARK_* variables override them.\n{text}"
            ),
        )
    };
    write().map_err(|err| {
        RecorderError::Config(format!(
            "cannot write {}: {err}; check that the folder is writable",
            path.display()
        ))
    })
}

fn read_file(path: &Path) -> Result<Layer> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Layer::default()),
        Err(err) => {
            return Err(RecorderError::Config(format!(
                "cannot read {}: {err}",
                path.display()
            )));
        }
    };
    toml::from_str(&text).map_err(|err| {
        RecorderError::Config(format!(
            "{} is not valid: {err}; the keys are proxy_url, supabase_url, supabase_anon_key and data_dir",
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
    }
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
}
