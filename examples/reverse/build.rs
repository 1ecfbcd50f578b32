//! Generates the coordinator and worker services from `proto/reverse.proto`. This example
//! depends on the tokio adapter only, so the generated code names the API through it.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gorums_build::Builder::new()
        .gorums_path("::gorums_tokio")
        .compile(&["proto/reverse.proto"], &["proto"])?;
    Ok(())
}
