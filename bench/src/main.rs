//! The gorums-rs benchmark program (`gorums-bench`).
//!
//! Not yet built: it lands once both adapters and the code generator exist.

fn main() {
    println!("gorums-bench: not built yet; see bench/ once the adapters land");
}
