# Ingress on the Secrets Manager VPC endpoint's security group from the Lambda function's
# security group (seed P0). Without it the function times out after 30 s reaching Secrets
# Manager (seed issue 3); the seed fixed it by hand with `aws ec2 authorize-security-group-ingress`,
# which the next rebuild of this infrastructure would have lost.

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "vpc_endpoint_security_group_id" {
  description = "Security group attached to the existing Secrets Manager VPC endpoint."
  type        = string
}

variable "lambda_security_group_id" {
  description = "LambdaSecurityGroupId output of the credmate-backend SAM stack."
  type        = string
}

resource "aws_security_group_rule" "vpc_endpoint_from_lambda" {
  description              = "HTTPS from the credmate backend Lambda function"
  type                     = "ingress"
  from_port                = 443
  to_port                  = 443
  protocol                 = "tcp"
  source_security_group_id = var.lambda_security_group_id
  security_group_id        = var.vpc_endpoint_security_group_id
}
