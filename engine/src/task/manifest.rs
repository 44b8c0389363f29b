//! The manifest `ferry run -f` takes (parsed by [`ferry_crds::manifest`]): the task with its
//! resolved credentials, and where `ferry run` keeps its state.

use std::path::{Path, PathBuf};

pub use ferry_crds::manifest::{Credentials, Task};

use crate::error::Result;

/// Reads and resolves a manifest file.
pub fn load(path: &Path) -> Result<Task> {
    Ok(ferry_crds::manifest::load(path)?)
}

/// Where `ferry run` keeps a task's state file.
pub fn status_path(state_dir: &Path, task: &Task) -> PathBuf {
    state_dir.join(format!("{}.status.yaml", task.name))
}
