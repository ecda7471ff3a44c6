//! Token requests as they go on the wire: method, URL, headers in their order, body.

use super::*;

fn wire(endpoint: &TokenEndpoint, who: &Credentials<'_>, grant: Grant<'_>) -> Option<String> {
    let r = request(endpoint, who, grant)?;
    let mut s = format!("{} {}\n", r.method(), r.uri());
    for (name, value) in r.headers() {
        let sensitive = if value.is_sensitive() {
            " (sensitive)"
        } else {
            ""
        };
        s.push_str(&format!("{name}: {}{sensitive}\n", value.to_str().ok()?));
    }
    s.push('\n');
    s.push_str(std::str::from_utf8(r.body()).ok()?);
    Some(s)
}

#[test]
fn form_posts_escape_their_values_and_authenticate_by_basic_or_in_the_body() {
    let secret = Secret::new("s3cr&t =ü+/");
    let refresh = Secret::new("rt/+= &x");
    let who = Credentials {
        org: "acme",
        session: 7,
        client_id: "client:1 é",
        client_secret: &secret,
        deployment_id: "dep-1",
    };
    // The URL as browsers read it: host in lower case, the default port dropped.
    let mut endpoint = TokenEndpoint::at("http://Example.COM:80");
    endpoint.scope = Some("contacts read".into());
    endpoint.resource = Some("https://api.example/x?y=1".into());
    let refreshing = Grant::RefreshToken {
        refresh_token: &refresh,
    };
    assert_eq!(
        wire(&endpoint, &who, refreshing).as_deref(),
        Some(
            "POST http://example.com/oauth/token\n\
             authorization: Basic Y2xpZW50OjEgw6k6czNjciZ0ID3DvCsv (sensitive)\n\
             content-type: application/x-www-form-urlencoded\n\
             accept: */*\n\n\
             grant_type=refresh_token&refresh_token=rt%2F%2B%3D+%26x&scope=contacts+read\
             &resource=https%3A%2F%2Fapi.example%2Fx%3Fy%3D1"
        )
    );
    endpoint.client_auth = ClientAuth::Body;
    endpoint.scope = None;
    endpoint.resource = None;
    let exchanging = Grant::AuthorizationCode {
        code: "sim-acme-0-7",
    };
    assert_eq!(
        wire(&endpoint, &who, exchanging).as_deref(),
        Some(
            "POST http://example.com/oauth/token\n\
             content-type: application/x-www-form-urlencoded\n\
             accept: */*\n\n\
             grant_type=authorization_code&code=sim-acme-0-7\
             &redirect_uri=https%3A%2F%2Fwidget.invalid%2Fcallback\
             &client_id=client%3A1+%C3%A9&client_secret=s3cr%26t+%3D%C3%BC%2B%2F"
        )
    );
}

#[test]
fn web_deployment_requests_are_json_without_client_credentials() {
    let secret = Secret::new("unused");
    let refresh = Secret::new("rt-1");
    let who = Credentials {
        org: "acme",
        session: 7,
        client_id: "client",
        client_secret: &secret,
        deployment_id: "dep-1",
    };
    let mut endpoint = TokenEndpoint::at("https://login.example:8443/base");
    endpoint.dialect = Dialect::WebDeployments;
    endpoint.auth_code = Template::parse("code-{org}-{session}").ok();
    let exchanging = Grant::AuthorizationCode { code: "sim" };
    assert_eq!(
        wire(&endpoint, &who, exchanging).as_deref(),
        Some(
            "POST https://login.example:8443/base/api/v2/webdeployments/token/oauthcodegrantjwtexchange\n\
             content-type: application/json\n\
             accept: */*\n\n\
             {\"deploymentId\":\"dep-1\",\"oauth\":{\"code\":\"code-acme-7\",\
             \"redirectUri\":\"https://widget.invalid/callback\"}}"
        )
    );
    let refreshing = Grant::RefreshToken {
        refresh_token: &refresh,
    };
    assert_eq!(
        wire(&endpoint, &who, refreshing).as_deref(),
        Some(
            "POST https://login.example:8443/base/api/v2/webdeployments/token/refresh\n\
             content-type: application/json\n\
             accept: */*\n\n\
             {\"deploymentId\":\"dep-1\",\"refreshToken\":\"rt-1\"}"
        )
    );
    assert!(request(&endpoint, &who, Grant::ClientCredentials).is_none());
}

#[test]
fn a_basic_authorization_hides_itself_in_debug_output() {
    let secret = Secret::new("hunter2");
    let who = Credentials {
        org: "acme",
        session: 0,
        client_id: "client",
        client_secret: &secret,
        deployment_id: "",
    };
    let endpoint = TokenEndpoint::at("http://127.0.0.1:9");
    let r = request(&endpoint, &who, Grant::ClientCredentials);
    let headers = format!("{:?}", r.map(|r| r.headers().clone()));
    assert!(headers.contains("authorization"), "{headers}");
    assert!(!headers.contains("Basic"), "{headers}");
}

#[test]
fn a_refresh_token_of_any_characters_stays_inside_its_form_field() {
    let secret = Secret::new("s");
    let refresh = Secret::new("rt\r\nx: 1&grant_type=password");
    let who = Credentials {
        org: "acme",
        session: 0,
        client_id: "client",
        client_secret: &secret,
        deployment_id: "",
    };
    let mut endpoint = TokenEndpoint::at("http://127.0.0.1:9");
    endpoint.client_auth = ClientAuth::Body;
    let grant = Grant::RefreshToken {
        refresh_token: &refresh,
    };
    let body = request(&endpoint, &who, grant).map(|r| r.into_body());
    assert_eq!(
        body.as_deref(),
        Some(
            &b"grant_type=refresh_token&refresh_token=rt%0D%0Ax%3A+1%26grant_type%3Dpassword\
               &client_id=client&client_secret=s"[..]
        )
    );
}
