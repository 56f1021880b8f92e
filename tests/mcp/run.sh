#!/usr/bin/env bash
# The MCP tier: install the pinned npm packages of tests/mcp/package.json
# into a git-ignored directory (once; reused while package.json is
# unchanged), then drive `pyro mcp serve` with them.
#
#   tests/mcp/run.sh PATH/TO/pyro NODE_DIR [guest]
#
# NODE_DIR holds node_modules (e.g. build/mcp-node). Needs node and npm
# (Debian: apt-get install nodejs npm).
set -euo pipefail
PYRO=$(readlink -f "${1:?usage: run.sh PATH/TO/pyro NODE_DIR [guest]}")
NODE_DIR=${2:?usage: run.sh PATH/TO/pyro NODE_DIR [guest]}
HERE=$(cd "$(dirname "$0")" && pwd)
for t in node npm; do
	command -v "$t" >/dev/null || { echo "mcp: $t is missing (apt-get install nodejs npm)" >&2; exit 1; }
done
mkdir -p "$NODE_DIR"
NODE_DIR=$(cd "$NODE_DIR" && pwd)
stamp="$NODE_DIR/.installed-$(sha256sum "$HERE/package.json" | cut -c1-16)"
if [[ ! -f $stamp ]]; then
	cp "$HERE/package.json" "$NODE_DIR/package.json"
	(cd "$NODE_DIR" && npm install --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null) ||
		{ echo "mcp: npm install failed in $NODE_DIR" >&2; exit 1; }
	rm -f "$NODE_DIR"/.installed-*
	touch "$stamp"
fi
# Node resolves imports from the test file's directory upwards: link the
# installed modules next to a copy of the tests.
rm -rf "$NODE_DIR/tests"
mkdir -p "$NODE_DIR/tests"
cp "$HERE"/*.mjs "$NODE_DIR/tests/"
exec node "$NODE_DIR/tests/sdk.test.mjs" "$PYRO" "${3:-}"
