//! Duro's triggers: when a workflow runs.
//!
//! - `catalog`: the trigger types and the JSON Schema of each one's config.
//! - `instances`: trigger instances as `trigger-{id}` streams, slugs as claim streams.
//! - `provider_events`: provider triggers (the `triggers` of provider files) at work: which
//!   trigger a provider's delivery is for, and a provider trigger's config.
//! - `runner`: one task per enabled schedule or polling trigger; `poll_cursor`: what a
//!   polling trigger has already started (by id, or by time with `timestampField`).
//!
//! - `schedule`: cron expressions and intervals in an IANA time zone, with defined
//!   daylight-saving rules, catch-up after downtime and overlap policies; pure functions of
//!   the time they are given (the scheduler's clock is injected).
//! - `signature`: verification of webhook signatures (Standard Webhooks, Stripe, GitHub,
//!   Slack, generic HMAC-SHA256), constant-time.

pub mod catalog;
pub mod instances;
pub mod poll_cursor;
pub mod provider_events;
pub mod runner;
pub mod schedule;
pub mod signature;
