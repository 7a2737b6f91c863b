//! Python's packaging formats, as pip reads them: PEP 508 requirements, requirements.txt,
//! installed wheels' metadata.

pub mod dependency_chain;
pub mod pep508;
pub mod requirements_txt;
pub mod wheel;
