//! The escalation chain as a pure function of the policy: which level and round comes next,
//! and how long each waits. Levels run in order, the chain runs `rounds` times, then the last
//! level repeats every `repeat_interval` forever: a red alert never goes silent.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::EscalationPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub level: usize,
    pub round: u32,
}

impl Step {
    pub const FIRST: Step = Step { level: 0, round: 0 };
}

/// The step after `step`.
pub fn next(policy: &EscalationPolicy, step: Step) -> Step {
    let last = policy.levels.len().saturating_sub(1);
    if step.round + 1 >= policy.rounds && step.level >= last {
        // The repeat phase: the last level, again and again.
        Step {
            level: last,
            round: step.round + 1,
        }
    } else if step.level < last {
        Step {
            level: step.level + 1,
            round: step.round,
        }
    } else {
        Step {
            level: 0,
            round: step.round + 1,
        }
    }
}

/// How long `step` waits for an acknowledgement before the next one.
pub fn timeout(policy: &EscalationPolicy, step: Step, urgent: bool) -> Duration {
    if urgent && step == Step::FIRST {
        policy.urgent_first_timeout
    } else if step.round >= policy.rounds {
        policy.repeat_interval
    } else {
        policy
            .levels
            .get(step.level)
            .map_or(policy.repeat_interval, |l| l.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Audience, EscalationLevel};

    fn policy() -> EscalationPolicy {
        EscalationPolicy {
            levels: vec![
                EscalationLevel {
                    notify: Audience::OnDutyCounselors,
                    timeout: Duration::from_secs(300),
                },
                EscalationLevel {
                    notify: Audience::OnDutySupervisors,
                    timeout: Duration::from_secs(300),
                },
                EscalationLevel {
                    notify: Audience::AllSupervisors,
                    timeout: Duration::from_secs(600),
                },
            ],
            rounds: 2,
            repeat_interval: Duration::from_secs(900),
            urgent_first_timeout: Duration::from_secs(120),
            backup_emails: vec![],
            reminder_interval: Duration::from_secs(1800),
            channels: Default::default(),
        }
    }

    #[test]
    fn levels_then_rounds_then_the_last_level_forever() {
        let p = policy();
        let mut s = Step::FIRST;
        let mut seen = vec![(s.level, s.round)];
        for _ in 0..8 {
            s = next(&p, s);
            seen.push((s.level, s.round));
        }
        assert_eq!(
            seen,
            [
                (0, 0),
                (1, 0),
                (2, 0),
                (0, 1),
                (1, 1),
                (2, 1),
                (2, 2),
                (2, 3),
                (2, 4)
            ]
        );
        assert_eq!(
            timeout(&p, Step { level: 2, round: 3 }, false),
            p.repeat_interval
        );
        assert_eq!(
            timeout(&p, Step { level: 1, round: 1 }, false),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn urgent_alerts_wait_less_at_first() {
        let p = policy();
        assert_eq!(timeout(&p, Step::FIRST, true), Duration::from_secs(120));
        assert_eq!(timeout(&p, Step::FIRST, false), Duration::from_secs(300));
        assert_eq!(
            timeout(&p, Step { level: 0, round: 1 }, true),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn a_single_level_single_round_policy_still_repeats() {
        let mut p = policy();
        p.levels.truncate(1);
        p.rounds = 1;
        let s = next(&p, Step::FIRST);
        assert_eq!(s, Step { level: 0, round: 1 });
        assert_eq!(next(&p, s), Step { level: 0, round: 2 });
    }
}
