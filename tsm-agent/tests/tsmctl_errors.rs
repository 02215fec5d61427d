//! `tsmctl` failures: a problem+json answer becomes one line naming the culprit with exit
//! status 1; an unreachable controller is exit status 2 naming its URL; with two URLs, the
//! second is used when the first is unreachable.
#![allow(clippy::unwrap_used)]

mod common;

use common::{dead_url, serve, tsmctl};

async fn define_storage(url: &str) {
    tsmctl(&[
        "--url",
        url,
        "group",
        "put",
        "storage",
        "--address",
        "239.1.1.1",
        "--members",
        "10.0.0.1,10.0.0.2",
    ])
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_name_the_culprit_with_exit_status_1() {
    let server = serve().await;
    let url = server.url.as_str();
    define_storage(url).await;

    let run = tsmctl(&[
        "--url",
        url,
        "subset",
        "create",
        "storage",
        "--members",
        "10.0.0.1,10.0.0.9",
        "--lease-ms",
        "5000",
    ])
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: member 10.0.0.9 is not in group storage\n"
    );

    // The same with --json: errors never go to standard output.
    let run = tsmctl(&[
        "--json",
        "--url",
        url,
        "subset",
        "create",
        "storage",
        "--members",
        "10.0.0.8,10.0.0.9",
        "--lease-ms",
        "5000",
    ])
    .await;
    assert_eq!((run.code, run.stdout.as_str()), (1, ""));
    assert_eq!(
        run.stderr,
        "error: members 10.0.0.8, 10.0.0.9 are not in group storage\n"
    );

    // Checked by the router before the service: the lease above the service's limit.
    let run = tsmctl(&[
        "--url",
        url,
        "subset",
        "create",
        "storage",
        "--members",
        "10.0.0.1",
        "--lease-ms",
        "3600001",
    ])
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.starts_with("error: "), "{run:?}");
    assert!(run.stderr.contains("3600001"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");

    // A unicast group address: the router's not-multicast problem.
    let run = tsmctl(&[
        "--url",
        url,
        "group",
        "put",
        "bad",
        "--address",
        "10.1.1.1",
        "--members",
        "10.0.0.1",
    ])
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("10.1.1.1 is not a multicast address"),
        "{run:?}"
    );
    let groups = tsmctl(&["--url", url, "--json", "groups"]).await.json();
    assert_eq!(groups.as_array().unwrap().len(), 1, "nothing was added");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_controller_is_exit_status_2_naming_the_url() {
    let dead = dead_url().await;
    let run = tsmctl(&["--url", &dead, "groups"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with(&format!("error: cannot reach the controller at {dead}/: ")),
        "{run:?}"
    );
    assert_eq!(run.stderr.lines().count(), 1);

    let other = dead_url().await;
    let run = tsmctl(&["--url", &format!("{dead},{other}"), "health"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&dead) && run.stderr.contains(&other),
        "{run:?}"
    );

    let run = tsmctl(&["--url", "ftp://x", "health"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("ftp://x"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_to_the_second_url() {
    let server = serve().await;
    let dead = dead_url().await;
    define_storage(&server.url).await;

    let groups = tsmctl(&["--url", &dead, "--url", &server.url, "--json", "groups"])
        .await
        .json();
    assert_eq!(groups[0]["name"], "storage");

    // A POST fails over too (it carries an Idempotency-Key), and creates exactly one subset.
    let subset = tsmctl(&[
        "--url",
        &dead,
        "--url",
        &server.url,
        "--json",
        "subset",
        "create",
        "storage",
        "--members",
        "10.0.0.2",
        "--lease-ms",
        "1000",
    ])
    .await
    .json();
    assert_eq!(subset["members"], serde_json::json!(["10.0.0.2"]));
    let subsets = tsmctl(&["--url", &server.url, "--json", "subsets"])
        .await
        .json();
    assert_eq!(subsets.as_array().unwrap().len(), 1);

    // TSM_URL, comma-separated, is the same list.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tsmctl"))
        .args(["health"])
        .env("TSM_URL", format!("{dead},{}", server.url))
        .env_remove("TSM_TOKEN")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"ok (tsmd 9.9.9-test)\n");
}
