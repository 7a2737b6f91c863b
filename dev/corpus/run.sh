#!/usr/bin/env bash
# The developer-run corpus check (not part of .ci/run: it fetches real apps and takes about an
# hour): each app of apps.tsv, at its pinned commit, adopted as README tells a newcomer, then
# every command, `git status`, and plain `sam build` beside it for reference. The table in
# CORPUS.md is written from what this leaves in OUT (judging a failure as the app's or ours is
# the developer's part; CORPUS.md says how each was judged).
#
#   dev/corpus/run.sh OUT [ID...]      every app, or the named ones
#
# Needs git, the lambda-xtask binary (built here with cargo), and for plain sam the SAM CLI the
# xtask provisions into its tool cache. Apps rendered from a sam init template need
# cookiecutter (pip install cookiecutter), as sam init renders them. The apps' code goes to
# OUT only: never commit it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:?usage: dev/corpus/run.sh OUT [ID...]}"
shift
mkdir -p "$out"
out="$(cd "$out" && pwd)"
export SAM_CLI_TELEMETRY=0

cargo build --quiet --locked --manifest-path "$root/Cargo.toml" -p lambda-xtask
bin="$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/lambda-xtask"

# fetch REPO COMMIT PATH DEST: the app's files at COMMIT (PATH "." for the whole repository).
# CORPUS_MIRRORS: a directory of mirrors named OWNER+NAME (or OWNER+NAME/repo, bare or with .git) to use
# instead of cloning from GitHub.
# CORPUS_PLAIN_PYENV_VERSION: the pyenv versions plain sam build may use (e.g. every installed
# one), so that it finds each runtime's Python as a user who installed them would; the xtask's
# own steps run without it, as a newcomer's would.
fetch() {
    local repo=$1 commit=$2 path=$3 dest=$4 mirror="$out/.mirrors/${1//\//+}"
    local given="${CORPUS_MIRRORS:-/nonexistent}/${repo//\//+}"
    [ -d "$given/repo" ] && given="$given/repo"
    [ -d "$given/.git" ] && given="$given/.git"
    [ -d "$given" ] && mirror="$given"
    if [ ! -d "$mirror" ]; then
        git clone -q --bare --filter=blob:none "https://github.com/$repo.git" "$mirror"
    fi
    mkdir -p "$dest"
    if [ "$path" = . ]; then
        git --git-dir "$mirror" archive "$commit" | tar -x -C "$dest" && return 0
    else
        git --git-dir "$mirror" archive "$commit" "$path" |
            tar -x -C "$dest" --strip-components="$(tr -cd / <<<"$path/" | wc -c)" && return 0
    fi
    # A mirror that lacks some blobs (a partial clone leaves out large files: images, zips):
    # the app's files one by one, each missing one named in DEST.missing, so that the app's
    # verdict can say what it ran without.
    local prefix="" line meta file mode oid relative
    [ "$path" != . ] && prefix="$path/"
    rm -rf "$dest" "$dest.missing"
    mkdir -p "$dest"
    git --git-dir "$mirror" ls-tree -r -z "$commit" -- "$path" >"$dest.tree" || return 1
    [ -s "$dest.tree" ] || return 1
    while IFS= read -r -d '' line; do
        meta=${line%%$'\t'*} file=${line#*$'\t'}
        mode=${meta%% *} oid=${meta##* } relative=${file#"$prefix"}
        mkdir -p "$(dirname "$dest/$relative")"
        if [ "$mode" = 120000 ]; then
            ln -s "$(git --git-dir "$mirror" cat-file blob "$oid")" "$dest/$relative" || echo "$relative" >>"$dest.missing"
        elif git --git-dir "$mirror" cat-file blob "$oid" >"$dest/$relative" 2>/dev/null; then
            if [ "$mode" = 100755 ]; then chmod +x "$dest/$relative"; fi
        else
            rm -f "$dest/$relative"
            echo "$relative" >>"$dest.missing"
        fi
    done <"$dest.tree"
    rm -f "$dest.tree"
    if [ -s "$dest.missing" ]; then
        echo "  not in the mirror, left out: $(tr '\n' ' ' <"$dest.missing")"
    fi
}

# step NAME CMD...: runs CMD in the app, records its exit status, seconds and git status.
step() {
    local name=$1
    shift
    local started=$SECONDS status=0
    (cd "$app" && timeout 1200 "$@") >"$dir/$name.log" 2>&1 </dev/null || status=$?
    echo "$name $status $((SECONDS - started))" >>"$dir/steps.txt"
    (cd "$app" && git status --porcelain) >"$dir/git-status.$name.txt"
    echo "  $name: exit $status, $((SECONDS - started)) s"
}

grep -v '^#' "$here/apps.tsv" | while IFS=$'\t' read -r id repo commit path render template; do
    if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -x "$id" >/dev/null; then
        continue
    fi
    echo "== $id ($repo $path @ ${commit:0:8})"
    dir="$out/$id"
    rm -rf "$dir"
    mkdir -p "$dir"
    # A mirror that lacks one of the app's objects (a partial clone, offline) skips the app, on
    # record, rather than ending the run.
    if ! fetch "$repo" "$commit" "$path" "$dir/fetched"; then
        echo "fetch 1 0" >>"$dir/steps.txt"
        echo "  fetch failed: not run"
        continue
    fi
    if [ "$render" != - ]; then
        # A sam init template: rendered as sam init renders it, for one architecture.
        arch="${render#--cookiecutter }"
        python3 -c 'import sys; from cookiecutter.main import cookiecutter; cookiecutter(sys.argv[1], no_input=True, output_dir=sys.argv[2], extra_context={"project_name": "sam-app", "architectures": {"value": [sys.argv[3]]}})' \
            "$dir/fetched" "$dir/rendered" "$arch"
        src="$dir/rendered/sam-app"
    else
        src="$dir/fetched"
    fi
    # The app in a fresh repository holding only its own files, committed first.
    app="$dir/app"
    cp -a "$src" "$app"
    git -C "$app" init -q
    git -C "$app" add -A
    git -C "$app" -c user.name=corpus -c user.email=corpus@example.com commit -qm app
    init_args=()
    [ "$template" != template.yaml ] && init_args=(--template "$template")
    step init "$bin" lambda-init "${init_args[@]}"
    step build "$bin" lambda-build --container never
    step check "$bin" lambda-check
    step rehearsal "$bin" lambda-deploy --env local
    (cd "$app" && git diff --stat HEAD) >"$dir/git-diff-stat.txt"
    # Plain sam build of the same files, in a copy of their own, for reference.
    plain="$dir/plain"
    cp -a "$src" "$plain"
    sam="$(ls -d "${LAMBDA_XTASK_CACHE:-$HOME/.cache/lambda-xtask}"/tools/aws-sam-cli-*/bin/sam 2>/dev/null | tail -n 1)"
    if [ -n "$sam" ]; then
        started=$SECONDS
        status=0
        (cd "$plain" && PYENV_VERSION="${CORPUS_PLAIN_PYENV_VERSION:-${PYENV_VERSION:-}}" timeout 1200 "$sam" build --template-file "$template") >"$dir/plain-sam.log" 2>&1 </dev/null || status=$?
        echo "plain-sam $status $((SECONDS - started))" >>"$dir/steps.txt"
        echo "  plain sam build: exit $status"
    fi
done
