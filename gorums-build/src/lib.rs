//! `gorums-build` turns `.proto` services with Gorums method options into a typed
//! gorums-rs API, from a `build.rs`, with no `protoc` to install: proto2, proto3 and
//! editions 2023 and 2024 files, Go Gorums' own files unchanged.
//!
//! It reads the same options as Go Gorums (`import "gorums.proto";` then
//! `option (gorums.quorumcall) = true;` on a method), so one `.proto` file serves both.
//! Messages become prost types (through prost-build); each service `Foo` becomes:
//!
//! | generated | what it is |
//! |---|---|
//! | `foo_methods::READ_QC`, ... | the full method names on the wire (`package.Foo.ReadQC`) |
//! | `FooConfiguration` | a [`Configuration`] wrapper with one function per quorum call (returns `Responses<T>`), correctable call (a `Responses<T>` to call `correctable(k)` on) and multicast (plus `*_mapped`, a request per node) |
//! | `FooNode` | a `Node` wrapper with one function per RPC (a future of the reply) and unicast |
//! | `FooServer` | a trait with one `async`-style handler per method, taking a `ServerCtx` |
//! | `register_foo_server(&system, Arc<impl FooServer>)` | registers every handler |
//!
//! Both wrappers dereference to the untyped type, as Go Gorums' generated
//! `Configuration` embeds its raw configuration. Which call a method is follows from its
//! option: none or `rpc` → RPC; `unicast`; `multicast`; `quorumcall` → quorum call, or a
//! correctable call if its reply is a `stream`. A method with two options, a client
//! stream, a streamed reply without `quorumcall` or a generated name that clashes with
//! another, and a message named `Configuration`, `Node`, `NodeContext` or
//! `ConfigContext`, is a [`Violation`] that names the file and the method or message.
//! Every violation found is reported, not only the first: [`Error::Invalid`] lists them
//! all, one per line, so one build shows everything there is to fix.
//!
//! [`Configuration`]: https://docs.rs/gorums-core
//!
//! What it is not: a runtime dependency. The generated code names the API through one
//! path ([`Builder::gorums_path`], `::gorums_core::api` by default; `::gorums_tokio` or
//! `::gorums_smol` when you depend on an adapter only), so the same output runs on tokio,
//! smol and the simulator.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     gorums_build::Builder::new().compile(&["proto/storage.proto"], &["proto"])?;
//!     Ok(())
//! }
//! ```
//!
//! and in the crate, with the package `proto`:
//!
//! ```ignore
//! pub mod proto {
//!     #![allow(missing_docs)] // prost's message types carry the .proto comments only
//!     include!(concat!(env!("OUT_DIR"), "/proto.rs"));
//! }
//! ```
//!
//! # Which compiler reads the files
//!
//! proto2 and proto3 files are read by protox, in Rust. protox 0.10 cannot parse
//! editions files (`edition = "2023";`, as every Go Gorums file starts), so as soon as one
//! file of a compile, named or imported, is an editions file, all of them are read by the
//! protoc that the `protoc-bin-vendored` crate ships inside its package (protoc 36.2,
//! with Google's `.proto` files): nothing to install, but only on the platforms it has
//! a binary for (Linux on x86, x86-64, aarch64, ppc64le and s390x; macOS; Windows), and
//! [`Error::ProtocUnavailable`] elsewhere. Proto2/proto3 builds stay on protox rather
//! than moving to protoc too, so that they keep working on every platform and keep
//! their error messages; the protoc route can go once protox reads editions.
//!
//! `import "gorums.proto";` finds a `gorums.proto` on your include paths first (Go
//! Gorums' edition-2023 one works), else the one built into this crate; Google's
//! well-known types (`google/protobuf/empty.proto`, `timestamp.proto`, ...) are built in.
//!
//! # Editions
//!
//! prost-build predates editions, so each editions file is rewritten into the proto3
//! form that puts the same bytes on the wire, with its features resolved as protoc
//! resolves them (the edition's defaults, then file, message, oneof, field):
//!
//! | feature | Rust field |
//! |---|---|
//! | `field_presence = IMPLICIT` | plain: `pub key: String`, as in proto3 |
//! | `field_presence = EXPLICIT` (the editions default) | `Option<..>`, as proto3 `optional`; message fields and oneofs always |
//! | `field_presence = LEGACY_REQUIRED` | plain, required when decoding, as proto2 `required` |
//! | `repeated_field_encoding = PACKED` (default) or `EXPANDED` | packed, or `packed = "false"` |
//!
//! Features prost cannot honour are an [`Error::Unsupported`] that points at the line
//! setting them, not a silent difference on the wire: `message_encoding = DELIMITED`
//! (prost writes message fields length-prefixed only), `utf8_validation = NONE` on a
//! string field (prost's `String` always checks UTF-8; declare it `bytes`),
//! `enum_type = CLOSED` (prost's enums are open `i32`s), and an edition other than 2023
//! or 2024 (protoc 36.2 accepts 2026 too). Features without meaning for prost are
//! accepted and do nothing: `json_format` (prost writes no JSON), `enforce_naming_style`
//! and `default_symbol_visibility` (protoc checks them itself, then drops them), and the
//! language features of other generators (`features.(pb.cpp)`, `(pb.java)`, `(pb.go)`,
//! ...). A feature name protoc does not know, or a malformed file, is protoc's own
//! `file:line:column` error, in [`Error::Protoc`].

