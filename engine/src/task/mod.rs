//! A task run from a manifest (`ferry run`), and in the engine pod (`ferry sync`).

pub mod beside_player;
pub mod cutover;
pub mod kube;
pub mod manifest;
pub mod run;
