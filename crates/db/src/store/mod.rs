//! Typed operations, one module per area. No SQL crosses the crate boundary.

pub mod auth;
pub mod chat;
pub mod plugin;
pub mod users;
