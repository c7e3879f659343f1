//! Schedules (being written).
