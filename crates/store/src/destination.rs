//! Where a session may be synced: the organisation's project it was recorded for and as whom,
//! or nowhere (recorded local-only) until its recruiter chooses to send it. The outbox only
//! hands a session to the account it belongs to, so connecting another organisation, or
//! another recruiter signing in on this computer, never sends it somewhere unasked.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;
use uuid::Uuid;

use crate::{Result, Store, StoreError, now_ms, opt_uuid_of};

/// Where a session goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Destination {
    /// Recorded with no organisation configured: it stays on this computer until its
    /// recruiter sends it ([`Store::share_session`]).
    LocalOnly,
    /// The organisation's project it was recorded for, as this user. A part that is `None`
    /// is taken by the first account that sends it (recorded while nobody was signed in, or
    /// before Hark kept destinations).
    Organisation {
        /// The project's URL.
        project_url: Option<String>,
        /// The user who recorded it.
        user_id: Option<Uuid>,
        /// Their email, to say whose it is.
        email: Option<String>,
    },
    /// Nothing known yet: a session made by a caller that did not say (tests, tools). Sent
    /// by the first account, like an organisation session with nothing filled in.
    #[default]
    Unclaimed,
}

/// The account a sync engine sends as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The organisation's project URL.
    pub project_url: String,
    /// The signed-in user.
    pub user_id: Uuid,
    /// Their email.
    pub email: Option<String>,
}

impl Destination {
    /// Why this session is not sent by `project_url` (the configured project, if any) as
    /// `user_id` (whoever is signed in, if anyone), with what to do; `None` when it is (or
    /// will be, once someone signs in).
    pub fn held(&self, project_url: Option<&str>, user_id: Option<Uuid>) -> Option<String> {
        match self {
            Destination::LocalOnly => Some(
                "recorded on this computer only; it goes to an organisation only if you send it"
                    .into(),
            ),
            Destination::Organisation {
                project_url: Some(wanted),
                ..
            } if project_url != Some(wanted.as_str()) => Some(format!(
                "recorded for the organisation at {wanted}; it syncs when Hark is connected \
                 there again"
            )),
            Destination::Organisation {
                user_id: Some(owner),
                email,
                ..
            } if user_id.is_some_and(|user| user != *owner) => Some(format!(
                "recorded by {}; it syncs when they sign in here, unless you send it as yours",
                email.as_deref().unwrap_or("another account")
            )),
            _ => None,
        }
    }

    /// Whether `sender` sends this session.
    pub fn sent_by(&self, sender: &Sender) -> bool {
        self.held(Some(&sender.project_url), Some(sender.user_id))
            .is_none()
    }

    pub(crate) fn columns(&self) -> (&'static str, Option<String>, Option<String>, Option<String>) {
        match self {
            Destination::LocalOnly => ("local", None, None, None),
            Destination::Organisation {
                project_url,
                user_id,
                email,
            } => (
                "organisation",
                project_url.clone(),
                user_id.map(|id| id.to_string()),
                email.clone(),
            ),
            Destination::Unclaimed => ("organisation", None, None, None),
        }
    }

    /// From `destination, sync_project, sync_user, sync_email` at `first`.
    pub(crate) fn of(row: &Row<'_>, first: usize) -> rusqlite::Result<Destination> {
        let kind: String = row.get(first)?;
        let project_url: Option<String> = row.get(first + 1)?;
        let user_id = opt_uuid_of(row, first + 2)?;
        let email: Option<String> = row.get(first + 3)?;
        Ok(match (kind.as_str(), &project_url, user_id) {
            ("local", ..) => Destination::LocalOnly,
            (_, None, None) if email.is_none() => Destination::Unclaimed,
            _ => Destination::Organisation {
                project_url,
                user_id,
                email,
            },
        })
    }
}

impl Store {
    /// A session's destination.
    pub fn destination(&self, session_id: Uuid) -> Result<Destination> {
        self.conn
            .query_row(
                "select destination, sync_project, sync_user, sync_email from recording_sessions \
                 where id = ?1",
                [session_id.to_string()],
                |row| Destination::of(row, 0),
            )
            .optional()
            .map_err(StoreError::sql("read session"))?
            .ok_or(StoreError::NotFound {
                what: "session",
                id: session_id.to_string(),
            })
    }

