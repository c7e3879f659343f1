//! The dashboard's pages. `layout` holds what they share (the page shell, times, JSON,
//! statuses, URLs); each other module is one page (or a list and its item's page) and its
//! form handlers.

pub mod agent;
pub mod layout;
pub mod login;
pub mod overview;
pub mod run;
pub mod runs;
pub mod timeline;
pub mod triggers;
pub mod workflows;
