//! Runs the protoc that `protoc-bin-vendored` ships inside its crates.io package (protoc
//! 36.2 in 3.3.0), for the files protox cannot parse. The user installs nothing: the
//! binary and Google's `.proto` files come with the package, and the built-in
//! `gorums.proto` is written to a scratch directory placed after the user's include
//! paths, so a `gorums.proto` of theirs (Go Gorums' edition-2023 one, say) wins.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;

use crate::{Error, resolver};

/// Compiles `protos` with imports under `includes`, then `gorums.proto`, then Google's
/// files, into an encoded `FileDescriptorSet` with imports and source info.
/// `editions_file` is the file that made protoc necessary, for the error when there is
/// no protoc for this platform.
pub(crate) fn compile(
    protos: &[&Path],
    includes: &[&Path],
    editions_file: &str,
) -> Result<Vec<u8>, Error> {
    let unavailable = |err: protoc_bin_vendored::Error| Error::ProtocUnavailable {
        file: editions_file.to_owned(),
        source: Box::new(err),
    };
    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(unavailable)?;
    let google = protoc_bin_vendored::include_path().map_err(unavailable)?;
    let failed = |source: io::Error| Error::ProtocRun {
        protoc: protoc.clone(),
        source,
    };

    let scratch = tempfile::tempdir().map_err(failed)?;
    let builtin = scratch.path().join("include");
    fs::create_dir(&builtin).map_err(failed)?;
    fs::write(builtin.join("gorums.proto"), resolver::GORUMS_PROTO).map_err(failed)?;
    let out = scratch.path().join("descriptors.bin");

    let mut command = Command::new(&protoc);
    command
        .arg("--include_imports")
        .arg("--include_source_info")
        .arg(flag("--descriptor_set_out=", &out));
    for include in includes.iter().copied().chain([builtin.as_path(), &google]) {
        command.arg(flag("--proto_path=", include));
    }
    command.args(protos);
    let output = command.output().map_err(failed)?;
    if !output.status.success() {
        return Err(Error::Protoc {
            message: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    fs::read(&out).map_err(failed)
}

/// `--name=path`, for paths that need not be UTF-8.
fn flag(name: &str, path: &Path) -> OsString {
    let mut flag = OsString::from(name);
    flag.push(path);
    flag
}
