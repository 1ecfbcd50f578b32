//! gorums-rs in simulation: the third runtime, a deterministic discrete-event simulator
//! that runs the gorums-core engine and API with virtual time, in-memory links and
//! seeded faults in one OS thread.
//!
//! Not yet built: this crate holds only its place in the workspace until the simulator
//! lands.
