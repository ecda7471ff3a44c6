//! Micro-benchmarks of what every request does: record an outcome and its latency, take a cached token,
//! and join a refresh somebody else is already making. `cargo bench --bench hot_path`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenstorm::engine::refresh::{token_for, Need};
use tokenstorm::engine::tokens::Token;
use tokenstorm::engine::Ctx;
use tokenstorm::http::{Api, ApiConfig};
use tokenstorm::metrics::Recorder;
use tokenstorm::plan::client::resolve;
use tokenstorm::plan::Org;
use tokenstorm::profile::client::{ClientSettings, Coalesce};
use tokenstorm::profile::schema::TokenScope;
use tokenstorm::secret::Secret;
use tokenstorm::vocabulary::{Endpoint, Outcome};
use tokio::sync::watch;

fn recorder() -> Arc<Recorder> {
    Arc::new(Recorder::new(1, Instant::now(), Duration::from_secs(600)))
}

fn record(c: &mut Criterion) {
    let recorder = recorder();
    let start = Instant::now();
    let mut n = 0u64;
    c.bench_function("record one request (outcome + latency)", |b| {
        b.iter(|| {
            n += 1;
            // A spread of latencies, so the histogram's buckets are not all one cache line.
            let ended = start + Duration::from_micros(500 + (n * 7919) % 50_000);
            recorder.attempt(Endpoint::Contacts, Outcome::Ok, start, black_box(ended));
            recorder.finished(
                Outcome::Ok,
                ended - start,
                Duration::from_micros(n % 1000),
                true,
            );
        })
    });
}

fn ctx(coalesce: Coalesce) -> Arc<Ctx> {
    let settings = ClientSettings {
        token_scope: Some(TokenScope::Org),
        coalesce: Some(coalesce),
        ..Default::default()
    };
    // Nothing here is sent: a cache hit and a join never reach the network.
    let api = Api::new(&ApiConfig::embedded(
        "http://127.0.0.1:9",
        Duration::from_secs(1),
    ))
    .expect("static URLs parse");
    let org = Org {
        index: 0,
        name: "org-0000".into(),
        primary: None,
        client_id: "id".into(),
        client_secret: Secret::new("secret"),
        deployment_id: "deployment".into(),
    };
    Arc::new(Ctx::new(
        api,
        recorder(),
        resolve("bench", &settings),
        Arc::from(vec![org]),
        Arc::from(vec![0u32]),
        Duration::from_secs(10),
        1,
    ))
}

fn token(generation: u64, refresh_at: Option<Instant>) -> Arc<Token> {
    Arc::new(Token {
        access: Secret::new("access"),
        refresh: None,
        expires_at: None,
        claim_expires_at: None,
        refresh_at,
        advisory_at: None,
        generation,
        used: Default::default(),
        received_at: Instant::now(),
    })
}

fn token_cache(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let hit = ctx(Coalesce::SingleFlight);
    hit.cache.slot(0).lock().install(token(1, None));
    c.bench_function("token cache hit", |b| {
        b.to_async(&runtime).iter(|| async {
            let got = token_for(&hit, 0, 0, Need::Usable, None).await;
            black_box(got.is_ok())
        })
    });

    // An expired token and a round already under way whose answer is in: what each waiter of a
    // single-flight refresh pays to join it and take the new token.
    let join = ctx(Coalesce::SingleFlight);
    // The leader's end of the round stays alive for the whole benchmark, as it is while a real refresh
    // is out; without it the bench measured callers leading refreshes of their own.
    let (leader, round) = watch::channel(None);
    let _ = leader.send(Some(Ok(token(2, None))));
    {
        let mut slot = join.cache.slot(0).lock();
        slot.install(token(1, Some(Instant::now())));
        slot.pending = Some(round);
    }
    c.bench_function("single-flight join", |b| {
        b.to_async(&runtime).iter(|| async {
            let got = token_for(&join, 0, 0, Need::Usable, None).await;
            black_box(got.is_ok())
        })
    });
    drop(leader);
}

criterion_group! {
    name = benches;
    // Criterion's own charts need a system font this project does not ask for; the numbers are the point.
    config = Criterion::default().without_plots();
    targets = record, token_cache
}
criterion_main!(benches);
