#!/usr/bin/env bash
# Offline validation of template.yaml and statemachine/*.asl.json (DESIGN §6).
#
#   .ci/validate.sh          cfn-lint (+ serverless rules), sam validate --lint, statelint and
#                            asl-validator on every ASL file, core-layer requirements drift
#   .ci/validate.sh build    the above, then `sam build` (no container) into .aws-sam/, the
#                            unzipped size of every built function/layer, and a torch check
#
# Every tool lives in its own pinned venv / npm prefix under .tools/ (pins: .ci/tools/), rebuilt
# only when its pin files change. Needs python3.11 (or $PYTHON), node + npm, and package
# registries; no Docker, no AWS credentials, no other network.
# Exit status: non-zero when any check fails; a summary table is printed last.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-validate}
case "$MODE" in validate | build) ;; *) echo "usage: $0 [build]" >&2; exit 2 ;; esac

TOOLS=.tools
PINS=.ci/tools
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
LOGS="$TOOLS/logs"
mkdir -p "$LOGS"

# Offline, credentials-free AWS settings. sam validate translates locally (AWS managed policy
# names resolve from a map bundled in samtranslator); only a customer-managed policy *name* would
# make it call IAM, which is pointed at a dead port so it fails at once instead of hanging.
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export AWS_REGION=$AWS_DEFAULT_REGION
export SAM_CLI_TELEMETRY=0
export AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL_IAM=${AWS_ENDPOINT_URL_IAM:-http://127.0.0.1:9}

quiet() { grep -v -e "is ignored: it is neither" -e 'Unknown user config "nodedir"' || true; }

stamp_of() { # files... -> one hash of their contents plus the interpreter/node version
  { cat "$@"; "$PYTHON" --version 2>&1; node --version 2>/dev/null || true; echo v1; } |
    sha256sum | cut -d' ' -f1
}

ensure_venv() { # name -> .tools/<name> from .ci/tools/<name>.txt + <name>.lock
  local name=$1 dir="$TOOLS/$1" req="$PINS/$1.txt" lock="$PINS/$1.lock" want
  want=$(stamp_of "$req" "$lock")
  if [ -f "$dir/.pins" ] && [ "$(cat "$dir/.pins")" = "$want" ] && "$dir/bin/python" -c '' 2>/dev/null; then
    return 0
  fi
  echo "[validate] installing $dir from $req"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  if ! "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req" -c "$lock" 2>&1 | quiet; then
    echo "[validate] pip install for $dir failed" >&2
    return 1
  fi
  echo "$want" >"$dir/.pins"
}

ensure_npm() { # .tools/npm from .ci/tools/package.json + package-lock.json (npm ci: exact lock)
  local dir="$TOOLS/npm" want
  want=$(stamp_of "$PINS/package.json" "$PINS/package-lock.json")
  if [ -f "$dir/.pins" ] && [ "$(cat "$dir/.pins")" = "$want" ] && [ -x "$dir/node_modules/.bin/asl-validator" ]; then
    return 0
  fi
  echo "[validate] installing $dir from $PINS/package-lock.json"
  rm -rf "$dir" && mkdir -p "$dir"
  cp "$PINS/package.json" "$PINS/package-lock.json" "$dir/"
  if ! (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) 2>&1 | quiet; then
    echo "[validate] npm ci in $dir failed" >&2
    return 1
  fi
  echo "$want" >"$dir/.pins"
}

# ---------------------------------------------------------------- results
NAMES=() RESULTS=() NOTES=()
record() { NAMES+=("$1"); RESULTS+=("$2"); NOTES+=("$3"); }
check() { # name note cmd... : run, show output, record PASS/FAIL
  local name=$1 note=$2 rc=0
  shift 2
  echo
  echo "=== $name"
  "$@" 2>&1 | tee "$LOGS/${name//[^A-Za-z0-9._-]/_}.log" || rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ]; then record "$name" PASS "$note"; else record "$name" FAIL "$note (exit $rc)"; fi
}

