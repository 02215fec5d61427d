//! `GET /v1/events` through the real router on 127.0.0.1:0: two SSE clients see identical
//! sequences; `Last-Event-ID` and `?after=` resume; a resume point older than the ring is a
//! `gap` event (stream) or 410 (explicit `after`); the typed client reconnects after the
//! server went away and goes on from the next seq; idle streams get keep-alive comments.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
mod fake;

use std::sync::Arc;
use std::time::Duration;

use api::events::{EventKind, EventLog, Gap, Received, Reconnect};
use api::{ApiError, Client, EventStream};
use fake::Fake;
use tokio::net::TcpListener;

struct Server {
    base: String,
    fake: Arc<Fake>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_on(listener: TcpListener, fake: Arc<Fake>) -> Server {
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = api::router(Arc::clone(&fake));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server { base, fake, task }
}

async fn start(fake: Fake) -> Server {
    serve_on(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Arc::new(fake),
    )
    .await
}

fn emit_groups(fake: &Fake, range: std::ops::RangeInclusive<u32>) {
    for i in range {
        fake.emit(EventKind::GroupDeleted {
            group: format!("g{i}"),
        });
    }
}

/// The next `n` items, within a deadline.
async fn take(stream: &mut EventStream, n: usize) -> Vec<Received> {
    let mut out = Vec::new();
    while out.len() < n {
        let item = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("an item within 5 s")
            .expect("the stream goes on")
            .unwrap();
        out.push(item);
    }
    out
}

fn seqs(items: &[Received]) -> Vec<u64> {
    items
        .iter()
        .map(|i| match i {
            Received::Event(e) => e.seq,
            Received::Gap(g) => panic!("unexpected {g:?}"),
        })
        .collect()
}

#[tokio::test]
async fn two_clients_see_identical_sequences() {
    let s = start(Fake::new()).await;
    let c = Client::new(&s.base).unwrap();
    let mut a = c.events(None).await.unwrap();
    let mut b = c.events(None).await.unwrap();
    // Writers on several tasks at once: the log orders them.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let fake = s.fake.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    fake.emit(EventKind::GroupDeleted {
                        group: format!("w{w}-{i}"),
                    });
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let got_a = take(&mut a, 40).await;
    let got_b = take(&mut b, 40).await;
    assert_eq!(got_a, got_b, "same events, same order");
    assert_eq!(seqs(&got_a), (1..=40).collect::<Vec<_>>());
    assert_eq!(a.last_seq(), Some(40));
}

