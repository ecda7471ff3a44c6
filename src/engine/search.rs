//! The capacity search as a sequence of decisions, apart from how a step is run: grow the load
//! geometrically from `start` until a step fails (or the ceiling holds), then bisect between the last
//! load that held and the first that failed until the bracket is within `resolution`, then run the
//! two deciding loads again `repeats` times so the answer's noise shows.

pub use crate::vocabulary::{SearchVerdict as Verdict, StepKind};

/// What the search is told.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchSpec {
    pub start: f64,
    pub ceiling: f64,
    /// Each growing step is this many times the last (above 1).
    pub factor: f64,
    /// The bracket is narrow enough when (failed - held) / held is at most this.
    pub resolution: f64,
    pub repeats: u32,
    /// Loads are whole numbers (orgs): steps round, and a bracket of neighbours is as narrow as
    /// it gets.
    pub whole: bool,
}

#[derive(Debug, Clone)]
pub struct Search {
    spec: SearchSpec,
    held: Option<f64>,
    failed: Option<f64>,
    /// The last growing step's load, while growing.
    grown: Option<f64>,
    repeats_left: u32,
    repeat_next_held: bool,
    ceiling_held: bool,
}

impl Search {
    pub fn new(spec: SearchSpec) -> Search {
        Search {
            spec,
            held: None,
            failed: None,
            grown: None,
            repeats_left: spec.repeats.saturating_mul(2),
            repeat_next_held: true,
            ceiling_held: false,
        }
    }

    /// The next load to try and why, or `None` when the search is over.
    pub fn next(&self) -> Option<(f64, StepKind)> {
        let s = &self.spec;
        match (self.held, self.failed) {
            _ if self.ceiling_held => None,
            (None, Some(_)) => None,
            (_, None) => {
                let load = self.grown.map_or(s.start, |g| self.grown_from(g));
                Some((load, StepKind::Grow))
            }
            (Some(held), Some(failed)) if self.wide(held, failed) => {
                let mid = (held + failed) / 2.0;
                Some((if s.whole { mid.floor() } else { mid }, StepKind::Bisect))
            }
            (Some(held), Some(failed)) if self.repeats_left > 0 => {
                let load = if self.repeat_next_held { held } else { failed };
                Some((load, StepKind::Repeat))
            }
            _ => None,
        }
    }

    fn grown_from(&self, last: f64) -> f64 {
        let s = &self.spec;
        let next = if s.whole {
            (last * s.factor).round().max(last + 1.0)
        } else {
            last * s.factor
        };
        next.min(s.ceiling)
    }

    /// Whether the bracket is still wider than the resolution (and, for whole loads, than one).
    fn wide(&self, held: f64, failed: f64) -> bool {
        let s = &self.spec;
        (failed - held) / held > s.resolution && !(s.whole && failed - held <= 1.0)
    }

    /// What a step at `load` came to.
    pub fn record(&mut self, load: f64, kind: StepKind, held: bool) {
        match kind {
            StepKind::Grow => {
                self.grown = Some(load);
                if held {
                    self.held = Some(load);
                    self.ceiling_held = load >= self.spec.ceiling;
                } else {
                    self.failed = Some(load);
                }
            }
            StepKind::Bisect if held => self.held = Some(load),
            StepKind::Bisect => self.failed = Some(load),
            // Repeats report the spread; they do not move the bracket.
            StepKind::Repeat => {
                self.repeats_left -= 1;
                self.repeat_next_held = !self.repeat_next_held;
            }
        }
    }

    /// The highest load that held, and the lowest that failed above it.
    pub fn bracket(&self) -> (Option<f64>, Option<f64>) {
        (self.held, self.failed)
    }

