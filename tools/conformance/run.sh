#!/usr/bin/env bash
# `make conformance`: schemathesis (tools venv) against a live release server's own
# /openapi.yaml (with_server.sh) with every check and the coverage, fuzzing and stateful phases;
# exits non-zero on any failure. The seed is printed (CONFORMANCE_SEED=N replays a run); extra
# arguments go to `schemathesis run`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SCHEMATHESIS=$(realpath "${SCHEMATHESIS:-.venv/bin/schemathesis}")
EXAMPLES=${CONFORMANCE_EXAMPLES:-100}
SEED=${CONFORMANCE_SEED:-$(( $(od -An -tu4 -N4 /dev/urandom) % 1000000 ))}
echo "conformance: $("$SCHEMATHESIS" --version), seed $SEED, $EXAMPLES examples per operation"
# shellcheck disable=SC2016 # expanded by the inner shell, where with_server.sh has set them
"$here/with_server.sh" bash -c '
  PYTHONPATH="$0" SCHEMATHESIS_HOOKS=hooks "$1" --config-file "$0/schemathesis.toml" run "$RADA_URL/openapi.yaml" \
    --url "$RADA_URL" --checks all --phases coverage,fuzzing,stateful --max-examples "$2" --seed "$3" \
    --header "Authorization: Bearer $RADA_KEY" --request-timeout 60 --workers 1 --no-color "${@:4}"
' "$here" "$SCHEMATHESIS" "$EXAMPLES" "$SEED" "$@"
