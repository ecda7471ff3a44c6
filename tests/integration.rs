//! Integration tests, compiled as one binary: they run tokenstorm against its embedded target on 127.0.0.1.

mod integration {
    mod api_connections;
    mod broken_server;
    mod browser;
    mod cli;
    mod client_models;
    mod compare;
    mod coordinated_omission;
    mod expiry_layout;
    mod expiry_signatures;
    mod fault_matrix;
    mod fuzz;
    mod gates;
    mod manifests;
    mod merge;
    mod platform_support;
    mod plots;
    mod profile_errors;
    mod remote_dialects;
    mod remote_http;
    mod remote_profile;
    mod remote_proxy;
    mod remote_support;
    mod remote_tls;
    mod report_command;
    mod schema;
    mod secret_hygiene;
    mod shards;
    mod shipped_profiles;
    mod significance;
    mod support;
    mod target_abuse;
    mod target_contacts;
    mod target_faults;
    mod target_limits;
    mod target_oauth;
    mod target_restart;
    mod target_revocation;
    mod target_rotation;
    mod target_support;
    mod target_tenancy;
    mod target_webdeploy;
    mod tenants;
    mod thirdparty;
    mod windowed_gates;
}
