//! Guarded outbound HTTP: the one way the engine calls out (HTTP steps, provider actions,
//! polling triggers, SMTP host resolution).
//!
//! Every connection goes to an address the [`OutboundPolicy`] permits, checked on the address
//! actually connected to, on every redirect hop; bodies are read under a size limit and the
//! whole call under one deadline. This crate knows nothing of workflows or the journal.
//!
//! Module map: `ranges` (which addresses are forbidden, pure), `policy` (the allow list and
//! the check, pure), `resolver` (resolution that drops denied addresses), `redirect` (what a
//! hop becomes, pure), `body` (reading under a limit), `client` (`Outbound`, the redirect
//! loop), `error`.

#![deny(clippy::unwrap_used)]

mod body;
mod client;
mod error;
mod policy;
mod ranges;
mod redirect;
mod resolver;

pub use body::ChunkObserver;
pub use client::{Outbound, OutboundRequest, OutboundResponse};
pub use error::OutboundError;
pub use policy::{
    AllowRule, Cidr, Denial, OutboundPolicy, PolicyError, MAX_REDIRECTS_DEFAULT,
    MAX_RESPONSE_BYTES_DEFAULT,
};
