//! vstage: throwaway staging topologies of QEMU guests, from templates.
//!
//! The data flows one way: [`template`] → [`plan`] (pure) → [`driver`] (QEMU) run by
//! the env's [`supervisor`] → hand-off ([`env`]) → teardown ([`lifecycle`]).

pub mod accel;
pub mod actions;
pub mod admission;
pub mod agent;
pub mod api;
pub mod artifacts;
pub mod bounded;
pub mod clone;
pub mod config;
pub mod driver;
pub mod env;
pub mod fabric;
pub mod handoff;
pub mod home;
pub mod image;
pub mod journal;
pub mod junit;
pub mod layout;
pub mod lifecycle;
pub mod mounts;
pub mod net;
pub mod plan;
pub mod progress;
pub mod qmp;
pub mod readiness;
pub mod router;
pub mod seed;
pub mod snapshot;
pub mod supervisor;
pub mod switch;
pub mod template;
