//! Several controllers: when the first of two tsmd is stopped, the agent goes on with the
//! second (claims, blocks, events); a follower that names the leader — with a problem whose
//! `leader` member is its URL, or with a redirection — sends the agent there.
#![allow(clippy::unwrap_used)]

mod agent_support;

use std::time::Duration;

use agent_support::{eventually, ips, Tsmd, GROUP};
use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;
use tsm_agent::Agent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_first_controller_moves_the_agent_to_the_second() {
    let mut first = Tsmd::with_plan(3, 2).await;
    let second = Tsmd::with_plan(3, 2).await;
    let agent = Agent::new(&[&first.url, &second.url], None).unwrap();
    let a = agent
        .claim_for(GROUP, &ips(&[1, 2, 3]), Duration::from_secs(30))
        .await
        .unwrap();
    let on_first = first.client.claims().await.unwrap();
    assert!(
        on_first.iter().any(|c| c.id == a.id()),
        "served by the first"
    );
    eventually("events followed", Duration::from_secs(5), || async {
        agent.sync_status().connected
    })
    .await;
    a.detach();

    first.stop().await;

    let b = agent
        .claim_for(GROUP, &ips(&[4, 5, 6]), Duration::from_secs(30))
        .await
        .unwrap();
    let on_second = second.client.claims().await.unwrap();
    assert!(
        on_second.iter().any(|c| c.id == b.id()),
        "served by the second"
    );
    let block = agent
        .hold_block(GROUP, 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(block.claim(&ips(&[1, 2, 3])).is_ok());
    assert!(second
        .client
        .blocks()
        .await
        .unwrap()
        .iter()
        .any(|x| x.id == block.id()));
    // The event follower found the second controller too.
    eventually("events followed again", Duration::from_secs(10), || async {
        agent.sync_status().connected
    })
    .await;
}

/// A follower on 127.0.0.1:0 that answers every request by pointing to `leader`.
async fn follower(leader: String, redirect: bool) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let leader = leader.clone();
        async move {
            if redirect {
                let location = format!("{}{}", leader.trim_end_matches('/'), uri.path());
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, location)],
                )
                    .into_response()
            } else {
                let body = serde_json::json!({
                    "type": "https://tsm.invalid/problems/not-leader",
                    "title": "Not the leader",
                    "status": 503,
                    "detail": "this controller is a follower",
                    "leader": leader,
                });
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::CONTENT_TYPE, api::PROBLEM_JSON)],
                    body.to_string(),
                )
                    .into_response()
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_names_the_leader_sends_the_agent_there() {
    let leader = Tsmd::with_plan(3, 2).await;
    for redirect in [false, true] {
        let (url, task) = follower(leader.url.clone(), redirect).await;
        let agent = tsm_agent::Agent::with_options(
            tsm_agent::AgentOptions::new(&[&url]).follow_events(false),
        )
        .unwrap();
        let claim = agent
            .claim_for(GROUP, &ips(&[1, 2, 3]), Duration::from_secs(30))
            .await
            .unwrap();
        let on_leader = leader.client.claims().await.unwrap();
        assert!(
            on_leader.iter().any(|c| c.id == claim.id()),
            "redirect = {redirect}: the claim is the leader's"
        );
        // Later calls (the release) go to the leader too.
        let id = claim.id();
        claim.release().await.unwrap();
        let on_leader = leader.client.claims().await.unwrap();
        assert!(!on_leader.iter().any(|c| c.id == id));
        task.abort();
    }
}
