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
    use crate::project::template::Template;

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