#[tokio::test]
async fn resume_from_last_event_id_and_after() {
    let s = start(Fake::new()).await;
    emit_groups(&s.fake, 1..=10);
    let c = Client::new(&s.base).unwrap();
    // Typed: after 6 → 7..=10, then live.
    let mut st = c.events(Some(6)).await.unwrap();
    assert_eq!(seqs(&take(&mut st, 4).await), [7, 8, 9, 10]);
    emit_groups(&s.fake, 11..=11);
    assert_eq!(seqs(&take(&mut st, 1).await), [11]);
    // Raw: Last-Event-ID as a browser sends it; the wire form is id/event/data.
    let mut resp = reqwest::Client::new()
        .get(format!("{}/v1/events", s.base))
        .header("accept", "text/event-stream")
        .header("last-event-id", "9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let mut text = String::new();
    while !text.contains("\n\n") || !text.contains("id: 11") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    // First where it starts, then the events after it.
    assert!(text.starts_with("id: 9\n\n"), "{text}");
    let first = text.split("\n\n").nth(1).unwrap();
    assert!(first.contains("id: 10"), "{text}");
    assert!(first.contains("event: group_deleted"), "{text}");
    assert!(first.contains(r#"data: {"seq":10,"#), "{text}");
    // JSON: the buffered events after 8.
    let list = c.events_after(Some(8)).await.unwrap();
    assert_eq!(list.iter().map(|e| e.seq).collect::<Vec<_>>(), [9, 10, 11]);
}

#[tokio::test]
async fn a_resume_point_older_than_the_ring_is_a_gap_or_410() {
    let s = start(Fake::new().with_event_log(EventLog::new(8, 1))).await;
    emit_groups(&s.fake, 1..=20);
    let c = Client::new(&s.base).unwrap();
    // The ring holds 13..=20. Reconnect-style resume (Last-Event-ID): a gap first.
    let mut resp = reqwest::Client::new()
        .get(format!("{}/v1/events", s.base))
        .header("accept", "text/event-stream")
        .header("last-event-id", "3")
        .send()
        .await
        .unwrap();
    let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&chunk);
    let first = text.split("\n\n").next().unwrap();
    assert!(first.contains("event: gap"), "{text}");
    assert!(first.contains("id: 12"), "the resume point moves: {text}");
    assert!(first.contains(r#""first_available":13"#), "{text}");
    // Explicit `after`: 410 in both forms, typed in the client.
    for r in [
        c.events(Some(3)).await.map(|_| ()),
        c.events_after(Some(3)).await.map(|_| ()),
    ] {
        let e = r.unwrap_err();
        assert_eq!(e.status(), Some(410), "{e}");
        assert_eq!(
            e.api_error(),
            Some(&ApiError::EventsGone {
                after: 3,
                first_available: 13,
                last: 20
            })
        );
    }
    // Ahead of the newest (a server that lost its history): also gone.
    assert_eq!(
        c.events_after(Some(99)).await.unwrap_err().status(),
        Some(410)
    );
    // The typed stream reports the gap as an item when its own resume point is gone.
    let mut st = c.events(Some(12)).await.unwrap();
    assert_eq!(take(&mut st, 8).await.len(), 8);
    assert_eq!(st.last_seq(), Some(20));
}

/// A TCP proxy whose open connections can be cut (as a network failure would).
struct Proxy {
    addr: std::net::SocketAddr,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let c2 = conns.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let h = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                c2.lock().unwrap().push(h);
            }
        });
        Proxy { addr, conns, task }
    }

    /// Drops every open connection.
    fn cut(&self) {
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

#[tokio::test]
async fn the_client_reconnects_with_last_event_id() {
    let s = start(Fake::new().with_event_log(EventLog::new(4, 1))).await;
    let upstream = s.base.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(upstream).await;
    emit_groups(&s.fake, 1..=2);
    let c = Client::new(&format!("http://{}", proxy.addr)).unwrap();
    let reconnect = Reconnect::new(50, Duration::from_millis(20), Duration::from_millis(100));
    let mut st = c.events_with(Some(0), reconnect).await.unwrap();
    assert_eq!(seqs(&take(&mut st, 2).await), [1, 2]);
    // The connection breaks; events happen meanwhile; the client resumes after 2.
    proxy.cut();
    emit_groups(&s.fake, 3..=4);
    assert_eq!(seqs(&take(&mut st, 2).await), [3, 4]);
    // Broken again, and more happened than the ring holds: a gap, then the rest.
    proxy.cut();
    emit_groups(&s.fake, 5..=12);
    let items = take(&mut st, 5).await;
    assert_eq!(
        items[0],
        Received::Gap(Gap {
            after: 4,
            first_available: 9
        })
    );
    assert_eq!(seqs(&items[1..]), [9, 10, 11, 12]);
    assert!(
        proxy.conns.lock().unwrap().len() <= 1,
        "a new connection after each cut"
    );
}

#[tokio::test]
async fn idle_streams_get_keep_alive_comments() {
    let s = start(
        Fake::new().with_event_log(EventLog::new(8, 1).with_keepalive(Duration::from_millis(50))),
    )
    .await;
    let mut resp = reqwest::Client::new()
        .get(format!("{}/v1/events", s.base))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    while !text.contains(": keep-alive\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    // Nothing but where the stream starts and keep-alives.
    assert!(text.starts_with("id: 0\n\n"), "{text}");
    assert!(!text.contains("data:"), "{text}");
}

#[tokio::test]
async fn a_stream_from_now_resumes_where_it_started() {
    let s = start(Fake::new()).await;
    emit_groups(&s.fake, 1..=3);
    let upstream = s.base.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(upstream).await;
    let c = Client::new(&format!("http://{}", proxy.addr)).unwrap();
    let reconnect = Reconnect::new(50, Duration::from_millis(20), Duration::from_millis(100));
    // From now (after 3), nothing seen yet; the connection breaks before any event.
    let mut st = c.events_with(None, reconnect).await.unwrap();
    let probe = tokio::time::timeout(Duration::from_millis(100), st.next()).await;
    assert!(probe.is_err(), "no event yet");
    proxy.cut();
    emit_groups(&s.fake, 4..=5);
    // The events of the outage are not lost.
    assert_eq!(seqs(&take(&mut st, 2).await), [4, 5]);
}

#[tokio::test]
async fn closing_the_log_ends_streams() {
    let s = start(Fake::new()).await;
    let c = Client::new(&s.base).unwrap();
    let mut st = c.events_with(None, Reconnect::never()).await.unwrap();
    s.fake.events.close();
    let end = tokio::time::timeout(Duration::from_secs(5), st.next())
        .await
        .unwrap();
    assert!(end.is_none(), "{end:?}");
}
