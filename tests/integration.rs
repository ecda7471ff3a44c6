//! Integration tests, one binary (files under tests/integration/).

#[path = "integration/target_contacts.rs"]
mod target_contacts;
#[path = "integration/target_oauth.rs"]
mod target_oauth;
#[path = "integration/target_support.rs"]
mod target_support;
