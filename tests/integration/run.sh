#!/usr/bin/env bash
# Integration tests: every tests/integration/*.test file is sourced here with
# these helpers and $PYRO pointing at the binary under test.
#
#   testing NAME COMMAND EXPECTED_STDOUT   run COMMAND with bash, compare stdout
#   expect_status NAME STATUS COMMAND      run COMMAND, compare its exit status
#   expect_stderr NAME SUBSTRING COMMAND   COMMAND's stderr contains SUBSTRING
#   skip NAME WHY                          a test that cannot run here, and why
#
# Last line: "integration: N passed, N failed, N skipped".
set -u
PYRO=$(readlink -f "${1:?usage: run.sh PATH/TO/pyro [NAME...]}")
shift
# Optional test names (agent, shell, ...): run only those *.test files.
NAMES=("$@")
export PYRO
HERE=$(cd "$(dirname "$0")" && pwd)
# The *.test files to source: this directory's, or PYRO_TESTS_DIR's (the
# guest tier in tests/guest/ uses these same helpers).
TESTS_DIR=${PYRO_TESTS_DIR:-$HERE}
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/pyro-integration.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
export SCRATCH
passed=0 failed=0 skipped=0

fail() {
	failed=$((failed + 1))
	printf 'FAIL %s\n' "$1" >&2
	shift
	printf '  %s\n' "$@" >&2
}

testing() {
	local name=$1 cmd=$2 want=$3 got
	got=$(bash -c "$cmd" 2>"$SCRATCH/stderr")
	if [[ $got == "$want" ]]; then
		passed=$((passed + 1))
	else
		fail "$name" "command: $cmd" "want: $want" "got:  $got" "stderr: $(head -c 2000 "$SCRATCH/stderr")"
	fi
}

expect_status() {
	local name=$1 want=$2 cmd=$3 got
	bash -c "$cmd" >"$SCRATCH/stdout" 2>"$SCRATCH/stderr"
	got=$?
	if [[ $got == "$want" ]]; then
		passed=$((passed + 1))
	else
		fail "$name" "command: $cmd" "want exit $want, got $got" "stderr: $(head -c 2000 "$SCRATCH/stderr")"
	fi
}

expect_stderr() {
	local name=$1 want=$2 cmd=$3
	bash -c "$cmd" >"$SCRATCH/stdout" 2>"$SCRATCH/stderr"
	if grep -qF -- "$want" "$SCRATCH/stderr"; then
		passed=$((passed + 1))
	else
		fail "$name" "command: $cmd" "stderr lacks: $want" "stderr: $(head -c 2000 "$SCRATCH/stderr")"
	fi
}

skip() {
	skipped=$((skipped + 1))
	printf 'SKIP %s: %s\n' "$1" "$2" >&2
}

for t in "$TESTS_DIR"/*.test; do
	if ((${#NAMES[@]})); then
		want=0
		for n in "${NAMES[@]}"; do [[ $(basename "$t" .test) == "$n" ]] && want=1; done
		((want)) || continue
	fi
	# shellcheck disable=SC1090
	source "$t"
done
printf '%s: %d passed, %d failed, %d skipped\n' "${PYRO_TIER_NAME:-integration}" "$passed" "$failed" "$skipped"
[[ $failed -eq 0 ]]
