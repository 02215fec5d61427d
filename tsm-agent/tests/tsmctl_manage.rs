//! `tsmctl group put|get|delete` and `tsmctl subset create|get|delete` against the real
//! router: the service sees the change, the output shows it, and a second run sees the
//! first one's result.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_aligned, rows, serve, tsmctl, EXPIRES_AT};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_put_get_delete() {
    let server = serve().await;
    let url = server.url.as_str();
    let put = |members: &'static str| {
        let url = url.to_owned();
        async move {
            tsmctl(&[
                "--url",
                &url,
                "group",
                "put",
                "storage",
                "--address",
                "239.1.1.1",
                "--members",
                members,
            ])
            .await
        }
    };

    let created = put("10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5,10.0.0.6")
        .await
        .ok();
    assert!(created.starts_with("created group storage\n"), "{created}");
    let table: String = created.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert_aligned(&table);
    assert_eq!(
        rows(&table),
        [[
            "storage",
            "239.1.1.1",
            "1",
            "no",
            "6",
            "10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4 +2 more"
        ]]
    );

    let replaced = put("10.0.0.1,10.0.0.2").await.ok();
    assert!(
        replaced.starts_with("replaced group storage\n"),
        "{replaced}"
    );

    let got = tsmctl(&["--url", url, "--json", "group", "get", "storage"])
        .await
        .json();
    assert_eq!(
        got,
        json!({"name": "storage", "address": "239.1.1.1", "members": ["10.0.0.1", "10.0.0.2"], "version": 2, "snooped": false})
    );
    let table = tsmctl(&["--url", url, "group", "get", "storage"])
        .await
        .ok();
    assert_eq!(
        rows(&table),
        [["storage", "239.1.1.1", "2", "no", "2", "10.0.0.1,10.0.0.2"]]
    );

    // IPv6 too, listed next to the first.
    let v6 = tsmctl(&[
        "--url",
        url,
        "--json",
        "group",
        "put",
        "hpc6",
        "--address",
        "ff3e::1:1",
        "--members",
        "fd00::1,fd00::2",
    ])
    .await
    .json();
    assert_eq!(v6["address"], "ff3e::1:1");
    let names: Vec<String> = rows(&tsmctl(&["--url", url, "groups"]).await.ok())
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(names, ["hpc6", "storage"]);

    assert_eq!(
        tsmctl(&["--url", url, "group", "delete", "storage"])
            .await
            .ok(),
        "deleted group storage\n"
    );
    assert_eq!(
        tsmctl(&["--url", url, "--json", "group", "delete", "hpc6"])
            .await
            .ok(),
        ""
    );
    assert_eq!(
        tsmctl(&["--url", url, "--json", "groups"]).await.json(),
        json!([])
    );
    // Deleted means gone: a second delete is the service's unknown-group problem.
    let again = tsmctl(&["--url", url, "group", "delete", "storage"]).await;
    assert_eq!(again.code, 1, "{again:?}");
    assert_eq!(again.stderr, "error: there is no group named storage\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subset_create_get_delete() {
    let server = serve().await;
    let url = server.url.as_str();
    tsmctl(&[
        "--url",
        url,
        "group",
        "put",
        "storage",
        "--address",
        "239.1.1.1",
        "--members",
        "10.0.0.1,10.0.0.2,10.0.0.3",
    ])
    .await
    .ok();

    let created = tsmctl(&[
        "--url",
        url,
        "--json",
        "subset",
        "create",
        "storage",
        "--members",
        "10.0.0.1,10.0.0.3",
        "--lease-ms",
        "5000",
    ])
    .await
    .json();
    assert_eq!(
        created,
        json!({
            "address": "239.255.0.1", "group": "storage", "members": ["10.0.0.1", "10.0.0.3"],
            "lease_ms": 5000, "expires_at": EXPIRES_AT,
            "switches": ["0000000000000001", "00000000000000ab"], "trace_id": "4bf92f3577b34da6"
        })
    );

    let table = tsmctl(&[
        "--url",
        url,
        "subset",
        "create",
        "storage",
        "--members",
        "10.0.0.2",
        "--lease-ms",
        "2500",
    ])
    .await
    .ok();
    assert_aligned(&table);
    let row = &rows(&table)[0];
    assert_eq!(row[..3], ["239.255.0.2", "storage", "2.5s"]);
    // EXPIRES: the fake's leases end in 2100, days from now.
    assert!(row[3].ends_with('h') && row[3].contains('d'), "{row:?}");
    // OWNER is "-": the fake runs without tokens.
    assert_eq!(row[4..], ["4bf92f3577b34da6", "2", "-", "1", "10.0.0.2"]);

    let listed = tsmctl(&["--url", url, "subsets"]).await.ok();
    assert_aligned(&listed);
    let addresses: Vec<String> = rows(&listed).into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(addresses, ["239.255.0.1", "239.255.0.2"]);

    let got = tsmctl(&["--url", url, "--json", "subset", "get", "239.255.0.1"])
        .await
        .json();
    assert_eq!(got, created);

    assert_eq!(
        tsmctl(&["--url", url, "subset", "delete", "239.255.0.1"])
            .await
            .ok(),
        "deleted subset 239.255.0.1\n"
    );
    let left = tsmctl(&["--url", url, "--json", "subsets"]).await.json();
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["address"], "239.255.0.2");

    let gone = tsmctl(&["--url", url, "subset", "delete", "239.255.0.1"]).await;
    assert_eq!(gone.code, 1);
    assert_eq!(gone.stderr, "error: subset 239.255.0.1 not found\n");
}