    /// The search's verdict once `next` is `None` (or when it was stopped).
    pub fn verdict(&self, stopped: bool) -> Verdict {
        match (self.held, self.failed) {
            _ if self.ceiling_held => Verdict::AboveRange,
            (None, Some(_)) => Verdict::StartFails,
            (Some(_), Some(_)) if !stopped || self.next().is_none() => Verdict::Found,
            _ => Verdict::Interrupted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(repeats: u32) -> SearchSpec {
        SearchSpec {
            start: 100.0,
            ceiling: 5000.0,
            factor: 2.0,
            resolution: 0.05,
            repeats,
            whole: false,
        }
    }

    /// Runs the search against a system that holds up to `capacity`.
    fn against(mut search: Search, capacity: f64) -> (Vec<(f64, StepKind, bool)>, Search) {
        let mut steps = Vec::new();
        while let Some((load, kind)) = search.next() {
            let held = load <= capacity;
            search.record(load, kind, held);
            steps.push((load, kind, held));
            assert!(steps.len() < 100, "the search must end");
        }
        (steps, search)
    }

    #[test]
    fn grows_geometrically_then_bisects_to_the_resolution() {
        let (steps, search) = against(Search::new(spec(0)), 430.0);
        let loads: Vec<f64> = steps.iter().map(|s| s.0).collect();
        assert_eq!(
            loads,
            [100.0, 200.0, 400.0, 800.0, 600.0, 500.0, 450.0, 425.0, 437.5]
        );
        assert_eq!(search.bracket(), (Some(425.0), Some(437.5)));
        assert_eq!(search.verdict(false), Verdict::Found);
        let (held, failed) = (425.0, 437.5);
        assert!((failed - held) / held <= 0.05);
    }

    #[test]
    fn the_ceiling_is_never_passed_and_a_holding_ceiling_is_above_range() {
        let (steps, search) = against(Search::new(spec(0)), 1e9);
        assert_eq!(steps.last().map(|s| s.0), Some(5000.0));
        assert!(steps.iter().all(|s| s.0 <= 5000.0));
        assert_eq!(search.verdict(false), Verdict::AboveRange);
    }

    #[test]
    fn a_failing_start_ends_the_search_at_once() {
        let (steps, search) = against(Search::new(spec(3)), 50.0);
        assert_eq!(steps.len(), 1);
        assert_eq!(search.verdict(false), Verdict::StartFails);
    }

    #[test]
    fn repeats_run_both_deciding_loads_in_turn_without_moving_the_bracket() {
        let (steps, search) = against(Search::new(spec(2)), 430.0);
        let repeats: Vec<f64> = steps
            .iter()
            .filter(|s| s.1 == StepKind::Repeat)
            .map(|s| s.0)
            .collect();
        assert_eq!(repeats, [425.0, 437.5, 425.0, 437.5]);
        assert_eq!(search.bracket(), (Some(425.0), Some(437.5)));
    }

    #[test]
    fn whole_loads_step_by_whole_numbers_and_stop_at_neighbours() {
        let whole = SearchSpec {
            start: 1.0,
            ceiling: 100.0,
            factor: 1.5,
            resolution: 0.01,
            repeats: 0,
            whole: true,
        };
        let (steps, search) = against(Search::new(whole), 13.0);
        let loads: Vec<f64> = steps.iter().map(|s| s.0).collect();
        // 1 * 1.5 rounds to 2 (never to 1 again), then 3, 5 (4.5), 8 (7.5), 12, 18; bisect 15, 13, 14.
        assert_eq!(
            loads,
            [1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 18.0, 15.0, 13.0, 14.0]
        );
        assert_eq!(search.bracket(), (Some(13.0), Some(14.0)));
    }

    #[test]
    fn a_search_stopped_midway_is_interrupted() {
        let mut search = Search::new(spec(0));
        search.record(100.0, StepKind::Grow, true);
        assert_eq!(search.verdict(true), Verdict::Interrupted);
        search.record(200.0, StepKind::Grow, false);
        assert_eq!(
            search.verdict(true),
            Verdict::Interrupted,
            "still bisecting"
        );
    }
}
