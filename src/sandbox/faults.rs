//! Injected failures for reliability tests.
use std::time::Duration;

/// Shares (0.0..=1.0) of requests answered with a 500, a 429, or held for `stall_for` first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    pub error_500: f64,
    pub throttle_429: f64,
    pub stall: f64,
    pub stall_for: Duration,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Pass,
    Fail500,
    Throttle429,
    Stall(Duration),
}

impl Faults {
    pub fn decide(&self) -> Decision {
        let roll: f64 = rand::random();
        if roll < self.error_500 {
            return Decision::Fail500;
        }
        if roll < self.error_500 + self.throttle_429 {
            return Decision::Throttle429;
        }
        if roll < self.error_500 + self.throttle_429 + self.stall {
            return Decision::Stall(self.stall_for);
        }
        Decision::Pass
    }
}
