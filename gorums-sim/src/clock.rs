//! Time inside the simulation: virtual time is a count of nanoseconds since the start
//! ([`nanos`] converts a [`Duration`]), and each process reads it through its own
//! [`Clock`] (an offset and a drift: clock skew).

use std::time::Duration;

/// `d` in nanoseconds, saturating at `u64::MAX` (some 584 years).
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A process's clock: from global time `base_global`, where it read `base_local`, it
/// runs at `(1e6 + drift_ppm) / 1e6` of true (virtual) time. A drift change or a jump
/// moves the base, so the clock never goes backwards.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Clock {
    base_global: u64,
    base_local: u64,
    drift_ppm: i32,
}

impl Clock {
    /// A clock reading `offset` at time zero, `drift_ppm` off true time.
    pub(crate) fn new(offset: u64, drift_ppm: i32) -> Clock {
        Clock {
            base_global: 0,
            base_local: offset,
            drift_ppm,
        }
    }

    fn rate(self) -> u128 {
        (1_000_000i64 + i64::from(self.drift_ppm)).max(1) as u128
    }

    /// What the clock reads at global time `global` (not before its base).
    pub(crate) fn local(self, global: u64) -> u64 {
        let since = u128::from(global.saturating_sub(self.base_global));
        let scaled = since * self.rate() / 1_000_000;
        u64::try_from(scaled)
            .unwrap_or(u64::MAX)
            .saturating_add(self.base_local)
    }

    /// The first global time at which the local clock reads at least `local` (its base
    /// time if it already did then).
    pub(crate) fn global(self, local: u64) -> u64 {
        let Some(since) = local.checked_sub(self.base_local) else {
            return self.base_global;
        };
        let g = (u128::from(since) * 1_000_000).div_ceil(self.rate());
        u64::try_from(g)
            .unwrap_or(u64::MAX)
            .saturating_add(self.base_global)
    }

    /// From global time `now` on, runs `drift_ppm` off true time, after jumping
    /// `forward` nanoseconds ahead.
    pub(crate) fn skew(&mut self, now: u64, drift_ppm: i32, forward: u64) {
        self.base_local = self.local(now).saturating_add(forward);
        self.base_global = now;
        self.drift_ppm = drift_ppm;
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn a_skew_moves_the_clock_forward_never_back() {
        let mut c = Clock::new(0, 100_000);
        let before = c.local(1_000_000);
        c.skew(1_000_000, -100_000, 0);
        assert_eq!(c.local(1_000_000), before);
        assert_eq!(c.local(2_000_000), before + 900_000);
        c.skew(2_000_000, 0, 5_000);
        assert_eq!(c.local(2_000_000), before + 905_000);
    }

    #[test]
    fn skewed_clocks_are_monotonic_and_invertible() {
        for clock in [
            Clock::default(),
            Clock::new(5_000, 1000),
            Clock::new(0, -20_000),
            {
                let mut c = Clock::new(7, 30_000);
                c.skew(400_000, -50_000, 1_000);
                c
            },
        ] {
            let mut last = 0;
            for g in (400_000..1_400_000u64).step_by(997) {
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
