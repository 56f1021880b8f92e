#!/usr/bin/env bash
# Print docs/cli-reference.md from a built pyro binary: the help of every
# command and applet, exactly as the binary prints it (it comes from the
# command tables). `make docs` writes it; the integration tier fails when
# the committed file differs, so docs and tables cannot drift.
set -euo pipefail
pyro=$(readlink -f "${1:?usage: gen-cli-reference.sh PATH/TO/pyro}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$pyro" --install-links "$tmp" >/dev/null

section() {
	printf '\n## `%s`\n\n```text\n' "$1"
	shift
	"$@"
	printf '```\n'
}

cat <<'HEAD'
# CLI reference

Generated from the binary by `make docs` (scripts/gen-cli-reference.sh);
do not edit by hand. The integration tests fail when this file and the
binary's help disagree.
HEAD
section "pyro" "$pyro" --help
# Every command path the top-level help lists, depth-first.
walk() {
	local path=$1
	# shellcheck disable=SC2086
	"$pyro" $path --help | sed -n '/^Commands:/,/^$/p' | { grep -E '^  [a-z]' || true; } | awk '{ print $1 }' |
		while read -r sub; do
			local next=${path:+$path }$sub
			# shellcheck disable=SC2086
			section "pyro $next" "$pyro" $next --help
			walk "$next"
		done
}
walk ""
for applet in "$tmp"/*; do
	name=$(basename "$applet")
	[[ $name == pyro ]] && continue
	section "$name" "$applet" --help
done
