//! The storage service's messages, client traits and server trait, generated from
//! `proto/storage.proto` by gorums-build.

#![allow(missing_docs, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/proto.rs"));
