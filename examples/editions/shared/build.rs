//! Generates the `fixture` package of `../proto/echo.proto` (messages, `EchoConfiguration`,
//! `EchoNode`, `EchoServer`, `register_echo_server`), naming the API through
//! `::gorums_tokio` as a user crate that depends on the adapter only does. Every edition
//! fixture runs this same script (`build = "../shared/build.rs"`), in its own edition.

fn main() {
    gorums_build::Builder::new()
        .gorums_path("::gorums_tokio")
        .compile(&["../proto/echo.proto"], &["../proto"])
        .expect("echo.proto compiles");
}
