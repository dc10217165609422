//! Serving product parts in-process for tests and benchmarks: the SDP proxy in front of the
//! emulator (in `--dev` mode, or checking users against the test stack's Supabase).

use std::collections::HashMap;

use crate::emulator::Emulator;
use crate::supabase::Project;

/// Serves a proxy for `emulator` (and `project`, else `--dev`) on a free port; returns its `…/v1`.
pub async fn proxy(
    emulator: &Emulator,
    project: Option<&Project>,
    extra: &[(&str, String)],
) -> String {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("OPENAI_API_KEY".to_owned(), emulator.api_key().to_owned()),
        ("OPENAI_BASE_URL".to_owned(), emulator.base_url()),
    ]);
    if let Some(project) = project {
        vars.insert("SUPABASE_URL".into(), project.url.clone());
        vars.insert("SUPABASE_ANON_KEY".into(), project.anon_key.clone());
    }
    for (key, value) in extra {
        vars.insert((*key).to_owned(), value.clone());
    }
    let config = hark_proxy::Config::from_vars(|name| vars.get(name).cloned(), project.is_none())
        .expect("valid config");
    let state = hark_proxy::state_from_config(&config).expect("proxy state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, hark_proxy::app(state)).await });
    format!("http://{addr}/v1")
}
