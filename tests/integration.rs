//! Integration tests, one binary (files under tests/integration/).

#[path = "integration/target_contacts.rs"]
mod target_contacts;
#[path = "integration/target_faults.rs"]
mod target_faults;
#[path = "integration/target_limits.rs"]
mod target_limits;
#[path = "integration/target_oauth.rs"]
mod target_oauth;
#[path = "integration/target_revocation.rs"]
mod target_revocation;
#[path = "integration/target_rotation.rs"]
mod target_rotation;
#[path = "integration/target_support.rs"]
mod target_support;
#[path = "integration/target_tenancy.rs"]
mod target_tenancy;
#[path = "integration/target_webdeploy.rs"]
mod target_webdeploy;