# ---------------------------------------------------------------- tools (in parallel when cold)
T0=$SECONDS
declare -A PIDS=()
for tool in sam cfnlint statelint; do
  ensure_venv "$tool" >"$LOGS/install-$tool.log" 2>&1 &
  PIDS[$tool]=$!
done
ensure_npm >"$LOGS/install-npm.log" 2>&1 &
PIDS[npm]=$!
TOOLS_OK=1
for tool in sam cfnlint statelint npm; do
  if wait "${PIDS[$tool]}"; then
    cat "$LOGS/install-$tool.log"
  else
    cat "$LOGS/install-$tool.log" >&2
    record "install $tool" FAIL "see $LOGS/install-$tool.log"
    TOOLS_OK=0
  fi
done
echo "[validate] tools ready in $((SECONDS - T0)) s"

TT="$TOOLS/cfnlint/bin/python $PINS/template_tool.py"

if [ "$TOOLS_OK" = 1 ]; then
  check "cfn-lint" "$("$TOOLS/cfnlint/bin/cfn-lint" --version) + serverless rules; fails on W/E" \
    "$TOOLS/cfnlint/bin/cfn-lint" --include-checks I --append-rules cfn_lint_serverless.rules \
    --non-zero-exit-code warning -- template.yaml

  check "sam validate --lint" "SAM CLI $("$TOOLS/sam/bin/sam" --version | awk '{print $NF}')" \
    "$TOOLS/sam/bin/sam" validate --lint --template template.yaml

  check "core layer requirements" "pyproject deps pinned in layers/core/requirements.txt" $TT reqs

  ASL_DIR=$(mktemp -d)
  trap 'rm -rf "$ASL_DIR"' EXIT
  check "ASL substitutions" "\${Name} placeholders vs DefinitionSubstitutions" \
    bash -c "$TT asl '$ASL_DIR' >'$ASL_DIR/.map'"
  if [ -s "$ASL_DIR/.map" ]; then
    while IFS=$'\t' read -r src prepared; do
      check "statelint $(basename "$src")" "statelint 3.1.0 on a substituted copy" \
        "$TOOLS/statelint/bin/statelint" "$prepared"
      check "asl-validator $(basename "$src")" "asl-validator 4.0.0 on a substituted copy" \
        "$TOOLS/npm/node_modules/.bin/asl-validator" --json-path "$prepared"
    done <"$ASL_DIR/.map"
  fi

  if [ "$MODE" = build ]; then
    # sam build (no container) needs the runtime's interpreter on PATH; pyenv shims may only
    # expose the global version, so look inside pyenv's versions too.
    for rt in $($TT runtime); do
      ver=${rt#python}
      found=""
      for cand in "$(command -v "python$ver" || true)" \
        "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/"$ver"*/bin/"python$ver" \
        /usr/local/bin/"python$ver" /usr/bin/"python$ver"; do
        if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" --version >/dev/null 2>&1; then
          found=$cand
          break
        fi
      done
      if [ -n "$found" ]; then
        mkdir -p "$TOOLS/runtime-bin"
        ln -sf "$(readlink -f "$found")" "$TOOLS/runtime-bin/python$ver"
      else
        record "runtime $rt" FAIL "no python$ver interpreter found for sam build"
      fi
    done
    export PATH="$PWD/$TOOLS/runtime-bin:$PATH"
    check "sam build" "no container; arm64 wheels via lambda-builders" \
      "$TOOLS/sam/bin/sam" build --template template.yaml --build-dir .aws-sam/build --cached --parallel
    if [ -f .aws-sam/build/template.yaml ] && [ "${RESULTS[-1]}" = PASS ]; then
      check "package sizes / no torch" "unzipped, per function with its layers (limit 250 MB)" \
        $TT sizes .aws-sam/build
    fi
  fi
fi

# ---------------------------------------------------------------- summary
echo
echo "=== summary ($MODE, $((SECONDS - T0)) s)"
FAILED=0
for i in "${!NAMES[@]}"; do
  printf '%-34s %-5s %s\n' "${NAMES[$i]}" "${RESULTS[$i]}" "${NOTES[$i]}"
  [ "${RESULTS[$i]}" = PASS ] || FAILED=1
done
exit "$FAILED"
