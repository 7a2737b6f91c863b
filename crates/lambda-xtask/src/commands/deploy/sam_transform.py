# cargo xtask lambda-deploy --env local: the SAM transform CloudFormation applies on a real
# deploy, applied here to the packaged template (its code locations are S3 URIs, as sam
# package wrote them) for the local AWS, which has no transform. Run with the SAM CLI's own
# Python: its aws-sam-translator is the transform sam validate uses.
#
# argv: packaged template, output file. XTASK_PARAMETERS: the parameter values the deploy
# passes, as a JSON object (in the environment, not argv: a NoEcho value is a secret).
# stdout, last line: {"resources": {logical id: type}} or {"errors": [message, ...]}, each with
# "not_rehearsed": [{resource, location, value, stand_in, why}].
#
# CloudFormation also expands `Fn::Transform: {Name: AWS::Include, Parameters: {Location:
# s3://...}}` (an OpenAPI body, say) from the object sam package uploaded; the local AWS does
# not, so it is expanded here from the local AWS's bucket (AWS_ENDPOINT_URL) before the SAM
# transform, which then sees the body as on a real deploy. A Location over a parameter is
# resolved with the deploy's value; one that names a file of the repository
# (XTASK_TEMPLATE_DIR, XTASK_PROJECT_ROOT) is read from it. One the rehearsal cannot read (an
# S3 object uploaded outside sam, a value supplied at deploy time) gets a minimal stand-in
# where one can be written (an API's OpenAPI body) and is listed in "not_rehearsed".
import json
import os
import re
import sys

from samcli.yamlhelper import yaml_parse
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform


class BundledPoliciesOnly:
    """Managed policy names resolve through the table bundled with the transform; a name not
    in it stays as written (the real transform would ask IAM; the rehearsal asks nothing)."""

    def load(self):
        return {}


def include_spec(node):
    """The `Location` of `{Fn::Transform: {Name: AWS::Include, ...}}`, as written; else None."""
    if not (isinstance(node, dict) and list(node) == ["Fn::Transform"]):
        return None
    spec = node["Fn::Transform"]
    if not (isinstance(spec, dict) and spec.get("Name") == "AWS::Include"):
        return None
    return (spec.get("Parameters") or {}).get("Location")


