//! Sharding: which orgs, sessions and arrivals shard `i` of `n` runs, chosen so that the `n` shards
//! together send exactly the single-process schedule.
//!
//! The single-process run sends arrival `k` at the pacer's intended time for `k`, from session
//! `arrival_order[k % sessions]`. A shard keeps that numbering and sends only the arrivals whose
//! session belongs to one of its orgs, each at the same intended time. Every arrival has exactly one
//! owner, so the union of the shards is the single run, arrival by arrival and instant by instant,
//! and a shard's rate is its share of the sessions times the profile's rate.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Shard `index` (0-based, like Kubernetes' `JOB_COMPLETION_INDEX`) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `--shard` as written: `2/4`, or `auto/4` to take the index from an environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSpec {
    Fixed(Shard),
    Auto { count: u32 },
}

/// Where `--shard auto/N` reads its index: set by Kubernetes for every pod of an Indexed Job.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

const SYNTAX: &str = "write INDEX/COUNT with 0 <= INDEX < COUNT (e.g. 0/4), or auto/COUNT to read \
                      the index from JOB_COMPLETION_INDEX";

impl FromStr for ShardSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<ShardSpec, String> {
        let bad = |why: &str| format!("`{s}`: {why}; {SYNTAX}");
        let (index, count) = s.trim().split_once('/').ok_or_else(|| bad("no `/`"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| bad("COUNT is not a whole number"))?;
        if count == 0 {
            return Err(bad("COUNT must be at least 1"));
        }
        match index.trim() {
            "auto" => Ok(ShardSpec::Auto { count }),
            index => {
                let index: u32 = index
                    .parse()
                    .map_err(|_| bad("INDEX is not a whole number"))?;
                check(Shard { index, count })
                    .map(ShardSpec::Fixed)
                    .map_err(|e| bad(&e))
            }
        }
    }
}

fn check(shard: Shard) -> Result<Shard, String> {
    if shard.index >= shard.count {
        return Err(format!(
            "INDEX {} is not below COUNT {} (indexes start at 0)",
            shard.index, shard.count
        ));
    }
    Ok(shard)
}

impl ShardSpec {
    /// The concrete shard; `env_index` is the value of [`INDEX_ENV`] when it is set.
    pub fn resolve(self, env_index: Option<&str>) -> Result<Shard, String> {
        match self {
            ShardSpec::Fixed(shard) => Ok(shard),
            ShardSpec::Auto { count } => {
                let raw = env_index
                    .ok_or_else(|| format!("--shard auto/{count}: {INDEX_ENV} is not set"))?;
                let index = raw.trim().parse().map_err(|_| {
                    format!("--shard auto/{count}: {INDEX_ENV}=`{raw}` is not a whole number")
                })?;
                check(Shard { index, count }).map_err(|e| format!("--shard auto/{count}: {e}"))
            }
        }
    }
}

/// The arrivals one process sends: the positions of the cycled arrival order that belong to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// Sorted positions in `0..cycle`.
    positions: Arc<[u32]>,
    cycle: u32,
}

impl Slice {
    /// Every arrival: the single-process run.
    pub fn whole(sessions: u32) -> Slice {
        Slice {
            positions: (0..sessions).collect(),
            cycle: sessions,
        }
    }

    /// The arrivals whose session's org is owned (`owns[org]`).
    pub fn of(arrival_order: &[u32], session_org: &[u32], owns: &[bool]) -> Slice {
        let positions = arrival_order
            .iter()
            .enumerate()
            .filter(|(_, &session)| owns[session_org[session as usize] as usize])
            .map(|(position, _)| position as u32)
            .collect();
        Slice {
            positions,
            cycle: arrival_order.len() as u32,
        }
    }

    /// Share of all arrivals this slice sends.
    pub fn share(&self) -> f64 {
        if self.cycle == 0 {
            0.0
        } else {
            self.positions.len() as f64 / f64::from(self.cycle)
        }
    }

