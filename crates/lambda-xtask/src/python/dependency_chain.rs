//! Which requirement of requirements.txt pulls an installed distribution in: the shortest
//! chain of `Requires-Dist` edges from a top-level requirement to it, over what is installed,
//! with markers and extras evaluated for the Lambda runtime.

use std::collections::{BTreeMap, VecDeque};
use std::str::FromStr;

use crate::python::pep508::{MarkerEnv, Requirement};
use crate::python::wheel::Installed;

/// The chain of normalised names from one of `roots` down to `target` (`["moto", "cryptography"]`
/// when moto requires cryptography), or `None` when no root leads there.
pub fn chain(installed: &[Installed], roots: &[Requirement], target: &str, env: &MarkerEnv) -> Option<Vec<String>> {
    let requires: BTreeMap<&str, Vec<Requirement>> = installed
        .iter()
        .map(|dist| {
            let requirements =
                dist.metadata.requires_dist.iter().filter_map(|r| Requirement::from_str(r).ok()).collect();
            (dist.normalized.as_str(), requirements)
        })
        .collect();
    let mut parent: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut queue: VecDeque<(String, Vec<String>)> = VecDeque::new();
    for root in roots.iter().filter(|r| r.applies(env, &[])) {
        if parent.insert(root.normalized.clone(), None).is_none() {
            queue.push_back((root.normalized.clone(), root.extras.clone()));
        }
    }
    while let Some((name, extras)) = queue.pop_front() {
        if name == target {
            let mut chain = vec![name.clone()];
            let mut at = name;
            while let Some(Some(up)) = parent.get(&at) {
                chain.push(up.clone());
                at = up.clone();
            }
            chain.reverse();
            return Some(chain);
        }
        for requirement in requires.get(name.as_str()).into_iter().flatten().filter(|r| r.applies(env, &extras)) {
            if !parent.contains_key(&requirement.normalized) {
                parent.insert(requirement.normalized.clone(), Some(name.clone()));
                queue.push_back((requirement.normalized.clone(), requirement.extras.clone()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(name: &str, requires: &[&str]) -> Installed {
        let dir = tempfile::tempdir().unwrap();
        let dist_info = dir.path().join(format!("{name}-1.0.dist-info"));
        std::fs::create_dir_all(&dist_info).unwrap();
        let mut metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n");
        for r in requires {
            metadata.push_str(&format!("Requires-Dist: {r}\n"));
        }
        std::fs::write(dist_info.join("METADATA"), metadata).unwrap();
        Installed::load(&dist_info).unwrap()
    }

    #[test]
    fn the_shortest_chain_follows_markers_and_extras() {
        let installed = vec![
            dist("moto", &["responses", "cryptography>=35; python_version >= '3.8'", "docker ; extra == 'server'"]),
            dist("cryptography", &["cffi"]),
            dist("cffi", &[]),
            dist("docker", &[]),
        ];
        let env = MarkerEnv::lambda(11, "x86_64");
        let roots = vec![Requirement::from_str("moto==5.0").unwrap()];
        assert_eq!(chain(&installed, &roots, "cffi", &env).unwrap(), ["moto", "cryptography", "cffi"]);
        assert_eq!(chain(&installed, &roots, "moto", &env).unwrap(), ["moto"]);
        assert_eq!(chain(&installed, &roots, "docker", &env), None, "only the server extra needs docker");
        let with_extra = vec![Requirement::from_str("moto[server]").unwrap()];
        assert_eq!(chain(&installed, &with_extra, "docker", &env).unwrap(), ["moto", "docker"]);
    }
}
