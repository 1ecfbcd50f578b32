//! Fault-injection points ("buggify", after FoundationDB's simulator): [`BuggifyPlan`],
//! how often the points code asks about fire, and the run's table of points with what
//! each did ([`BuggifySite`]).
//!
//! As in FoundationDB, a point is first switched on or off for the whole run (drawn
//! once, when it is first asked), and an enabled point then fires with its own
//! probability each time: a run exercises some slow paths hard and leaves the others
//! alone, which finds more than every point firing a little. Every draw comes from the
//! run's own buggify stream, so turning points on moves neither the network's, the
//! faults' nor the workload's draws.

use std::collections::BTreeMap;

use crate::rng::SimRng;

/// How fault-injection points behave in a run ([`SimConfig::buggify`](crate::SimConfig::buggify)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BuggifyPlan {
    /// The chance a point is enabled for the run (drawn once per point).
    pub enable: f64,
    /// The chance an enabled point fires each time it is asked.
    pub fire: f64,
    /// Whether the API's own points ([`api::buggify`](gorums_core::api::buggify):
    /// early timeouts, delayed writes) take part; `false` keeps them quiet and lets only
    /// the protocol's points fire.
    pub api: bool,
}

impl Default for BuggifyPlan {
    /// FoundationDB's odds, a quarter and a quarter, with the API's points included.
    fn default() -> BuggifyPlan {
        BuggifyPlan {
            enable: 0.25,
            fire: 0.25,
            api: true,
        }
    }
}

/// What one point did in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuggifySite {
    /// Whether it was enabled for the run.
    pub enabled: bool,
    /// How often code asked.
    pub asked: u64,
    /// How often it fired.
    pub fired: u64,
}

/// The run's points, in name order (the order the report lists them in; lookups never
/// depend on a hash order).
pub(crate) struct Sites {
    plan: BuggifyPlan,
    rng: SimRng,
    sites: BTreeMap<&'static str, BuggifySite>,
}

impl Sites {
    /// No point asked yet; every draw from `rng`.
    pub(crate) fn new(plan: BuggifyPlan, rng: SimRng) -> Sites {
        Sites {
            plan,
            rng,
            sites: BTreeMap::new(),
        }
    }

    /// Whether `site` fires now.
    pub(crate) fn ask(&mut self, site: &'static str) -> bool {
        if !self.plan.api && site.starts_with("gorums.") {
            return false;
        }
        let (plan, rng) = (self.plan, &mut self.rng);
        let entry = self.sites.entry(site).or_insert_with(|| BuggifySite {
            enabled: rng.chance(plan.enable),
            ..BuggifySite::default()
        });
        entry.asked += 1;
        let fires = entry.enabled && rng.chance(plan.fire);
        entry.fired += u64::from(fires);
        fires
    }

    /// How often `site` fired so far.
    pub(crate) fn fired(&self, site: &str) -> u64 {
        self.sites.get(site).map_or(0, |s| s.fired)
    }

    /// Every point asked so far and what it did.
    pub(crate) fn report(&self) -> Vec<(&'static str, BuggifySite)> {
        self.sites
            .iter()
            .map(|(&name, &site)| (name, site))
            .collect()
    }
}
