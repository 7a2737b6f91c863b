# cargo xtask lambda-deploy --env local: the SAM transform CloudFormation applies on a real
# deploy, applied here to the packaged template (its code locations are S3 URIs, as sam
# package wrote them) for the local AWS, which has no transform. Run with the SAM CLI's own
# Python: its aws-sam-translator is the transform sam validate uses.
#
# argv: packaged template, output file. XTASK_PARAMETERS: the parameter values the deploy
# passes, as a JSON object (in the environment, not argv: a NoEcho value is a secret).
# stdout, last line: {"resources": {logical id: type}} or {"errors": [message, ...]}.
#
# CloudFormation also expands `Fn::Transform: {Name: AWS::Include, Parameters: {Location:
# s3://...}}` (an OpenAPI body, say) from the object sam package uploaded; the local AWS does
# not, so it is expanded here from the local AWS's bucket (AWS_ENDPOINT_URL) before the SAM
# transform, which then sees the body as on a real deploy.
import json
import os
import sys

from samcli.yamlhelper import yaml_parse
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform


class BundledPoliciesOnly:
    """Managed policy names resolve through the table bundled with the transform; a name not
    in it stays as written (the real transform would ask IAM; the rehearsal asks nothing)."""

    def load(self):
        return {}


def include_location(node):
    if not (isinstance(node, dict) and list(node) == ["Fn::Transform"]):
        return None
    spec = node["Fn::Transform"]
    if not (isinstance(spec, dict) and spec.get("Name") == "AWS::Include"):
        return None
    location = (spec.get("Parameters") or {}).get("Location")
    return location if isinstance(location, str) and location.startswith("s3://") else None


def expand_includes(node, s3):
    location = include_location(node)
    if location is not None:
        bucket, _, key = location[len("s3://"):].partition("/")
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        except Exception:  # left as it is: the deploy then shows what the local AWS makes of it
            return node
        return expand_includes(yaml_parse(body), s3)
    if isinstance(node, dict):
        return {k: expand_includes(v, s3) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_includes(v, s3) for v in node]
    return node


def main(packaged, out):
    with open(packaged) as f:
        template = yaml_parse(f.read())
    if "AWS::Include" in json.dumps(template, default=str):
        import boto3

        template = expand_includes(template, boto3.client("s3"))
    parameters = json.loads(os.environ.get("XTASK_PARAMETERS") or "{}")
    try:
        transformed = transform(template, parameters, BundledPoliciesOnly())
    except InvalidDocumentException as error:
        print(json.dumps({"errors": [cause.message for cause in error.causes]}))
        return
    with open(out, "w") as f:
        # A date (an unquoted AWSTemplateFormatVersion) is written as the text it was.
        json.dump(transformed, f, indent=1, default=str)
    resources = {k: v.get("Type", "") for k, v in transformed.get("Resources", {}).items()}
    print(json.dumps({"resources": resources}))


main(sys.argv[1], sys.argv[2])
