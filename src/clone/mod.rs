//! Clones: stand-ins for other teams' services that real clients and real OpenStack
//! services accept (DESIGN §6). Each runs inside an env's supervisor or standalone.

pub mod auth;
