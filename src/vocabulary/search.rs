//! The words of a capacity search: why a step ran and where the search ended.

use serde::{Deserialize, Serialize};

/// Why a step is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Grow,
    Bisect,
    /// A deciding load run again.
    Repeat,
}

impl StepKind {
    /// The name report.json, the summary and the page use.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Grow => "grow",
            StepKind::Bisect => "bisect",
            StepKind::Repeat => "repeat",
        }
    }
}

/// Where the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchVerdict {
    /// A load that held and one above it that failed, within the resolution.
    Found,
    /// Even the start failed.
    StartFails,
    /// The ceiling held: the capacity is above the range searched.
    AboveRange,
    /// Stopped (Ctrl-C) before it knew.
    Interrupted,
}
