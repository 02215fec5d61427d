//! `tsmctl` lists against the real router over an in-memory service: each list as a table
//! (aligned columns, the values an operator looks for) and as the API's JSON.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_aligned, rows, serve, tsmctl};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_links_hosts_as_tables() {
    let server = serve().await;
    let url = server.url.as_str();

    let table = tsmctl(&["--url", url, "switches"]).await.ok();
    assert_aligned(&table);
    assert!(table.starts_with("DPID  "), "{table}");
    assert_eq!(
        rows(&table),
        [
            [
                "0000000000000001",
                "127.0.0.1:50001",
                "2023-11-14 22:13:20Z",
                "3",
                "2",
                "254",
                "4096",
                "no"
            ],
            [
                "00000000000000ab",
                "127.0.0.1:50171",
                "2023-11-14 22:13:20Z",
                "3",
                "2",
                "254",
                "-",
                "yes"
            ]
        ]
    );

    let table = tsmctl(&["links", "--url", url]).await.ok();
    assert_aligned(&table);
    assert_eq!(
        rows(&table),
        [["0000000000000001:2", "00000000000000ab:1", "up"]]
    );

    let table = tsmctl(&["--url", url, "hosts"]).await.ok();
    assert_aligned(&table);
    assert_eq!(
        rows(&table),
        [
            ["10.0.0.1", "02:00:00:00:00:01", "0000000000000001", "1"],
            ["10.0.0.2", "02:00:00:00:00:02", "00000000000000ab", "2"],
            ["fd00::2", "02:00:00:00:00:02", "00000000000000ab", "2"],
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_as_json_are_the_api_json() {
    let server = serve().await;
    let url = server.url.as_str();
    for (command, path) in [
        ("switches", "/v1/switches"),
        ("links", "/v1/links"),
        ("hosts", "/v1/hosts"),
        ("groups", "/v1/groups"),
        ("subsets", "/v1/subsets"),
        ("health", "/healthz"),
    ] {
        let printed = tsmctl(&["--url", url, "--json", command]).await.json();
        let served: serde_json::Value = reqwest::get(format!("{url}{path}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(printed, served, "tsmctl --json {command}");
    }
    let hosts = tsmctl(&["--url", url, "--json", "hosts"]).await.json();
    assert_eq!(
        hosts[2],
        json!({"mac": "02:00:00:00:00:02", "ip": "fd00::2", "dpid": "00000000000000ab", "port": 2})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_empty_lists() {
    let server = serve().await;
    let url = server.url.as_str();
    assert_eq!(
        tsmctl(&["--url", url, "health"]).await.ok(),
        "ok (tsmd 9.9.9-test)\n"
    );
    let table = tsmctl(&["--url", url, "groups"]).await.ok();
    assert_eq!(table, "NAME  ADDRESS  VERSION  SNOOPED  N  MEMBERS\n");
    assert_eq!(
        tsmctl(&["--url", url, "--json", "subsets"]).await.json(),
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_show_which_are_snooped() {
    let server = serve().await;
    let url = server.url.as_str();
    let client = api::Client::new(url).unwrap();
    for (name, address, members) in [
        (
            "listed",
            "239.1.1.1",
            api::GroupMembers::List(vec!["10.0.0.1".parse().unwrap()]),
        ),
        ("learned", "239.1.1.2", api::GroupMembers::Snooped),
    ] {
        let spec = api::GroupSpec {
            address: address.parse().unwrap(),
            members,
        };
        client
            .put_group(&name.parse().unwrap(), &spec)
            .await
            .unwrap();
    }
    let table = tsmctl(&["--url", url, "groups"]).await.ok();
    assert_aligned(&table);
    assert_eq!(
        rows(&table),
        [
            ["learned", "239.1.1.2", "1", "yes", "0", "-"],
            ["listed", "239.1.1.1", "1", "no", "1", "10.0.0.1"],
        ]
    );
    let json = tsmctl(&["--url", url, "--json", "groups"]).await.json();
    assert_eq!(json[0]["snooped"], true, "{json}");
    assert_eq!(json[1]["snooped"], false, "{json}");
}
