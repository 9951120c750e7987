//! The health-checker. (The helper building this crate replaces this doc.)

pub mod repair;
