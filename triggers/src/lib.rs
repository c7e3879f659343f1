//! Duro's triggers: when a workflow runs.
//!
//! - `schedule`: cron expressions and intervals in an IANA time zone, with defined
//!   daylight-saving rules, catch-up after downtime and overlap policies; pure functions of
//!   the time they are given (the scheduler's clock is injected).
//! - `signature`: verification of webhook signatures (Standard Webhooks, Stripe, GitHub,
//!   Slack, generic HMAC-SHA256), constant-time.

pub mod schedule;
pub mod signature;
