#!/bin/sh
# Regenerates each case's .json: the template as SAM CLI itself reads it (samcli.yamlhelper),
# with the Python of the SAM CLI the tool provisions. A case SAM refuses gets a .rejected file.
# Run from anywhere: sh crates/lambda-xtask/tests/data/template_shapes/regenerate.sh
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
python=${SAM_PYTHON:-$HOME/.cache/lambda-xtask/tools/aws-sam-cli-1.170.0/bin/python3}
for case in "$dir"/*.yaml; do
    base=${case%.yaml}
    rm -f "$base.json" "$base.rejected"
    "$python" - "$case" "$base" <<'PY'
import json, sys
from samcli.yamlhelper import yaml_parse
case, base = sys.argv[1], sys.argv[2]
try:
    doc = yaml_parse(open(case, encoding="utf-8").read())
except Exception as err:
    open(base + ".rejected", "w").write(type(err).__name__ + "\n")
else:
    open(base + ".json", "w").write(json.dumps(doc, indent=1, ensure_ascii=False, default=str) + "\n")
PY
done
