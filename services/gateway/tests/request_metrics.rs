//! Every routed request is counted in `miroir_gateway_requests_total` by route family, method and
//! final status; a path no route matches is counted as `unknown`. (Its own test binary: the
//! metrics recorder is global to the process, so the counts here are exactly this test's.)
#![allow(clippy::unwrap_used)]

mod common;

/// The value of `miroir_gateway_requests_total` with these labels in `scraped` (0 if absent).
fn requests(scraped: &str, family: &str, method: &str, status: u16) -> f64 {
    let labels = [
        format!("family=\"{family}\""),
        format!("method=\"{method}\""),
        format!("status=\"{status}\""),
    ];
    scraped
        .lines()
        .filter(|line| line.starts_with("miroir_gateway_requests_total{"))
        .filter(|line| labels.iter().all(|l| line.contains(l.as_str())))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn requests_are_counted_by_route_family() {
    let metrics = miroir_cluster::telemetry::prometheus_builder()
        .install_recorder()
        .unwrap();
    let gw = common::start(common::config()).await;
    let client = gw.client();

    // Routed: the search route, for an index that does not exist (404), also with a trailing
    // slash (trimmed before routing).
    for path in ["/indexes/nope/search", "/indexes/nope/search/"] {
        let r = client.get(path).await.unwrap();
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert_eq!(r.body["code"], "index_not_found", "{path}");
    }
    // A known path with a method it does not serve: its route's family.
    let r = client
        .send_raw(
            reqwest::Method::PUT,
            "/indexes/nope",
            "application/json",
            b"{}".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 405, "{}", r.body);
    // No route: `unknown`, whatever the path looks like.
    for path in ["/no/such/route", "/indexes/nope/search/more"] {
        let r = client.get(path).await.unwrap();
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert_eq!(r.body["code"], "not_found", "{path}");
    }
    // Without a key: the route's family, counted with the 401.
    let r = gw.anonymous().get("/indexes/nope/settings").await.unwrap();
    assert_eq!(r.status, 401, "{}", r.body);

    let scraped = metrics.render();
    let counted = [
        ("search", "GET", 404, 2.0),
        ("indexes", "PUT", 405, 1.0),
        ("unknown", "GET", 404, 2.0),
        ("settings", "GET", 401, 1.0),
        ("other", "GET", 404, 0.0),
    ];
    for (family, method, status, expected) in counted {
        assert_eq!(
            requests(&scraped, family, method, status),
            expected,
            "{family} {method} {status} in:\n{scraped}"
        );
    }
    gw.stop().await;
}
