# cargo xtask lambda-deploy --env local: the SAM transform CloudFormation applies on a real
# deploy, applied here to the packaged template (its code locations are S3 URIs, as sam
# package wrote them) for the local AWS, which has no transform. Run with the SAM CLI's own
# Python: its aws-sam-translator is the transform sam validate uses.
#
# argv: packaged template, output file. XTASK_PARAMETERS: the parameter values the deploy
# passes, as a JSON object (in the environment, not argv: a NoEcho value is a secret).
# stdout, last line: {"resources": {logical id: type}} or {"errors": [message, ...]}.
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


def main(packaged, out):
    with open(packaged) as f:
        template = yaml_parse(f.read())
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
