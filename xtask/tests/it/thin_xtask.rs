//! This repository's xtask is what every adopter has: the main.rs lambda-init writes, and a
//! manifest whose dependencies are only the library (the dev-dependencies are this sample's
//! end-to-end tests, which an adopter's xtask does not have).

use std::fs;

use lambda_xtask::commands::init::scaffold::MAIN_RS;

use crate::support::repo_root;

#[test]
fn the_sample_xtask_is_the_thin_xtask_lambda_init_writes() {
    let main_rs = fs::read_to_string(repo_root().join("xtask/src/main.rs")).unwrap();
    assert_eq!(main_rs, MAIN_RS);

    let manifest: toml::Table = fs::read_to_string(repo_root().join("xtask/Cargo.toml")).unwrap().parse().unwrap();
    let dependencies = manifest["dependencies"].as_table().unwrap();
    let names: Vec<&str> = dependencies.keys().map(String::as_str).collect();
    assert_eq!(names, ["lambda-xtask"]);
    assert_eq!(dependencies["lambda-xtask"]["path"].as_str(), Some("../crates/lambda-xtask"));
}
