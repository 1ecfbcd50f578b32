//! Reads `.proto` files into an encoded `FileDescriptorSet`, imports and source info
//! included: protox for proto2 and proto3, and the protoc bundled in
//! `protoc-bin-vendored` ([`protoc`](crate::protoc)) for all of them as soon as one file,
//! named or imported, is an editions file, which protox 0.10 cannot parse.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};

use crate::{Error, protoc, resolver};

/// Encoded descriptors, and where their files are on disk.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// The `FileDescriptorSet`, as the compiler wrote it (custom options included).
    pub(crate) bytes: Vec<u8>,
    paths: Paths,
}

/// How to find a file of the set on disk.
#[derive(Debug)]
enum Paths {
    /// protox told where it read each file.
    Known(BTreeMap<String, PathBuf>),
    /// protoc read each from the first of these include directories that has it.
    Search(Vec<PathBuf>),
}

impl Compiled {
    /// The file named `name` in the set on disk; `None` for a built-in file
    /// (`gorums.proto`, Google's).
    pub(crate) fn path(&self, name: &str) -> Option<PathBuf> {
        match &self.paths {
            Paths::Known(paths) => paths.get(name).cloned(),
            Paths::Search(includes) => includes
                .iter()
                .map(|include| include.join(name))
                .find(|path| path.is_file()),
        }
    }

    /// `name` as errors show it: its path on disk, if it has one.
    pub(crate) fn display_name(&self, name: &str) -> String {
        self.path(name)
            .map_or_else(|| name.to_owned(), |path| path.display().to_string())
    }
}

/// Compiles `protos`, resolving imports under `includes`, then the built-in
/// `gorums.proto`, then Google's well-known types.
pub(crate) fn compile(protos: &[&Path], includes: &[&Path]) -> Result<Compiled, Error> {
    let editions_file = Rc::new(RefCell::new(None));
    let mut resolver = ChainFileResolver::new();
    for include in includes {
        resolver.add(WatchEditions {
            include: IncludeFileResolver::new(include.to_path_buf()),
            dir: include.to_path_buf(),
            editions_file: editions_file.clone(),
        });
    }
    resolver.add(resolver::EmbeddedGorumsProto);
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true).include_source_info(true);
    if let Err(err) = compiler.open_files(protos) {
        return match editions_file.take() {
            Some(file) => Ok(Compiled {
                bytes: protoc::compile(protos, includes, &file)?,
                paths: Paths::Search(includes.iter().map(|i| i.to_path_buf()).collect()),
            }),
            None => Err(Error::Proto(err)),
        };
    }
    let paths = compiler
        .files()
        .filter_map(|file| Some((file.name().to_owned(), file.path()?.to_path_buf())))
        .collect();
    Ok(Compiled {
        bytes: compiler.encode_file_descriptor_set(),
        paths: Paths::Known(paths),
    })
}

/// An include directory for protox that notes the first editions file it fails to
/// parse, so that the compile can be handed to protoc.
struct WatchEditions {
    include: IncludeFileResolver,
    dir: PathBuf,
    editions_file: Rc<RefCell<Option<String>>>,
}

impl FileResolver for WatchEditions {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        self.include.resolve_path(path)
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let opened = self.include.open_file(name);
        if let Err(err) = &opened
            && err.is_parse()
            && fs::read_to_string(self.dir.join(name)).is_ok_and(|s| declares_edition(&s))
        {
            self.editions_file
                .borrow_mut()
                .get_or_insert_with(|| name.to_owned());
        }
        opened
    }
}

/// Whether `source` starts, after comments, with an `edition = "...";` declaration (a
/// `.proto` file's first statement is its `syntax` or `edition`).
fn declares_edition(source: &str) -> bool {
    let mut rest = source.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        if let Some(comment) = rest.strip_prefix("//") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.split_once("*/").map_or("", |(_, after)| after);
        } else {
            break;
        }
    }
    rest.strip_prefix("edition")
        .is_some_and(|after| !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::{Paths, compile, declares_edition};

    /// Writes `files` into a new temp dir.
    fn dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, source) in files {
            std::fs::write(dir.path().join(name), source).expect("write");
        }
        dir
    }

    #[test]
    fn proto3_stays_on_protox_and_an_imported_editions_file_moves_all_to_protoc() {
        let b = "syntax = \"proto3\";\npackage t;\nmessage B {}\n";
        let proto3 = dir(&[("b.proto", b)]);
        let compiled = compile(&[proto3.path().join("b.proto").as_path()], &[proto3.path()])
            .expect("compiles");
        assert!(matches!(compiled.paths, Paths::Known(_)));
        assert_eq!(
            compiled.path("b.proto"),
            Some(proto3.path().join("b.proto"))
        );

        let a = "syntax = \"proto3\";\npackage t;\nimport \"c.proto\";\n\
                 import \"gorums.proto\";\nmessage A { C c = 1; }\n";
        let c = "// first a comment\nedition = \"2024\";\npackage t;\nmessage C {}\n";
        let mixed = dir(&[("a.proto", a), ("c.proto", c)]);
        let compiled =
            compile(&[mixed.path().join("a.proto").as_path()], &[mixed.path()]).expect("compiles");
        assert!(matches!(compiled.paths, Paths::Search(_)));
        assert_eq!(compiled.path("c.proto"), Some(mixed.path().join("c.proto")));
        // Built in: no file of the user's to watch.
        assert_eq!(compiled.path("gorums.proto"), None);
        assert_eq!(compiled.path("google/protobuf/descriptor.proto"), None);
        assert_eq!(compiled.display_name("gorums.proto"), "gorums.proto");
    }

    #[test]
    fn an_edition_is_found_behind_comments_only() {
        assert!(declares_edition("edition = \"2023\";\npackage a;"));
        assert!(declares_edition(
            "\u{feff}// header\n/* block\n comment */\n  edition=\"2024\";"
        ));
        assert!(!declares_edition(
            "syntax = \"proto3\";\n// edition = \"2023\";"
        ));
        assert!(!declares_edition(
            "// edition = \"2023\";\nsyntax = \"proto2\";"
        ));
        assert!(!declares_edition("editions = 1;"));
        assert!(!declares_edition("package a; edition = \"2023\";"));
        assert!(!declares_edition("/* unterminated edition"));
    }
}
