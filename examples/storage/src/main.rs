//! The storage example: four replicas of a key/value store and a REPL that reads and
//! writes them with RPCs, unicasts, multicasts, quorum calls and correctable calls.
//!
//! Not yet built: it lands with the code generator. Until then this program says so.

fn main() {
    println!(
        "gorums-rs storage example: not built yet.\n\
         It arrives with the code generator (gorums-build): four local replicas and a REPL.\n\
         Today the workspace holds the wire codec (gorums_core::wire); run the tests with\n\
         `cargo test --workspace`."
    );
}
