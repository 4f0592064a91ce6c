//! Injected failures, so users (and tests) can rehearse against a flaky API server:
//! `runner sandbox up --faults 5xx=0.1,429=0.1,stall=0.01,seed=7`.
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Shares (0.0..=1.0) of requests answered with a 500, a 429, or held for `stall_for` first.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    pub error_500: f64,
    pub throttle_429: f64,
    pub stall: f64,
    pub stall_for: Duration,
    /// Makes the sequence of decisions repeatable; `None` draws a fresh one.
    pub seed: Option<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            error_500: 0.0,
            throttle_429: 0.0,
            stall: 0.0,
            stall_for: Self::STALL_FOR,
            seed: None,
        }
    }
}

impl Faults {
    /// Longer than runner's per-try timeout (15 s), so a stall is a try that gets no answer,
    /// and bounded, so a client without timeouts is held up, never hung.
    pub const STALL_FOR: Duration = Duration::from_secs(20);
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Decision {
    Pass,
    Fail500,
    Throttle429,
    Stall(Duration),
}

/// The faults of one cluster, with the random sequence they are drawn from.
pub(crate) struct Injector {
    faults: Faults,
    rng: Mutex<StdRng>,
}

impl Injector {
    /// `salt` tells clusters sharing a seed apart (each gets its own sequence).
    pub(crate) fn new(faults: Faults, salt: &str) -> Self {
        let rng = match faults.seed {
            Some(seed) => {
                let salt = salt.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                });
                StdRng::seed_from_u64(seed ^ salt)
            }
            None => StdRng::from_entropy(),
        };
        Injector {
            faults,
            rng: Mutex::new(rng),
        }
    }

    pub(crate) fn decide(&self) -> Decision {
        let roll: f64 = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .gen();
        let f = &self.faults;
        if roll < f.error_500 {
            return Decision::Fail500;
        }
        if roll < f.error_500 + f.throttle_429 {
            return Decision::Throttle429;
        }
        if roll < f.error_500 + f.throttle_429 + f.stall {
            return Decision::Stall(f.stall_for);
        }
        Decision::Pass
    }
}

/// `5xx=0.1,429=0.1,stall=0.01,stall_ms=20000,seed=7`: shares of requests, each 0..=1, and
/// together at most 1.
impl FromStr for Faults {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let mut faults = Faults::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!(
                    "{part:?} is not KEY=VALUE; expected e.g. 5xx=0.1,429=0.1,stall=0.01,seed=7"
                ));
            };
            let share = || -> Result<f64, String> {
                match value.trim().parse::<f64>() {
                    Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
                    _ => Err(format!(
                        "{key}={value}: a share of requests is a number from 0 to 1"
                    )),
                }
            };
            let whole = || -> Result<u64, String> {
                value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{key}={value}: expected a whole number"))
            };
            match key.trim() {
                "5xx" | "500" => faults.error_500 = share()?,
                "429" => faults.throttle_429 = share()?,
                "stall" => faults.stall = share()?,
                "stall_ms" => {
                    let ms = whole()?;
                    if ms > 60_000 {
                        return Err(format!("stall_ms={ms}: at most 60000 (stalls are bounded)"));
                    }
                    faults.stall_for = Duration::from_millis(ms);
                }
                "seed" => faults.seed = Some(whole()?),
                other => {
                    return Err(format!(
                        "unknown fault {other:?}; known: 5xx, 429, stall, stall_ms, seed"
                    ))
                }
            }
        }
        if faults.error_500 + faults.throttle_429 + faults.stall > 1.0 {
            return Err("5xx + 429 + stall add up to more than 1".into());
        }
        Ok(faults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_parses_and_bad_ones_say_why() {
        let f: Faults = "5xx=0.1, 429=0.2,stall=0.01,stall_ms=500,seed=7"
            .parse()
            .unwrap();
        assert_eq!(
            f,
            Faults {
                error_500: 0.1,
                throttle_429: 0.2,
                stall: 0.01,
                stall_for: Duration::from_millis(500),
                seed: Some(7),
            }
        );
        assert_eq!(
            "5xx=2".parse::<Faults>().unwrap_err(),
            "5xx=2: a share of requests is a number from 0 to 1"
        );
        assert_eq!(
            "boom=0.1".parse::<Faults>().unwrap_err(),
            "unknown fault \"boom\"; known: 5xx, 429, stall, stall_ms, seed"
        );
        assert_eq!(
            "5xx=0.6,429=0.6".parse::<Faults>().unwrap_err(),
            "5xx + 429 + stall add up to more than 1"
        );
        assert_eq!(
            "stall_ms=90000".parse::<Faults>().unwrap_err(),
            "stall_ms=90000: at most 60000 (stalls are bounded)"
        );
    }

    #[test]
    fn a_seed_repeats_the_same_decisions() {
        let faults = Faults {
            error_500: 0.3,
            throttle_429: 0.3,
            seed: Some(42),
            ..Default::default()
        };
        let draw = |salt| {
            let injector = Injector::new(faults.clone(), salt);
            (0..50).map(|_| injector.decide()).collect::<Vec<_>>()
        };
        assert_eq!(draw("cluster-1"), draw("cluster-1"));
        assert_ne!(draw("cluster-1"), draw("cluster-2"));
    }
}