mod call_type;
mod compiler;
mod descriptor;
mod editions;
mod error;
mod protoc;
mod resolver;
mod service;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use protox::prost_reflect::DescriptorPool;

pub use error::{Error, GeneratedType, MethodRule, Unsupported, Violation};
/// prost-build, re-exported for [`Builder::prost_config`].
pub use prost_build;

/// Compiles `.proto` files into prost messages and the typed Gorums API.
#[derive(Debug)]
pub struct Builder {
    gorums_path: String,
    out_dir: Option<PathBuf>,
    emit_rerun_if_changed: bool,
    prost_config: Option<ProstConfig>,
}

/// A prost-build configuration supplied by the user (prost-build's own type is not `Debug`).
struct ProstConfig(prost_build::Config);

impl std::fmt::Debug for ProstConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("prost_build::Config")
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder with the defaults: API path `::gorums_core::api`, output in `OUT_DIR`,
    /// `cargo:rerun-if-changed` lines for every `.proto` file read.
    pub fn new() -> Builder {
        Builder {
            gorums_path: String::from("::gorums_core::api"),
            out_dir: None,
            emit_rerun_if_changed: true,
            prost_config: None,
        }
    }

    /// The path through which generated code names the gorums API, e.g.
    /// `::gorums_tokio` for a crate that depends on the tokio adapter only.
    pub fn gorums_path(mut self, path: impl Into<String>) -> Builder {
        self.gorums_path = path.into();
        self
    }

    /// Where to write the generated files (one per package, `<package>.rs`), instead of
    /// `OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` for each `.proto` file read (on by
    /// default; turn it off outside build scripts).
    pub fn emit_rerun_if_changed(mut self, emit: bool) -> Builder {
        self.emit_rerun_if_changed = emit;
        self
    }

    /// A prost-build configuration for the message types (e.g. `bytes(["."])` for
    /// `Bytes` fields, extra derives). Its service generator and output directory are
    /// set by this builder.
    pub fn prost_config(mut self, config: prost_build::Config) -> Builder {
        self.prost_config = Some(ProstConfig(config));
        self
    }

    /// Compiles `protos`, resolving imports under `includes` (and `gorums.proto` and the
    /// Google well-known types, which are built in), and writes `<package>.rs` files.
    ///
    /// # Errors
    ///
    /// [`Error::OutDirUnset`] without an output directory; [`Error::Proto`] or
    /// [`Error::Protoc`] if a file cannot be read or parsed; [`Error::Unsupported`] with
    /// every edition and feature prost cannot honour; [`Error::Write`] if prost-build
    /// fails; else [`Error::Invalid`] with every [`Violation`] in all the services and
    /// messages. The output may be written even then, without the services at fault.
    pub fn compile(
        self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), Error> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(Error::OutDirUnset)?,
        };
        let lowered = self.lowered(protos, includes)?;
        let pool = DescriptorPool::from_file_descriptor_set(lowered.files.clone())
            .map_err(Error::Descriptors)?;
        let (call_types, mut violations) =
            call_type::call_types(&pool, &lowered.method_options).map_err(Error::Decode)?;

        // Names are checked as prost-build names the methods, so in the generator.
        let name_violations = Rc::new(RefCell::new(Vec::new()));
        let generator = service::Generator {
            api: self.gorums_path.clone(),
            call_types,
            violations: name_violations.clone(),
        };
        let mut config = self.prost_config.map(|c| c.0).unwrap_or_default();
        config
            .service_generator(Box::new(generator))
            .out_dir(&out_dir)
            .compile_fds(lowered.files)
            .map_err(|source| Error::Write {
                dir: out_dir.clone(),
                source,
            })?;
        violations.append(&mut name_violations.take());
        if violations.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(violations))
        }
    }

    /// The descriptors [`compile`](Builder::compile) hands prost-build for `protos`:
    /// imports included, editions files in their proto3 form (see the crate docs), and
    /// without custom options (prost-types does not keep them). Feed them to another
    /// prost-based generator, e.g. `tonic-prost-build`'s `compile_fds`, for the same
    /// messages. Prints `cargo:rerun-if-changed` lines as `compile` does.
    ///
    /// # Errors
    ///
    /// As [`compile`](Builder::compile), up to the Gorums rules, which it does not check.
    pub fn file_descriptor_set(
        &self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<prost_types::FileDescriptorSet, Error> {
        Ok(self.lowered(protos, includes)?.files)
    }

    /// Reads `protos` and gives every editions file its proto3 form.
    fn lowered(
        &self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<editions::Lowered, Error> {
        let protos: Vec<&Path> = protos.iter().map(AsRef::as_ref).collect();
        let includes: Vec<&Path> = includes.iter().map(AsRef::as_ref).collect();
        let compiled = compiler::compile(&protos, &includes)?;
        let lowered = editions::lower(&compiled.bytes, &|name| compiled.display_name(name))?;
        if self.emit_rerun_if_changed {
            for file in &lowered.files.file {
                if let Some(path) = compiled.path(file.name()) {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
        }
        Ok(lowered)
    }
}
