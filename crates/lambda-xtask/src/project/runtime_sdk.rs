//! The AWS SDK each Lambda Python runtime ships (boto3, botocore, s3transfer), as this tool
//! assumes it: a pinned table per runtime, which `[[workspace.metadata.lambda.runtime_sdk]]`
//! entries override. Installing a set is `guards::runtime_sdk`'s work.

use std::str::FromStr;

use serde::Deserialize;

/// One runtime's SDK: the three packages Lambda ships at the versions it ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkSet {
    pub boto3: String,
    pub botocore: String,
    pub s3transfer: String,
}

impl SdkSet {
    pub fn new(boto3: &str, botocore: &str, s3transfer: &str) -> SdkSet {
        SdkSet { boto3: boto3.into(), botocore: botocore.into(), s3transfer: s3transfer.into() }
    }

    /// `boto3 1.38.36, botocore 1.38.36, s3transfer 0.13.0`.
    pub fn describe(&self) -> String {
        format!("boto3 {}, botocore {}, s3transfer {}", self.boto3, self.botocore, self.s3transfer)
    }

    /// The version of one of the three packages, by its normalized name.
    pub fn version_of(&self, package: &str) -> Option<&str> {
        match package {
            "boto3" => Some(&self.boto3),
            "botocore" => Some(&self.botocore),
            "s3transfer" => Some(&self.s3transfer),
            _ => None,
        }
    }

    /// Each version must be a plain PEP 440 version: it becomes part of a path in the cache
    /// and a `==` requirement.
    pub fn validate(&self, runtime: &str) -> Result<(), String> {
        for (package, version) in
            [("boto3", &self.boto3), ("botocore", &self.botocore), ("s3transfer", &self.s3transfer)]
        {
            let plain = !version.is_empty()
                && version.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
                && pep440_rs::Version::from_str(version).is_ok();
            if !plain {
                return Err(format!(
                    "runtime_sdk for {runtime}: {package} = {version:?} is not a version like \"1.38.36\": give the exact release the runtime ships"
                ));
            }
        }
        Ok(())
    }
}

/// One `[[workspace.metadata.lambda.runtime_sdk]]` entry: the set a runtime ships where it
/// differs from [`pinned`] (an array of tables, since `python3.12` as a bare TOML key would be
/// a dotted key).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredSdk {
    pub runtime: String,
    pub boto3: String,
    pub botocore: String,
    pub s3transfer: String,
}

impl ConfiguredSdk {
    pub fn set(&self) -> SdkSet {
        SdkSet::new(&self.boto3, &self.botocore, &self.s3transfer)
    }
}

/// What this tool assumes each runtime ships when the configuration says nothing. AWS no
/// longer publishes one set per runtime (it varies by region and over time); these are sets
/// observed on the runtimes, each consistent by its own pins. Override one with
/// a `[[workspace.metadata.lambda.runtime_sdk]]` entry (see [`ConfiguredSdk`]).
pub fn pinned(python_minor: u32) -> Option<SdkSet> {
    match python_minor {
        // The Amazon Linux 2 runtimes carry an older set.
        9 | 10 => Some(SdkSet::new("1.34.145", "1.34.145", "0.10.2")),
        // Observed on python3.11, 3.12 and 3.13 in mid-2025.
        11..=13 => Some(SdkSet::new("1.38.36", "1.38.36", "0.13.0")),
        // python3.14 launched in November 2025 with the release of that month.
        14 => Some(SdkSet::new("1.40.76", "1.40.76", "0.14.0")),
        _ => None,
    }
}

/// The set for a runtime: the configured one, else the pinned one.
pub fn for_runtime(runtime: &str, python_minor: u32, configured: &[ConfiguredSdk]) -> Option<SdkSet> {
    configured.iter().find(|c| c.runtime == runtime).map(ConfiguredSdk::set).or_else(|| pinned(python_minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_runtime_has_a_set_and_the_configuration_wins() {
        for minor in 9..=14 {
            let set = pinned(minor).unwrap_or_else(|| panic!("python3.{minor}"));
            assert_eq!(set.validate(&format!("python3.{minor}")), Ok(()));
        }
        assert_eq!(pinned(8), None);
        let configured = [ConfiguredSdk {
            runtime: "python3.12".into(),
            boto3: "1.40.0".into(),
            botocore: "1.40.0".into(),
            s3transfer: "0.13.1".into(),
        }];
        assert_eq!(for_runtime("python3.12", 12, &configured).unwrap().boto3, "1.40.0");
        assert_eq!(for_runtime("python3.11", 11, &configured), pinned(11));
    }

    #[test]
    fn a_version_that_is_not_plain_is_refused() {
        for bad in ["", "1.38.36; rm -rf /", "../1.0", ">=1.38", "1.38.*"] {
            let set = SdkSet::new(bad, "1.38.36", "0.13.0");
            let err = set.validate("python3.12").unwrap_err();
            assert!(err.contains("runtime_sdk for python3.12: boto3 = "), "{err}");
        }
    }
}
