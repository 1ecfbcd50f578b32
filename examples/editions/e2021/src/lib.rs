//! A user crate of edition 2021 around gorums-build's output: `../proto/echo.proto`
//! compiled by `../shared/build.rs`, a server of it and user-style wrappers of the API,
//! all under `#![deny(warnings)]` and the workspace lints, so any warning in the
//! generated code fails the build. The test makes a call of each kind. The code is
//! shared with the other edition fixtures (`../shared`); only the edition differs.
//!
//! It is a fixture, not an example to copy: see `examples/storage` for that.

#![deny(warnings)]

/// The `fixture` package of `echo.proto`, as gorums-build generates it.
pub mod fixture {
    include!(concat!(env!("OUT_DIR"), "/fixture.rs"));
}

#[path = "../../shared/client.rs"]
pub mod client;
#[path = "../../shared/server.rs"]
pub mod server;

#[cfg(test)]
#[path = "../../shared/tests.rs"]
mod tests;
