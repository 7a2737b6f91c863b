//! One module per command. A command may use any shared module; no shared module uses a
//! command.

pub mod audit;
pub mod build;
pub mod check;
pub mod deploy;
pub mod doctor;
pub mod init;
