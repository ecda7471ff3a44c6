//! `[server.service.*]`: a station of workers, service time and a bounded queue gives the embedded
//! target a capacity. Offered four times what it carries, it queues and refuses, and the client's
//! counts of what came back match the server's truth.

use super::support::{run_profile, variant};
use tokenstorm::vocabulary::Outcome;

// One worker of 20 ms carries 50/s; offered 200/s for 1 s with room for 5 waiting, most calls are
// refused with 503 on any machine that can send 200/s.
const PROFILE: &str = r#"
duration = "1s"
[server]
token_ttl = "3600s"
per_token_rate = "0/s"
[server.service.contacts]
workers = 1
service_time = "20ms"
queue = 5
[server.service.token]
workers = 2
service_time = "5ms"
queue = 100
refuse = "rate-limited"
[load]
orgs = 2
sessions = 8
rate = "200/s"
drain = "5s"
[[variant]]
name = "a"
client = "naive"
"#;

#[test]
fn a_station_over_capacity_queues_and_refuses_and_the_truth_agrees() {
    let ran = run_profile(PROFILE);
    let v = variant(&ran.report, "a");
    let truth = v.truth.as_ref().expect("embedded target");
    assert!(truth.ok, "{:?}", truth.checks);
    let server = &truth.server;
    let contacts = &v.endpoints.contacts;
    let refused = server["contacts.refused"];
    assert!(refused > 0 && server["contacts.queued"] > 0, "{server:?}");
    // Nothing else answers 5xx here: every server error the client saw was a refusal.
    assert_eq!(contacts.outcomes[Outcome::ServerError], refused);
    assert_eq!(server["contacts.server_error"], refused);
    // Two orgs' first tokens fit the token station's two workers: none waited or was refused.
    assert_eq!(server["token.refused"], 0);
    assert_eq!(contacts.requests, contacts.outcomes.total());
    // What was not refused was served, each after its 20 ms of the worker's time.
    let served = contacts.outcomes[Outcome::Ok];
    assert_eq!(served + refused, contacts.requests);
    assert!(
        served > 0 && contacts.latency_ms.max >= 20.0,
        "{:?}",
        contacts.latency_ms
    );
}
