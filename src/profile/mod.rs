//! Profiles: the TOML file a user writes, parsed into typed sections and validated.

pub mod problems;
pub mod server;
pub mod units;
