//! tokenstorm: a load tester for the OAuth2 token lifecycle of chat-widget (web messaging) clients.
//!
//! Data flows one way: [`profile`] -> [`plan`] -> [`engine`] -> [`http`] -> [`metrics`] -> [`report`],
//! wired together by [`app`]. The embedded simulated server lives in [`simulator`] and imports nothing
//! from the load-test side.

// Input from outside (profiles, responses, report files) must never panic; an invariant that truly
// cannot fail is written with `unwrap_or_else(|_| unreachable!(...))` next to its reason.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod engine;
pub mod http;
pub mod metrics;
pub mod plan;
pub mod profile;
pub mod report;
pub mod secret;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod vocabulary;
