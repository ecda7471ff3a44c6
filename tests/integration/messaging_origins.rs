//! A deployment's own allowed origins (`[[server.orgs]] allowed_origins`): the embedded target,
//! configured from a profile's `[server]` as `run` and `serve` configure it, refuses every socket of
//! the org whose list leaves out the page's origin and lets the other org's in, and the widgets
//! count exactly the refusals the target counts for that org. And report.json's `server` block,
//! which lists the endpoint's settings, these lists among them, when a profile has any.

use super::remote_support::{report_of, run_bin, runtime, text};
use tokenstorm::plan::Org;
use tokenstorm::profile::server::ServerSection;
use tokenstorm::secret::Secret;
use tokenstorm::simulator::Server;

/// The endpoint allows the shop's page; org 1's deployment only its partner's.
const SERVER: &str = r#"
[messaging]
allowed_origins = ["https://shop.example"]
[[orgs]]
org = 1
allowed_origins = ["https://partner.example"]
"#;

fn widgets(base: &str, ws: &str) -> String {
    format!(
        r#"
seed = 9
duration = "3s"
[target]
kind = "http"
token_base = "{base}"
api_base = "{base}"
auth_code = "sim-{{org}}-{{session}}"
[[target.orgs]]
name = "org0"
client_id = "client0"
client_secret_env = "S0"
deployment_id = "client0"
[[target.orgs]]
name = "org1"
client_id = "client1"
client_secret_env = "S1"
deployment_id = "client1"
[load]
orgs = 2
sessions = 100
drain = "2s"
[sessions]
arrival = "uniform"
arrival_rate = "10/s"
length = {{ dist = "fixed", value = "1s" }}
think = {{ dist = "fixed", value = "300ms" }}
[messaging]
url = "{ws}/v1?deploymentId={{deployment_id}}"
origin = "https://shop.example"
echo_interval = "0s"
[[variant]]
name = "widget"
client = {{ preset = "genesys-messenger", reconnect = {{ policy = "immediate", attempts = 1 }} }}
"#
    )
}

fn org(index: usize) -> Org {
    Org {
        index,
        name: format!("org{index}"),
        primary: None,
        client_id: format!("client{index}"),
        client_secret: Secret::new(format!("secret{index}")),
        deployment_id: format!("client{index}"),
    }
}

#[test]
fn an_org_whose_list_leaves_out_the_page_is_refused_and_the_other_chats() {
    let section: ServerSection = toml::from_str(SERVER).unwrap();
    let config = tokenstorm::app::embedded::target_config(&section, &[org(0), org(1)], 9);
    let rt = runtime();
    let server = rt
        .block_on(Server::start(config, "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (base, ws) = (
        format!("http://{}", server.addr()),
        format!("ws://{}", server.addr()),
    );
    let env = [("S0", "secret0"), ("S1", "secret1")];
    let out = run_bin(dir.path(), &widgets(&base, &ws), &env, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = report_of(dir.path()).variants.remove(0);
    let c = v.messaging.as_ref().unwrap().counts.clone();
    let truth = server.truth();
    let (org0, org1) = (
        &truth.per_org["org0"].messaging,
        &truth.per_org["org1"].messaging,
    );
    // Both orgs had widgets: the one refused at its first attempt and its one retry, the other in.
    assert!(
        org1.sockets_refused_origin > 0 && org0.sockets_opened > 0,
        "{truth:?}"
    );
    assert_eq!((org1.sockets_opened, org0.sockets_refused_origin), (0, 0));
    assert_eq!(c.refused_origin, org1.sockets_refused_origin);
    assert_eq!(c.refused_origin, 2 * c.gave_up, "{c:?}");
    assert_eq!(
        (c.connected, c.configured_new),
        (org0.sockets_opened, org0.sessions_new)
    );
    let arrived = v.sessions.as_ref().unwrap().arrived;
    assert_eq!(c.configured_new + c.gave_up, arrived, "{c:?}");
    rt.block_on(server.stop());
}

/// A short REST run on the embedded target with `extra` in its profile.
fn rest_run(extra: &str) -> super::support::Ran {
    super::support::run_profile(&format!(
        r#"
duration = "1s"
{extra}
[load]
orgs = 2
sessions = 4
rate = "10/s"
[[variant]]
name = "a"
client = "naive"
"#
    ))
}

#[test]
fn the_reports_server_block_lists_the_socket_endpoints_settings_when_it_has_them() {
    let ran = rest_run(
        r#"
[server.messaging]
session_duration = "10m"
allowed_origins = ["https://shop.example"]
max_sockets_per_deployment = 50
messages_per_second = "120/min"
max_text_bytes = 2000
[server.messaging.faults]
drop_all_at = ["20s", "1m"]
refuse_for = "5s"
reply_latency_p50 = "20ms"
reply_latency_p99 = "250ms"
[[server.orgs]]
org = 1
allowed_origins = ["https://partner.example"]
"#,
    );
    let written = tokenstorm::report::load(&ran.report_path).unwrap();
    let m = written
        .server
        .unwrap()
        .messaging
        .expect("the socket endpoint's settings");
    assert_eq!((m.session_duration_s, m.retry_after_s), (600.0, 3.0));
    assert_eq!(m.allowed_origins, ["https://shop.example"]);
    assert_eq!(m.deployment_origins.len(), 1, "{:?}", m.deployment_origins);
    let own = &m.deployment_origins[0];
    assert_eq!((own.org.as_str(), own.client), ("org-0001", 0));
    assert_eq!(own.allowed_origins, ["https://partner.example"]);
    assert_eq!(m.max_sockets_per_deployment, Some(50));
    assert_eq!(m.messages_per_second, Some(2.0));
    assert_eq!(m.max_text_bytes, 2000);
    assert_eq!(m.faults.drop_all_at_s, [20.0, 60.0]);
    assert_eq!(m.faults.refuse_for_s, 5.0);
    assert_eq!(
        (m.faults.reply_latency_p50_ms, m.faults.reply_latency_p99_ms),
        (Some(20.0), Some(250.0))
    );

    let without = rest_run("");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&without.report_path).unwrap()).unwrap();
    assert!(json["server"].is_object(), "the embedded target's block");
    assert!(
        json["server"].get("messaging").is_none(),
        "{}",
        json["server"]
    );
}
