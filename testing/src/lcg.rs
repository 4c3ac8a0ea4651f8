//! A small deterministic generator for tests' synthetic data: the same numbers on
//! every run and machine, with no dependency.

/// Knuth's MMIX linear congruential generator, seeded with its state.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number, uniform in `[0, 1)` (the state's top 53 bits).
    pub fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}
