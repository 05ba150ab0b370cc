//! A small, seeded, portable random number generator (xoshiro256**), so that every
//! "random" choice of the offline generators, the simulated channels and the bandit is
//! reproducible from a seed on every platform.

use marketingforce_core::id::splitmix64;

/// A deterministic pseudo-random generator (xoshiro256**, seeded through SplitMix64); public
/// with the `testing` feature only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededRng {
    s: [u64; 4],
}

impl SeededRng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> SeededRng {
        let mut x = seed;
        let mut s = [0u64; 4];
        for slot in &mut s {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            *slot = splitmix64(x);
        }
        SeededRng { s }
    }

    /// A generator derived from `seed` and a stream label (independent streams per purpose).
    pub fn derive(seed: u64, label: &str) -> SeededRng {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in label.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        SeededRng::new(seed ^ h.rotate_left(29))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift; the tiny bias is irrelevant for content variation.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A pick from `items` (None when empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.below(items.len()))
        }
    }

    /// A standard normal variate (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A Gamma(`shape`, 1) variate (Marsaglia–Tsang), `shape > 0`.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape.is_nan() || shape <= 0.0 {
            return 0.0;
        }
        if shape < 1.0 {
            let u = self.unit().max(f64::MIN_POSITIVE);
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.unit();
            if u < 1.0 - 0.0331 * x * x * x * x
                || u.max(f64::MIN_POSITIVE).ln() < 0.5 * x * x + d * (1.0 - v + v.ln())
            {
                return d * v;
            }
        }
    }

    /// A Beta(`a`, `b`) variate (for tests: Thompson sampling draws from gamma variates).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        if x + y == 0.0 {
            0.5
        } else {
            x / (x + y)
        }
    }

    /// A Poisson variate with mean `lambda` (Knuth for small means, normal approximation above 30).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda.is_nan() || lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            let v = lambda + lambda.sqrt() * self.normal();
            return v.round().max(0.0) as u64;
        }
        let l = (-lambda).exp();
        let mut k = 0u64;
        let mut p = 1.0;
        loop {
            p *= self.unit();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }

    /// A binomial variate: successes in `n` trials of probability `p`.
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if n == 0 || p.is_nan() || p <= 0.0 {
            return 0;
        }
        let p = p.min(1.0);
        if n <= 64 {
            return (0..n).filter(|_| self.chance(p)).count() as u64;
        }
        let mean = n as f64 * p;
        if mean < 30.0 {
            return self.poisson(mean).min(n);
        }
        let sd = (mean * (1.0 - p)).sqrt();
        (mean + sd * self.normal()).round().clamp(0.0, n as f64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_have_the_right_means() {
        let mut r = SeededRng::new(7);
        let n = 20_000;
        let beta: f64 = (0..n).map(|_| r.beta(2.0, 8.0)).sum::<f64>() / f64::from(n);
        assert!((beta - 0.2).abs() < 0.01, "{beta}");
        let pois: f64 = (0..n).map(|_| r.poisson(4.0) as f64).sum::<f64>() / f64::from(n);
        assert!((pois - 4.0).abs() < 0.1, "{pois}");
        let bin = r.binomial(10_000, 0.03);
        assert!((200..400).contains(&bin), "{bin}");
        assert!((0..1000).all(|_| r.below(3) < 3));
    }
}

#[cfg(test)]
mod seeded_tests {
    use super::SeededRng;

    #[test]
    fn a_seed_gives_one_sequence() {
        let mut a = SeededRng::new(42);
        let mut b = SeededRng::new(42);
        assert_eq!(a.next_u64(), b.next_u64());
        assert!(a.below(10) < 10);
        assert_ne!(SeededRng::new(42), SeededRng::new(43));
    }
}
