//! A release feed as Hark's release pipeline publishes it: `latest.json` naming the new
//! version and its bundle, and the bundle itself, served over HTTP on loopback. Releases are
//! signed with throwaway minisign keys in the format `tauri signer sign` writes (base64 of the
//! key and signature files, the version in the trusted comment).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A release signing key pair.
pub struct ReleaseKey(minisign::KeyPair);

impl ReleaseKey {
    /// A new key pair.
    pub fn generate() -> ReleaseKey {
        ReleaseKey(minisign::KeyPair::generate_unencrypted_keypair().expect("a key pair"))
    }

    /// The public key as the app is given it (base64 of the `.pub` file).
    pub fn public(&self) -> String {
        let file = self.0.pk.to_box().expect("a public key box").into_string();
        STANDARD.encode(file)
    }

    /// `bundle`'s signature for `version` as the feed carries it (base64 of the `.sig` file).
    pub fn sign(&self, bundle: &[u8], file: &str, version: &str) -> String {
        let trusted = format!("timestamp:1764320000\tfile:{file}\tversion:{version}");
        let signature = minisign::sign(
            Some(&self.0.pk),
            &self.0.sk,
            bundle,
            Some(&trusted),
            Some("signature from tauri secret key"),
        )
        .expect("a signature");
        STANDARD.encode(signature.into_string())
    }
}

/// One published release.
#[derive(Clone)]
pub struct Release {
    /// Its version.
    pub version: String,
    /// Its notes.
    pub notes: String,
    /// The bundle (for Linux, the AppImage itself).
    pub bundle: Vec<u8>,
    /// The bundle's signature, from [`ReleaseKey::sign`].
    pub signature: String,
}

#[derive(Default)]
struct Published {
    release: Option<Release>,
    downloads: usize,
}

/// The feed: `GET /latest.json` and `GET /Hark.AppImage`.
pub struct Feed {
    /// `http://127.0.0.1:…/latest.json`.
    pub url: String,
    published: Arc<Mutex<Published>>,
}

impl Feed {
    /// Serves an empty feed on a free port.
    pub async fn serve() -> Feed {
        let published = Arc::new(Mutex::new(Published::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let app = Router::new()
            .route(
                "/latest.json",
                get(
                    |State((published, base)): State<(Arc<Mutex<Published>>, String)>| async move {
                        let published = published.lock().unwrap();
                        let release = published.release.as_ref().expect("a published release");
                        axum::Json(serde_json::json!({
                            "version": release.version,
                            "notes": release.notes,
                            "pub_date": "2026-11-20T09:00:00Z",
                            "platforms": {
                                format!("linux-{}", std::env::consts::ARCH): {
                                    "signature": release.signature,
                                    "url": format!("{base}/Hark.AppImage"),
                                }
                            }
                        }))
                    },
                ),
            )
            .route(
                "/Hark.AppImage",
                get(
                    |State((published, _)): State<(Arc<Mutex<Published>>, String)>| async move {
                        let mut published = published.lock().unwrap();
                        published.downloads += 1;
                        published
                            .release
                            .as_ref()
                            .expect("a published release")
                            .bundle
                            .clone()
                    },
                ),
            )
            .with_state((published.clone(), base.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Feed {
            url: format!("{base}/latest.json"),
            published,
        }
    }

    /// Publishes `release` (replacing the one before).
    pub fn publish(&self, release: Release) {
        self.published.lock().unwrap().release = Some(release);
    }

    /// How many times a bundle was downloaded.
    pub fn downloads(&self) -> usize {
        self.published.lock().unwrap().downloads
    }
}
