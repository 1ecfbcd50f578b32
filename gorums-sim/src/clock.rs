//! Time inside the simulation: virtual time is a count of nanoseconds since the start
//! ([`nanos`] converts a [`Duration`]), and each process reads it through its own
//! [`Clock`] (an offset and a drift: clock skew).

use std::time::Duration;

/// `d` in nanoseconds, saturating at `u64::MAX` (some 584 years).
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A process's clock: `offset + t * (1e6 + drift_ppm) / 1e6` for global time `t`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Clock {
    pub(crate) offset: u64,
    pub(crate) drift_ppm: i32,
}

impl Clock {
    fn rate(self) -> u128 {
        (1_000_000i64 + i64::from(self.drift_ppm)).max(1) as u128
    }

    /// What the clock reads at global time `global`.
    pub(crate) fn local(self, global: u64) -> u64 {
        let scaled = u128::from(global) * self.rate() / 1_000_000;
        u64::try_from(scaled)
            .unwrap_or(u64::MAX)
            .saturating_add(self.offset)
    }

    /// The first global time at which the local clock reads at least `local`.
    pub(crate) fn global(self, local: u64) -> u64 {
        let Some(since) = local.checked_sub(self.offset) else {
            return 0;
        };
        let g = (u128::from(since) * 1_000_000).div_ceil(self.rate());
        u64::try_from(g).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn skewed_clocks_are_monotonic_and_invertible() {
        for clock in [
            Clock::default(),
            Clock {
                offset: 5_000,
                drift_ppm: 1000,
            },
            Clock {
                offset: 0,
                drift_ppm: -20_000,
            },
        ] {
            let mut last = 0;
            for g in (0..1_000_000u64).step_by(997) {
                let l = clock.local(g);
                assert!(l >= last);
                last = l;
                let back = clock.global(l);
                assert!(
                    back <= g && clock.local(back) >= l,
                    "{clock:?} {g} {l} {back}"
                );
            }
        }
    }
}
