//! Makes `import "gorums.proto";` work without the user copying the file.

use protox::file::{File, FileResolver};

/// The Gorums method options, as shipped with this crate.
pub(crate) const GORUMS_PROTO: &str = include_str!("../proto/gorums.proto");

/// Resolves `gorums.proto` to the embedded copy. Placed after the user's include paths,
/// so a `gorums.proto` of their own takes precedence.
pub(crate) struct EmbeddedGorumsProto;

impl FileResolver for EmbeddedGorumsProto {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == "gorums.proto" {
            File::from_source(name, GORUMS_PROTO)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

#[cfg(test)]
mod tests {
    /// The crate ships its own copy of `proto/gorums.proto` (a published crate cannot
    /// reach outside itself); in the workspace the two must be the same file.
    #[test]
    fn the_embedded_gorums_proto_is_the_workspace_one() {
        let workspace =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto/gorums.proto");
        if let Ok(original) = std::fs::read_to_string(&workspace) {
            assert_eq!(
                super::GORUMS_PROTO,
                original,
                "gorums-build/proto/gorums.proto is stale: copy proto/gorums.proto over it"
            );
        }
    }
}
