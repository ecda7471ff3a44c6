//! Integration tests, compiled as one binary: they run tokenstorm against its embedded target on 127.0.0.1.

mod integration {
    mod broken_server;
    mod browser;
    mod cli;
    mod client_models;
    mod compare;
    mod expiry_signatures;
    mod fault_matrix;
    mod fuzz;
    mod gates;
    mod plots;
    mod profile_errors;
    mod report_command;
    mod schema;
    mod shipped_profiles;
    mod support;
    mod target_abuse;
    mod target_contacts;
    mod target_faults;
    mod target_limits;
    mod target_oauth;
    mod target_revocation;
    mod target_rotation;
    mod target_support;
    mod target_tenancy;
    mod target_webdeploy;
}
