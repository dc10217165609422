//! `fly.toml` and `proxy/Dockerfile` agree with the proxy: port, health path, signal, image.
//! (No Docker engine runs here; the binary the Dockerfile builds is the one the tests run.)

use std::collections::HashMap;

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[tokio::test]
async fn fly_toml_and_the_dockerfile_match_the_proxy() {
    let fly: toml::Table = read("fly.toml").parse().expect("fly.toml is TOML");
    let dockerfile = read("proxy/Dockerfile");

    let env = fly["env"].as_table().expect("[env]");
    let port: u16 = env["PORT"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .expect("PORT in [env]");
    let service = fly["http_service"].as_table().expect("[http_service]");
    assert_eq!(
        service["internal_port"].as_integer(),
        Some(i64::from(port)),
        "internal_port = PORT"
    );
    assert_eq!(service["force_https"].as_bool(), Some(true));
    assert!(
        service["min_machines_running"]
            .as_integer()
            .is_some_and(|n| n >= 1)
    );
    let concurrency = service["concurrency"]
        .as_table()
        .expect("[http_service.concurrency]");
    assert!(concurrency["soft_limit"].as_integer() < concurrency["hard_limit"].as_integer());
    assert_eq!(
        fly["kill_signal"].as_str(),
        Some("SIGTERM"),
        "the proxy drains on SIGTERM"
    );
    assert_eq!(
        fly["build"]["dockerfile"].as_str(),
        Some("proxy/Dockerfile")
    );
    for secret in ["OPENAI_API_KEY", "SUPABASE_ANON_KEY", "SUPABASE_JWT_SECRET"] {
        assert!(
            !env.contains_key(secret),
            "{secret} belongs in `fly secrets`, not fly.toml"
        );
    }

    // The Dockerfile exposes that port, builds only the proxy, and runs as non-root.
    assert!(
        dockerfile
            .lines()
            .any(|l| l.trim() == format!("EXPOSE {port}")),
        "EXPOSE {port}"
    );
    assert!(dockerfile.contains(&format!("PORT={port}")));
    assert!(dockerfile.contains("--package hark-proxy") && dockerfile.contains("cargo chef cook"));
    assert!(dockerfile.lines().any(|l| l.trim() == "USER nonroot"));
    // The proxy reads the same variables with the same default port.
    let vars: HashMap<&str, String> = env
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?.to_owned())))
        .chain([
            ("OPENAI_API_KEY", "sk-x".to_owned()),
            ("SUPABASE_URL", "https://abc.supabase.co".to_owned()),
            ("SUPABASE_ANON_KEY", "anon".to_owned()),
        ])
        .collect();
    let config = hark_proxy::Config::from_vars(|name| vars.get(name).cloned(), false)
        .expect("fly.toml's [env] is a valid configuration");
    assert_eq!(config.port, port);
    let defaults = hark_proxy::Config::from_vars(
        |name| vars.get(name).filter(|_| name != "PORT").cloned(),
        false,
    )
    .unwrap();
    assert_eq!(
        defaults.port, port,
        "the proxy's default port matches fly.toml"
    );

    // Every configured health check path answers 200 on the real router.
    let state = hark_proxy::state_from_config(&config).unwrap();
    let router = hark_proxy::app(state);
    for check in fly["http_service"]["checks"]
        .as_array()
        .expect("[[http_service.checks]]")
    {
        let path = check["path"].as_str().expect("check path");
        let response = router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "health check {path}");
    }
}