    /// Sends a session to `sender`'s organisation from now on, because its recruiter chose
    /// to: one recorded local-only, or one waiting for another project or account. It is
    /// queued at once; whether it was (one already synced as `sender` is not). Refused while it
    /// records, and for one a send to another organisation or account has begun (that one
    /// keeps it; sending it here too would make a second copy, or be refused as theirs).
    ///
    /// A local-only recording was never transcribed: each of its sources with no line at all
    /// becomes one gap over the whole recording, so back-fill transcribes it through the
    /// organisation's proxy once the organisation has the interview.
    pub fn share_session(&mut self, session_id: Uuid, sender: &Sender) -> Result<bool> {
        let tx = self
            .conn
            .transaction()
            .map_err(StoreError::sql("send session to the organisation"))?;
        let (destination, state, sent, outbox): (Destination, String, bool, Option<String>) = tx
            .query_row(
                "select s.destination, s.sync_project, s.sync_user, s.sync_email, s.state, \
                   s.first_sent_at_ms is not null, o.state \
                 from recording_sessions s left join sync_outbox o on o.session_id = s.id \
                 where s.id = ?1",
                [session_id.to_string()],
                |row| {
                    Ok((
                        Destination::of(row, 0)?,
                        row.get(4)?,
                        row.get(5)?,
                        row.get(6)?,
                    ))
                },
            )
            .optional()
            .map_err(StoreError::sql("send session to the organisation"))?
            .ok_or(StoreError::NotFound {
                what: "session",
                id: session_id.to_string(),
            })?;
        if state == "recording" {
            return Err(StoreError::Invalid {
                field: "session",
                problem: "is still recording; send it once it has stopped".into(),
            });
        }
        let mine = destination.sent_by(sender);
        // Sent before: only to this very project and account (an unclaimed one sent by an older
        // version could have gone anywhere).
        let sent_here = matches!(
            &destination,
            Destination::Organisation { project_url: Some(url), user_id: Some(user), .. }
                if *url == sender.project_url && *user == sender.user_id
        );
        if sent && !sent_here {
            return Err(StoreError::Invalid {
                field: "session",
                problem: format!(
                    "has already been sent to {}, which keeps it; it is not sent a second time",
                    match &destination {
                        Destination::Organisation {
                            project_url: Some(url),
                            email,
                            ..
                        } => format!(
                            "the organisation at {url}{}",
                            email
                                .as_deref()
                                .map(|e| format!(" as {e}"))
                                .unwrap_or_default()
                        ),
                        _ => "another organisation or account".into(),
                    }
                ),
            });
        }
        tx.execute(
            "update recording_sessions set destination = 'organisation', sync_project = ?2, \
               sync_user = ?3, sync_email = ?4, updated_at_ms = ?5 where id = ?1",
            params![
                session_id.to_string(),
                sender.project_url,
                sender.user_id.to_string(),
                sender.email,
                now_ms()
            ],
        )
        .map_err(StoreError::sql("send session to the organisation"))?;
        let queued = !(mine && outbox.as_deref() == Some("synced"));
        if queued {
            crate::queue_for_sync(&tx, session_id, now_ms())?;
        }
        if destination == Destination::LocalOnly {
            untranscribed_become_gaps(&tx, session_id)?;
        }
        tx.commit()
            .map_err(StoreError::sql("send session to the organisation"))?;
        Ok(queued)
    }

    /// The organisation's project accepted (part of) the session: from now on it stays where
    /// it went ([`Store::share_session`] refuses to send it elsewhere).
    pub fn first_sent(&self, session_id: Uuid) -> Result<()> {
        self.conn
            .execute(
                "update recording_sessions set first_sent_at_ms = coalesce(first_sent_at_ms, ?2) \
                 where id = ?1",
                params![session_id.to_string(), now_ms()],
            )
            .map_err(StoreError::sql("update session"))?;
        Ok(())
    }

    /// Before a send: the session is `sender`'s to send (taking the parts of its destination
    /// nobody had yet), or [`StoreError::Held`] saying whose it is.
    pub(crate) fn claim(&self, session_id: Uuid, sender: &Sender) -> Result<()> {
        let destination = self.destination(session_id)?;
        if let Some(why) = destination.held(Some(&sender.project_url), Some(sender.user_id)) {
            return Err(StoreError::Held { why });
        }
        self.conn
            .execute(
                "update recording_sessions set sync_project = coalesce(sync_project, ?2), \
                   sync_user = coalesce(sync_user, ?3), \
                   sync_email = coalesce(sync_email, ?4) where id = ?1",
                params![
                    session_id.to_string(),
                    sender.project_url,
                    sender.user_id.to_string(),
                    sender.email,
                ],
            )
            .map_err(StoreError::sql("update session"))?;
        Ok(())
    }
}

/// Each source of a session with a recording file that has no segment at all gets one gap over
/// the whole recording.
fn untranscribed_become_gaps(tx: &rusqlite::Transaction<'_>, session_id: Uuid) -> Result<()> {
    let found: Option<(String, f64)> = tx
        .query_row(
            "select sources, seconds_recorded from recording_sessions \
             where id = ?1 and recording_path is not null",
            [session_id.to_string()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(StoreError::sql("read session"))?;
    let Some((sources, seconds)) = found else {
        return Ok(());
    };
    let end_ms = (seconds * 1000.0).round() as i64;
    if end_ms <= 0 {
        return Ok(());
    }
    for source in serde_json::from_str::<Vec<String>>(&sources).unwrap_or_default() {
        let heard: bool = tx
            .query_row(
                "select exists (select 1 from transcript_segments \
                   where session_id = ?1 and source = ?2)",
                params![session_id.to_string(), source],
                |row| row.get(0),
            )
            .map_err(StoreError::sql("read segments"))?;
        if !heard {
            crate::upsert_segment(
                tx,
                &crate::Segment::gap(session_id, &source, 0, end_ms),
                now_ms(),
            )?;
        }
    }
    Ok(())
}
