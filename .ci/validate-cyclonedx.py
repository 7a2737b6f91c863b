"""Validates CycloneDX 1.5 JSON documents with cyclonedx-python-lib's strict JSON validator
(the CycloneDX project's own schema, not our reading of it). Run with the interpreter of
`.ci/python-tool cyclonedx-python-lib`. Prints each invalid file with the validator's error
and exits 1 when any is invalid."""

import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator


def main(paths):
    if not paths:
        print("usage: validate-cyclonedx.py FILE.cdx.json...", file=sys.stderr)
        return 2
    validator = JsonStrictValidator(SchemaVersion.V1_5)
    invalid = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            error = validator.validate_str(f.read())
        if error is None:
            print(f"{path}: valid CycloneDX 1.5")
        else:
            print(f"{path}: invalid CycloneDX 1.5: {error}")
            invalid += 1
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
