//! This repository's sample template, read as the library reads a user's: the sample's facts
//! live here, beside its end-to-end tests, not in the library's unit tests (an adopter's
//! `cargo test` of the library never sees this sample).

use std::path::Path;

use lambda_xtask::project::stack_template::{
    EXISTING_ENDPOINT_PARAMETER, LAMBDA_SECURITY_GROUP_RESOURCE, SUBNET_IDS_TYPE,
};
use lambda_xtask::project::template::Template;
use lambda_xtask::project::yaml_budget::{check, MAX_NODES};

fn sample_template_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/lambda/template.yaml")
}

#[test]
fn the_sample_template_reads_as_the_deploy_expects() {
    let template = Template::load(&sample_template_path(), "template.yaml").unwrap();
    let endpoint = template.parameter(EXISTING_ENDPOINT_PARAMETER).unwrap();
    assert_eq!(endpoint.default.as_deref(), Some(""));
    assert_eq!(template.parameter("AlarmEvaluationPeriods").unwrap().default.as_deref(), Some("1"));
    assert_eq!(template.parameter("VpcId").unwrap().default, None);
    assert_eq!(template.parameter_of_type(SUBNET_IDS_TYPE).unwrap().name, "SubnetIds");
    assert!(template.has_resource(LAMBDA_SECURITY_GROUP_RESOURCE));
    assert!(template.parameters.iter().all(|p| !p.no_echo));
    // The default health check's URL: the one execute-api output.
    let api: Vec<&str> = template.outputs.iter().filter(|o| o.is_api_url()).map(|o| o.name.as_str()).collect();
    assert_eq!(api, ["ApiUrl"]);
    assert!(template.uses_vpc);
}

#[test]
fn the_sample_template_is_within_the_yaml_budget() {
    let text = std::fs::read_to_string(sample_template_path()).unwrap();
    assert_eq!(check(&text, MAX_NODES), Ok(()));
}
