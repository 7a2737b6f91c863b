//! What a function's code must be built for: the Lambda runtime's CPython version, its
//! architecture and the glibc of the Amazon Linux release under it.

use anyhow::Result;

use crate::bad_input;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    pub fn from_template(architecture: &str) -> Option<Arch> {
        match architecture {
            "x86_64" => Some(Arch::X86_64),
            "arm64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// As the template spells it.
    pub fn template_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// As wheel platform tags, `platform_machine` markers and extension suffixes spell it.
    pub fn machine(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }

    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => object::elf::EM_X86_64.0,
            Arch::Arm64 => object::elf::EM_AARCH64.0,
        }
    }
}

/// A glibc version, e.g. 2.26.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Glibc(pub u32, pub u32);

impl std::fmt::Display for Glibc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl Glibc {
    /// `2.17` or `2_17` -> Glibc(2, 17).
    pub fn parse(text: &str) -> Option<Glibc> {
        let (major, minor) = text.split_once(['.', '_'])?;
        Some(Glibc(major.parse().ok()?, minor.parse().ok()?))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaRuntime {
    /// As in the template, e.g. `python3.11`.
    pub name: String,
    /// 11 for python3.11.
    pub python_minor: u32,
    pub arch: Arch,
    /// The newest glibc the runtime's OS provides: binaries needing more fail to load.
    pub glibc: Glibc,
    /// The OS the runtime runs on, for messages.
    pub os: &'static str,
}

impl LambdaRuntime {
    pub fn new(runtime: &str, architecture: &str) -> Result<LambdaRuntime> {
        let Some(python_minor) = runtime.strip_prefix("python3.").and_then(|m| m.parse::<u32>().ok()) else {
            bad_input!("Runtime {runtime:?} is not a Python 3 runtime (python3.X)")
        };
        let Some(arch) = Arch::from_template(architecture) else {
            bad_input!("Architectures {architecture:?} is not one Lambda offers: use x86_64 or arm64")
        };
        // python3.8 to 3.11 run on Amazon Linux 2 (glibc 2.26); 3.12 and later on Amazon Linux
        // 2023 (glibc 2.34). python3.7 and older ran on Amazon Linux 1 (glibc 2.17).
        let (glibc, os) = match python_minor {
            0..=7 => (Glibc(2, 17), "Amazon Linux 1"),
            8..=11 => (Glibc(2, 26), "Amazon Linux 2"),
            _ => (Glibc(2, 34), "Amazon Linux 2023"),
        };
        Ok(LambdaRuntime { name: runtime.to_string(), python_minor, arch, glibc, os })
    }

    /// The platform triplet in CPython's extension suffix, e.g. `x86_64-linux-gnu`.
    pub fn triplet(&self) -> String {
        format!("{}-linux-gnu", self.arch.machine())
    }

    /// The suffixes this runtime's CPython imports extension modules from, most specific first.
    pub fn extension_suffixes(&self) -> [String; 3] {
        [format!(".cpython-3{}-{}.so", self.python_minor, self.triplet()), ".abi3.so".into(), ".so".into()]
    }

    pub fn describe(&self) -> String {
        format!(
            "{} on {} ({} {}, glibc {})",
            self.name,
            self.arch.template_name(),
            self.os,
            self.arch.machine(),
            self.glibc
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_ceiling_follows_the_runtime_os() {
        assert_eq!(LambdaRuntime::new("python3.11", "x86_64").unwrap().glibc, Glibc(2, 26));
        assert_eq!(LambdaRuntime::new("python3.12", "arm64").unwrap().glibc, Glibc(2, 34));
        assert_eq!(LambdaRuntime::new("python3.9", "x86_64").unwrap().os, "Amazon Linux 2");
    }

    #[test]
    fn bad_runtime_or_arch_is_bad_input() {
        for (runtime, arch) in [("nodejs20.x", "x86_64"), ("python3.x", "x86_64"), ("python3.11", "ppc64")] {
            let err = LambdaRuntime::new(runtime, arch).unwrap_err();
            assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT, "{runtime} {arch}");
        }
    }

    #[test]
    fn extension_suffixes_match_cpython() {
        let runtime = LambdaRuntime::new("python3.11", "arm64").unwrap();
        assert_eq!(runtime.extension_suffixes()[0], ".cpython-311-aarch64-linux-gnu.so");
        assert_eq!(Glibc::parse("2_17"), Some(Glibc(2, 17)));
        assert!(Glibc(2, 28) > Glibc(2, 26) && Glibc(2, 5) < Glibc(2, 17));
    }
}
