//! The names lambda-deploy looks for in the SAM template (read by `crate::template`): the
//! parameters, resources and outputs that decide which checks apply.

/// The parameter that, when set, stops the stack from creating its own Secrets Manager
/// endpoint (seed fix 1).
pub const EXISTING_ENDPOINT_PARAMETER: &str = "ExistingSecretsManagerVpcEndpoint";
/// The endpoint the stack creates when that parameter is empty.
pub const ENDPOINT_RESOURCE: &str = "SecretsManagerVpcEndpoint";
/// The function's security group, which the endpoint must admit on 443.
pub const LAMBDA_SECURITY_GROUP_RESOURCE: &str = "LambdaSecurityGroup";
pub const LAMBDA_SECURITY_GROUP_OUTPUT: &str = "LambdaSecurityGroupId";
pub const ENDPOINT_OUTPUT: &str = "SecretsManagerVpcEndpointId";

pub const VPC_ID_TYPE: &str = "AWS::EC2::VPC::Id";
pub const SUBNET_IDS_TYPE: &str = "List<AWS::EC2::Subnet::Id>";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::template::Template;
    use std::path::Path;

    #[test]
    fn reads_the_sample_template() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/lambda/template.yaml");
        let template = Template::load(&path, "template.yaml").unwrap();
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
    fn no_echo_parameters_are_known() {
        let template =
            Template::parse(
            "Parameters:\n  DbPassword:\n    Type: String\n    NoEcho: true\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n",
            "t",
        )
        .unwrap();
        assert!(template.parameter("DbPassword").unwrap().no_echo);
        assert!(template.has_resource("Topic"));
    }
}
