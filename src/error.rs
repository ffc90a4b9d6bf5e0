//! The errors a command can end with: each module's own, and the few that belong to no one
//! module. `main.rs` prints any of them as one line.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    #[error(transparent)]
    Folder(#[from] crate::rundir::FolderError),
    #[error(transparent)]
    Lock(#[from] crate::rundir::LockError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// A run stopped by a fault: what happened, what was kept, how to go on.
    #[error("{message}; {kept}; {resume}")]
    RunFailed {
        message: String,
        kept: String,
        resume: String,
    },
    #[error("two runs of the sweep would share the folder {0}; give each setting once")]
    SameFolder(String),
    #[error("cannot write the results to stdout: {0}")]
    Stdout(std::io::Error),
    #[error("{failed} of {total} checks failed on {adapter}: {ops}; attach this output and `mlp-gpu devices` to a bug report")]
    ChecksFailed {
        failed: usize,
        total: usize,
        adapter: String,
        ops: String,
    },
}