PSEUDO = {"AWS::Region": os.environ.get("AWS_REGION", ""), "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


def resolve_location(location, parameters):
    """The location's text (a literal, a Ref to a parameter, a Sub over parameters) and how it
    is written; the text is None when it cannot be resolved here."""
    if isinstance(location, str):
        return location, location
    if isinstance(location, dict) and list(location) == ["Ref"] and isinstance(location["Ref"], str):
        name = location["Ref"]
        return parameters.get(name, PSEUDO.get(name)), "!Ref " + name
    if isinstance(location, dict) and list(location) == ["Fn::Sub"]:
        text, variables = location["Fn::Sub"], {}
        if isinstance(text, list) and len(text) == 2 and isinstance(text[1], dict):
            text, variables = text
        if isinstance(text, str):
            shown = "!Sub " + text
            values = dict(PSEUDO, **parameters)
            values.update({k: v for k, v in variables.items() if isinstance(v, str)})
            unresolved = []

            def one(match):
                name = match.group(1)
                if name in values:
                    return values[name]
                unresolved.append(name)
                return match.group(0)

            resolved = re.sub(r"\$\{([^}!]+)\}", one, text)
            return (None if unresolved else resolved), shown
    return None, json.dumps(location, default=str)


def s3_object(url):
    """(bucket, key) of an S3 URI or an S3 HTTPS URL (virtual-hosted or path style)."""
    if url.startswith("s3://"):
        bucket, _, key = url[len("s3://"):].partition("/")
        return (bucket, key) if bucket and key else None
    match = re.match(r"https://([^/]+)/(.+)$", url)
    if not match:
        return None
    host, path = match.groups()
    hosted = re.match(r"(.+)\.s3[.-]([a-z0-9-]+\.)?amazonaws\.com(\.cn)?$", host) or re.match(
        r"(.+)\.s3\.amazonaws\.com$", host
    )
    if hosted:
        return hosted.group(1), path
    if re.match(r"s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?$", host):
        bucket, _, key = path.partition("/")
        return (bucket, key) if bucket and key else None
    return None


def local_file(text):
    """A file of the repository the location names (relative to the template, else to the
    project root); None for anything outside the project."""
    if "://" in text:
        return None
    root = os.path.realpath(os.environ.get("XTASK_PROJECT_ROOT") or ".")
    for base in (os.environ.get("XTASK_TEMPLATE_DIR") or root, root):
        path = os.path.realpath(os.path.join(base, text))
        if path.startswith(root + os.sep) and os.path.isfile(path):
            return path
    return None


MOCK_GET = {
    "get": {
        "responses": {"200": {"description": "stand-in"}},
        "x-amazon-apigateway-integration": {
            "type": "mock",
            "requestTemplates": {"application/json": '{"statusCode": 200}'},
            "responses": {"default": {"statusCode": "200"}},
        },
    }
}


def stand_in(resource_type, key):
    """A minimal valid document in place of an include the rehearsal cannot read, where one
    can be written (an API's OpenAPI body, a state machine's definition), and what it is."""
    title = {"title": "rehearsal stand-in", "version": "1.0"}
    if (resource_type, key) in (("AWS::Serverless::Api", "DefinitionBody"), ("AWS::ApiGateway::RestApi", "Body")):
        # One method: API Gateway deploys no REST API without one.
        document = {"openapi": "3.0.1", "info": title, "paths": {"/rehearsal-stand-in": MOCK_GET}}
        return document, "a minimal OpenAPI document (one mock GET /rehearsal-stand-in)"
    if (resource_type, key) in (("AWS::Serverless::HttpApi", "DefinitionBody"), ("AWS::ApiGatewayV2::Api", "Body")):
        return {"openapi": "3.0.1", "info": title, "paths": {}}, "a minimal OpenAPI document (no paths)"
    if key in ("Definition", "DefinitionBody") and resource_type.endswith("StateMachine"):
        document = {"StartAt": "StandIn", "States": {"StandIn": {"Type": "Pass", "End": True}}}
        return document, "a one-state Pass state machine"
    return None, None


class Includes:
    def __init__(self, s3, parameters):
        self.s3 = s3
        self.parameters = parameters
        # What the rehearsal could not expand: {resource, location, value, stand_in, why}.
        self.not_rehearsed = []

    def read(self, text):
        """The included document from the local AWS's S3 or the repository; None if neither
        has it."""
        bucket_key = s3_object(text)
        if bucket_key is not None and self.s3 is not None:
            try:
                body = self.s3.get_object(Bucket=bucket_key[0], Key=bucket_key[1])["Body"].read()
                return yaml_parse(body.decode("utf-8"))
            except Exception:  # not in the local AWS: not rehearsed
                return None
        path = local_file(text)
        if path is not None:
            with open(path) as f:
                return yaml_parse(f.read())
        return None

    def expand(self, node, resource=("", ""), key=""):
        written = include_spec(node)
        if written is not None:
            text, shown = resolve_location(written, self.parameters)
            document = self.read(text) if text is not None else None
            if document is not None:
                return self.expand(document, resource, key)
            if text is None:
                why = "it cannot be resolved before the deploy"
            elif s3_object(text) is not None:
                why = "the local AWS's S3 does not have it (it is uploaded outside sam, at deploy time)"
            else:
                why = "it names no S3 object and no file of the repository (it is supplied at deploy time)"
            replacement, what = stand_in(resource[1], key)
            self.not_rehearsed.append(
                {"resource": resource[0], "location": shown, "value": text, "stand_in": what, "why": why}
            )
            return node if replacement is None else replacement
        if isinstance(node, dict):
            return {k: self.expand(v, resource, k) for k, v in node.items()}
        if isinstance(node, list):
            return [self.expand(v, resource, key) for v in node]
        return node

    def expand_template(self, template):
        resources = template.get("Resources")
        expanded = {k: v for k, v in template.items() if k != "Resources"}
        expanded = self.expand(expanded)
        if isinstance(resources, dict):
            expanded["Resources"] = {
                logical_id: self.expand(resource, (logical_id, resource_type(resource)))
                for logical_id, resource in resources.items()
            }
        return expanded


def resource_type(resource):
    kind = resource.get("Type") if isinstance(resource, dict) else None
    return kind if isinstance(kind, str) else ""


def getatt_as_list(node):
    """`Fn::GetAtt: Role.Arn` (the dotted string CloudFormation also takes) as the list
    `[Role, Arn]`: moto reads only the list, and takes the string's first letter for a
    resource ("references undefined resource C")."""
    if isinstance(node, dict):
        return {
            k: (v.split(".", 1) if k == "Fn::GetAtt" and isinstance(v, str) and "." in v else getatt_as_list(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [getatt_as_list(v) for v in node]
    return node


def main(packaged, out):
    with open(packaged) as f:
        template = yaml_parse(f.read())
    parameters = json.loads(os.environ.get("XTASK_PARAMETERS") or "{}")
    includes = Includes(None, parameters)
    if "AWS::Include" in json.dumps(template, default=str):
        import boto3

        includes.s3 = boto3.client("s3")
        template = includes.expand_template(template)
    try:
        transformed = transform(template, parameters, BundledPoliciesOnly())
    except InvalidDocumentException as error:
        errors = [cause.message for cause in error.causes]
        print(json.dumps({"errors": errors, "not_rehearsed": includes.not_rehearsed}))
        return
    with open(out, "w") as f:
        # A date (an unquoted AWSTemplateFormatVersion) is written as the text it was.
        json.dump(getatt_as_list(transformed), f, indent=1, default=str)
    resources = {k: v.get("Type", "") for k, v in transformed.get("Resources", {}).items()}
    print(json.dumps({"resources": resources, "not_rehearsed": includes.not_rehearsed}))


main(sys.argv[1], sys.argv[2])
