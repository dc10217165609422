//! The store's one error type.

/// Result alias for this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What can go wrong in the local store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened.
    #[error(
        "cannot open the local database {path}: {source}; check that the data folder is writable (HARK_DATA_DIR or --data-dir chooses another)"
    )]
    Open {
        /// The file.
        path: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The data folder could not be created.
    #[error("cannot create the data folder {path}: {source}")]
    Io {
        /// The folder.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The schema could not be brought up to date.
    #[error(
        "cannot update the local database {path} to this version of Hark: {message}; keep the file and report it"
    )]
    Migrate {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
    /// A query failed.
    #[error("local database: cannot {action}: {source}")]
    Sql {
        /// What was being done.
        action: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// Nothing has that id.
    #[error("no {what} {id}; {}", where_to_see(.what))]
    NotFound {
        /// Interview, session, ….
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A name or prefix matches more than one thing.
    #[error("{query:?} matches several: {}; use the full id", matches.join(", "))]
    Ambiguous {
        /// What was asked for.
        query: String,
        /// The ids it matches.
        matches: Vec<String>,
    },
    /// The interview is another project's: a session recorded for it with this one connected
    /// would be refused when it syncs.
    #[error(
        "the interview {title:?} ({id}) belongs to {project}, not to {here}, so its organisation would refuse a recording made for it here; connect to its project first (the app's Settings, `supabase_url` in the config file or HARK_SUPABASE_URL), or record under a new interview title"
    )]
    ElsewhereInterview {
        /// Its id.
        id: String,
        /// Its title.
        title: String,
        /// Its project's URL, or "another project" (which one unknown).
        project: String,
        /// The project connected, or "local-only mode" when none is.
        here: String,
    },
    /// The session is not the sending account's to send.
    #[error("this session is not sent from here: {why}")]
    Held {
        /// Whose it is, and what to do.
        why: String,
    },
    /// A value is not acceptable.
    #[error("{field} {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// Where the recruiter sees the things of kind `what` that there are.
fn where_to_see(what: &str) -> &'static str {
    match what {
        "interview" => "see them in the app's interview picker or with `hark interviews`",
        _ => "see them in the app's library or with `hark sessions`",
    }
}

impl StoreError {
    /// Wraps a SQLite error with what was being done.
    pub(crate) fn sql(action: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
        move |source| StoreError::Sql { action, source }
    }
}
