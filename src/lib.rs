//! vstage: throwaway staging topologies of QEMU guests, from templates.
//!
//! The data flows one way, and the modules below are listed in its order: a template is
//! read and planned without IO, admitted on this host, brought up by actions through a
//! driver inside the env's supervisor, handed off to the tools that use it, and torn
//! down. Their dependencies form no cycle (`tests/module_cycles.rs`); the layers are in
//! `docs/architecture.md`.

// What the user writes, and what it means.
pub mod image;
pub mod plan; // the plan: everything concrete about an env, pure and deterministic
pub mod template; // templates: YAML with params and `--set`, validated, located errors // images: recipes built into a cache keyed by their content

// Bringing an env up, keeping it, and taking it down.
pub(crate) mod actions; // bring-up as an ordered list of small actions, each with an undo
pub(crate) mod admission; // whether this host can hold another env now
pub mod clone; // stand-ins for other teams' services: auth (Keystone), sdn (Neutron)
pub mod driver;
pub(crate) mod fabric; // the env's networks as the network clone changes them
pub mod lifecycle; // `up` and `down` as the CLI runs them, before and after the supervisor
pub mod mounts; // host directories in nodes, synced without reboots
pub mod snapshot; // whole-env snapshots and restores
pub mod supervisor; // the env's own process (nodes, clones, TTL, repair, teardown) and its API // what runs nodes and wires their networks (QEMU here), guests, readiness

// What an env gives the tools that use it.
pub mod handoff; // env files and variables, the artifacts a run keeps, JUnit

// What every step shares.
pub(crate) mod bounded; // reading from the untrusted side with a bound
pub mod env; // an env as vstage knows it: `env.json`, creation, removal
pub mod envdir; // an env's directory: file names, atomic writes, the journal
pub mod home; // where vstage keeps envs, images and probe results, and its settings
pub(crate) mod net; // address arithmetic: IPv4 networks, MACs, routes
pub mod progress; // progress on a terminal, plain lines in CI
