//! Seeded sampling (open choice **O8**): every random draw of a run comes from one [`Rng`] seeded
//! by the user's RNG seed, so the same seed replays the same run on the same backend.
//!
//! SplitMix64 (Steele, Lea & Flood 2014) is written here rather than taken from a crate so the
//! stream can never change under a dependency update: shared links must replay for years.

/// SplitMix64: a small, fast, statistically sound 64-bit generator.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The stream's position: `Rng::new(rng.state())` goes on exactly where `rng` is (a run's
    /// checkpoint keeps it).
    pub fn state(&self) -> u64 {
        self.state
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` without modulo bias (Lemire's multiply-shift with rejection).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        let n = n as u64;
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = (self.next_u64() as u128) * (n as u128);
            if (product as u64) >= threshold {
                return (product >> 64) as usize;
            }
        }
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `count` distinct indices from `0..n`, in random order (partial Fisher–Yates).
    pub fn distinct(&mut self, n: usize, count: usize) -> Vec<usize> {
        assert!(count <= n, "cannot draw {count} distinct indices from {n}");
        let mut pool: Vec<usize> = (0..n).collect();
        for i in 0..count {
            let j = i + self.below(n - i);
            pool.swap(i, j);
        }
        pool.truncate(count);
        pool
    }
}

/// A standard normal draw (Box–Muller, the cosine half).
pub fn gaussian(rng: &mut Rng) -> f32 {
    let u1 = rng.unit().max(1e-300);
    let u2 = rng.unit();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_known_values() {
        // Reference outputs of SplitMix64 seeded with 0 (as in Vigna's splitmix64.c).
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn distinct_draws_are_distinct_and_in_range() {
        let mut rng = Rng::new(7);
        let draw = rng.distinct(256, 31);
        assert_eq!(draw.len(), 31);
        let mut sorted = draw.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 31);
        assert!(draw.iter().all(|&i| i < 256));
        // Every index reachable, roughly uniformly: 20000 draws of 1 from 10.
        let mut counts = [0usize; 10];
        for _ in 0..20000 {
            counts[rng.below(10)] += 1;
        }
        assert!(counts.iter().all(|&c| (1800..2200).contains(&c)), "{counts:?}");
    }
}