    /// The global arrival number of this slice's `k`-th arrival (both 0-based). Increasing in `k`.
    pub fn global(&self, k: u64) -> u64 {
        let per_cycle = self.positions.len() as u64;
        if per_cycle == 0 {
            return u64::MAX;
        }
        (k / per_cycle) * u64::from(self.cycle)
            + u64::from(self.positions[(k % per_cycle) as usize])
    }

    /// How many of the global arrivals `0..n` belong to this slice.
    pub fn owned_before(&self, n: u64) -> u64 {
        if self.cycle == 0 {
            return 0;
        }
        let cycle = u64::from(self.cycle);
        let rest = n % cycle;
        (n / cycle) * self.positions.len() as u64
            + self.positions.partition_point(|&p| u64::from(p) < rest) as u64
    }
}

/// Which orgs each shard owns. A partner org goes with its primary org (a multi-org app's sessions
/// refresh each other's tokens); groups go, largest first, to the shard with the fewest sessions so far,
/// so shares come out as even as whole orgs allow.
pub fn assign(
    shard: Shard,
    primary: &[Option<usize>],
    sessions_per_org: &[u64],
) -> Result<Vec<bool>, String> {
    let group_of = |org: usize| primary[org].unwrap_or(org);
    let mut weight = vec![0_u64; primary.len()];
    for (org, sessions) in sessions_per_org.iter().enumerate() {
        weight[group_of(org)] += sessions;
    }
    let mut groups: Vec<usize> = (0..primary.len())
        .filter(|&g| group_of(g) == g && weight[g] > 0)
        .collect();
    if groups.len() < shard.count as usize {
        return Err(format!(
            "cannot split into {} shards: the profile has {} org groups with sessions (an org and its \
             partners stay together), and each shard needs at least one",
            shard.count,
            groups.len()
        ));
    }
    groups.sort_by_key(|&g| (std::cmp::Reverse(weight[g]), g));
    let mut load = vec![0_u64; shard.count as usize];
    let mut owner_of_group = vec![0_u32; primary.len()];
    for g in groups {
        let (least, _) = load
            .iter()
            .enumerate()
            .min_by_key(|(i, l)| (**l, *i))
            .unwrap_or((0, &0));
        load[least] += weight[g];
        owner_of_group[g] = least as u32;
    }
    Ok((0..primary.len())
        .map(|org| owner_of_group[group_of(org)] == shard.index)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::schedule::Schedule;
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::time::Duration;

    #[test]
    fn shard_syntax() {
        let fixed = |index, count| ShardSpec::Fixed(Shard { index, count });
        assert_eq!("0/4".parse(), Ok(fixed(0, 4)));
        assert_eq!(" 3 / 4 ".parse(), Ok(fixed(3, 4)));
        assert_eq!("auto/4".parse(), Ok(ShardSpec::Auto { count: 4 }));
        for bad in ["4/4", "1/0", "a/4", "4", "-1/4", "auto/x", ""] {
            let err = bad.parse::<ShardSpec>().unwrap_err();
            assert!(err.contains("INDEX/COUNT"), "{bad}: {err}");
        }
        let auto = ShardSpec::Auto { count: 4 };
        assert_eq!(auto.resolve(Some("2")), Ok(Shard { index: 2, count: 4 }));
        assert!(auto.resolve(None).unwrap_err().contains(INDEX_ENV));
        assert!(auto.resolve(Some("4")).unwrap_err().contains("not below"));
        assert!(auto.resolve(Some("two")).unwrap_err().contains("`two`"));
    }

    /// Sessions spread over orgs as the plan does, in a seeded order.
    fn world(orgs: usize, sessions: u32, seed: u64) -> (Vec<u32>, Vec<u32>) {
        let session_org = (0..sessions).map(|s| s % orgs as u32).collect();
        let mut order: Vec<u32> = (0..sessions).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        (session_org, order)
    }

    #[test]
    fn shards_partition_the_single_schedule_exactly() {
        let cases = [
            (7, 50, 1, 3, 0),
            (20, 2000, 42, 4, 0),
            (5, 5, 9, 5, 0),
            (10, 37, 3, 4, 3),
        ];
        for (orgs, sessions, seed, count, partners) in cases {
            let (session_org, order) = world(orgs, sessions, seed);
            let primary: Vec<Option<usize>> = (0..orgs)
                .map(|o| (o >= orgs - partners).then_some(0))
                .collect();
            let per_org: Vec<u64> = (0..orgs)
                .map(|o| session_org.iter().filter(|&&x| x as usize == o).count() as u64)
                .collect();
            let schedule = Schedule::new(333.0, Duration::from_millis(700), Duration::from_secs(3));
            let total = schedule.total();
            let whole = Slice::whole(sessions);
            assert_eq!(whole.owned_before(total), total);
            let mut owner = vec![None; total as usize];
            let mut org_owner = vec![None; orgs];
            for index in 0..count {
                let owns = assign(Shard { index, count }, &primary, &per_org).unwrap();
                assert!(owns.iter().any(|o| *o), "shard {index} owns no org");
                // A partner org is always in its primary org's shard.
                for (org, p) in primary.iter().enumerate() {
                    if let Some(p) = p {
                        assert_eq!(owns[org], owns[*p]);
                    }
                }
                let slice = Slice::of(&order, &session_org, &owns);
                let n = slice.owned_before(total);
                let mut last = None;
                for k in 0..n {
                    let g = slice.global(k);
                    assert!(last < Some(g), "shard arrivals must keep the global order");
                    last = Some(g);
                    let session = order[(g % u64::from(sessions)) as usize];
                    let org = session_org[session as usize] as usize;
                    assert!(
                        owns[org],
                        "arrival {g} of org {org} sent by a shard not owning it"
                    );
                    assert_eq!(owner[g as usize].replace(index), None, "arrival {g} twice");
                    assert_eq!(
                        *org_owner[org].get_or_insert(index),
                        index,
                        "org {org} split"
                    );
                }
                // Due counts add up at any instant, so the shards release together what one process would.
                for ms in [0, 1, 350, 699, 700, 1234, 2999, 5000] {
                    let due = schedule.due(Duration::from_millis(ms));
                    assert!(slice.owned_before(due) <= due);
                }
            }
            assert!(owner.iter().all(Option::is_some), "an arrival has no shard");
            for ms in [0, 1, 350, 700, 1234, 2999, 5000] {
                let due = schedule.due(Duration::from_millis(ms));
                let sum: u64 = (0..count)
                    .map(|index| {
                        let owns = assign(Shard { index, count }, &primary, &per_org).unwrap();
                        Slice::of(&order, &session_org, &owns).owned_before(due)
                    })
                    .sum();
                assert_eq!(sum, due, "at {ms} ms");
            }
        }
    }

    #[test]
    fn shares_are_balanced_and_too_many_shards_is_an_error() {
        let per_org = vec![10; 8];
        let primary = vec![None; 8];
        let (session_org, order) = world(8, 80, 1);
        let shares: Vec<f64> = (0..4)
            .map(|index| {
                let owns = assign(Shard { index, count: 4 }, &primary, &per_org).unwrap();
                Slice::of(&order, &session_org, &owns).share()
            })
            .collect();
        assert_eq!(shares, vec![0.25; 4]);
        let err = assign(Shard { index: 0, count: 9 }, &primary, &per_org).unwrap_err();
        assert!(
            err.contains("9 shards") && err.contains("8 org groups"),
            "{err}"
        );
        let empty = Slice::of(&[], &[], &[]);
        assert_eq!(empty.owned_before(100), 0);
        assert_eq!(empty.share(), 0.0);
    }
}
