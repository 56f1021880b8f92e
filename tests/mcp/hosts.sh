#!/usr/bin/env bash
# The MCP tier's real hosts: Claude Code, OpenCode and the MCP inspector CLI
# start `pyro mcp serve` the way a user's configuration makes them, offline,
# without a login, each with HOME at a fresh temporary directory.
#
#   tests/mcp/hosts.sh PATH/TO/pyro
#
# The pinned packages of tests/mcp/hosts-package.json are installed by npm
# once per machine into $PYRO_BUILD_CACHE/mcp-hosts-<sha256 of that file>
# (default ~/.cache/pyro-build, as the kernel and rootfs caches): into a
# temporary directory first, renamed into place only when the install
# succeeded and the three commands are there, so a failed install is never
# reused. After that nothing is fetched: when `unshare -n` works (root, or
# unprivileged user namespaces), every host runs in a new network namespace
# with no interface up, which proves it (OpenCode, for one, tries to fetch
# its plugin package from npm on every start, and goes on without it).
#
# Each check prints PASS/FAIL (or SKIP, with why, when a host cannot run
# here); every host's wall time is printed; the last line is
# "mcp hosts: N passed, N failed"; exit status 1 on any failure. Needs node
# and npm (Debian: apt-get install nodejs npm). A host is given at most
# HOST_TIMEOUT seconds per command (default 60).
set -uo pipefail
PYRO=$(readlink -f "${1:?usage: hosts.sh PATH/TO/pyro}")
HERE=$(cd "$(dirname "$0")" && pwd)
PKG=$HERE/hosts-package.json
HOST_TIMEOUT=${HOST_TIMEOUT:-60}
passed=0 failed=0 skipped=0

say() { printf 'mcp hosts: %s\n' "$*"; }
pass() { passed=$((passed + 1)); printf 'PASS %s\n' "$1"; }
# fail NAME [DETAIL...]: each detail line indented under the FAIL line.
fail() {
	failed=$((failed + 1))
	printf 'FAIL %s\n' "$1"
	shift
	local l
	for l in "$@"; do printf '%s\n' "$l" | sed 's/^/    /'; done
}
skip() { skipped=$((skipped + 1)); printf 'SKIP %s: %s\n' "$1" "$2"; }
now_ms() { local t=${EPOCHREALTIME/./}; printf '%s\n' $((10#$t / 1000)); }
seconds_since() { local d=$(($(now_ms) - $1)); printf '%d.%d s' $((d / 1000)) $((d % 1000 / 100)); }

for t in node npm sha256sum flock; do
	command -v "$t" >/dev/null || { echo "mcp hosts: $t is missing (apt-get install nodejs npm)" >&2; exit 1; }
done
[[ -x $PYRO ]] || { echo "mcp hosts: $PYRO is not an executable" >&2; exit 1; }

# ---- the install, once per hosts-package.json --------------------------------

CACHE_ROOT=${PYRO_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pyro-build}
KEY=$(sha256sum "$PKG" | cut -c1-16)
HOSTS=$CACHE_ROOT/mcp-hosts-$KEY
BIN_CLAUDE=$HOSTS/node_modules/.bin/claude
BIN_OPENCODE=$HOSTS/node_modules/.bin/opencode
BIN_INSPECTOR=$HOSTS/node_modules/.bin/mcp-inspector

installed() {
	local b
	for b in claude opencode mcp-inspector; do [[ -x $1/node_modules/.bin/$b ]] || return 1; done
}

# runs DIR: each command of the install in DIR answers --version (Claude
# Code and OpenCode ship a placeholder that their postinstall script
# replaces with the native binary: an install without scripts is broken).
runs() {
	local b out
	for b in claude opencode mcp-inspector; do
		out=$(cd "$1" && HOME=$1/.home timeout 30 "node_modules/.bin/$b" --version 2>&1) || {
			say "npm install finished but '$b --version' fails (were install scripts skipped?):"
			printf '%s\n' "$out" | head -12 | sed 's/^/    /'
			return 1
		}
	done
	rm -rf "$1/.home"
}

install_hosts() {
	mkdir -p "$CACHE_ROOT" || return 1
	# One installer per key at a time; a second one waits, then finds it.
	exec {lock}>"$HOSTS.lock"
	flock "$lock"
	if installed "$HOSTS"; then exec {lock}>&-; return 0; fi
	local tmp start
	# What an interrupted install left (the lock says none is running).
	rm -rf "$CACHE_ROOT/.mcp-hosts-$KEY."*
	tmp=$(mktemp -d "$CACHE_ROOT/.mcp-hosts-$KEY.XXXXXX") || return 1
	trap 'rm -rf "$tmp" "$tmp.log"' EXIT
	cp "$PKG" "$tmp/package.json"
	say "installing $(node -e 'const d=require(process.argv[1]).dependencies; console.log(Object.entries(d).map(([k,v])=>k+"@"+v).join(" "))' "$PKG") into $HOSTS (once)"
	start=$(now_ms)
	# --ignore-scripts=false: the postinstall scripts are needed (above),
	# whatever the user's npm configuration says.
	if ! (cd "$tmp" && npm install --no-package-lock --no-audit --no-fund --ignore-scripts=false \
		--loglevel=error) >"$tmp.log" 2>&1; then
		say "npm install failed:"
		head -12 "$tmp.log" | sed 's/^/    /'
		rm -rf "$tmp" "$tmp.log"
		exec {lock}>&-
		return 1
	fi
	if ! installed "$tmp"; then
		say "npm install finished but claude, opencode or mcp-inspector is missing in $tmp/node_modules/.bin"
		rm -rf "$tmp" "$tmp.log"
		exec {lock}>&-
		return 1
	fi
	if ! runs "$tmp"; then
		rm -rf "$tmp" "$tmp.log"
		exec {lock}>&-
		return 1
	fi
	rm -f "$tmp.log"
	# rename(2) onto a directory that exists fails: the first one wins.
	mv -T "$tmp" "$HOSTS" 2>/dev/null || rm -rf "$tmp"
	trap - EXIT
	say "installed in $(seconds_since "$start"), $(du -sh "$HOSTS" | cut -f1) on disk"
	exec {lock}>&-
}

if installed "$HOSTS"; then
	say "hosts from $HOSTS (cached)"
else
	install_hosts || { say "0 passed, 1 failed"; exit 1; }
fi

# ---- the run -----------------------------------------------------------------

RUN=$(mktemp -d "${TMPDIR:-/tmp}/pyro-mcp-hosts.XXXXXX")
# The hosts start pyro through this per-run link (pyro dispatches on the
# name "pyro"), so a server left behind is told apart from anyone else's
# `pyro mcp serve` by its command line.
mkdir -p "$RUN/bin"
ln -s "$PYRO" "$RUN/bin/pyro"
SERVER=$RUN/bin/pyro

# The pids of servers of this run still alive (matched anywhere in the
# command line, so a server wrapped in `sh -c` counts too).
our_servers() {
	local p cmd
	for p in $(pgrep -f -- ' mcp serve'); do
		cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
		[[ $cmd == *"$SERVER mcp serve"* ]] && printf '%s\n' "$p"
	done
}

kill_servers() {
	local pids
	mapfile -t pids < <(our_servers)
	((${#pids[@]})) || return 0
	kill "${pids[@]}" 2>/dev/null
	sleep 0.5
	mapfile -t pids < <(our_servers)
	((${#pids[@]})) && kill -9 "${pids[@]}" 2>/dev/null
	return 0
}

cleanup() {
	kill_servers
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

OFFLINE=()
if unshare -n true 2>/dev/null; then
	OFFLINE=(unshare -n)
elif unshare -rn true 2>/dev/null; then
	OFFLINE=(unshare -rn)
fi
if ((${#OFFLINE[@]})); then
	say "offline: each host runs in a new network namespace (${OFFLINE[*]})"
else
	say "note: unshare -n does not work here, so the hosts run with the network (nothing here needs it)"
fi

# fresh_home NAME: a new HOME with a project directory, printed.
fresh_home() {
	local h=$RUN/$1
	mkdir -p "$h/proj" "$h/tmp"
	printf '%s\n' "$h"
}

# host HOME OUT CMD...: run CMD in HOME/proj, offline, with a clean
# environment (no MCP_TIMEOUT, XDG_* or PYRO_* of the caller), stdout in
# OUT.out and stderr in OUT.err; returns CMD's status (124: timed out).
host() {
	local home=$1 out=$2
	shift 2
	(cd "$home/proj" && exec timeout -k 5 "$HOST_TIMEOUT" "${OFFLINE[@]}" \
		env -i PATH="$PATH" HOME="$home" TMPDIR="$home/tmp" LANG=C.UTF-8 \
		DISABLE_AUTOUPDATER=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
		OPENCODE_DISABLE_AUTOUPDATE=1 "$@") >"$out.out" 2>"$out.err"
}

# left_behind HOSTNAME: a host that exited must not leave a server running
# (its stdin is closed, so pyro should have exited); kill and report one.
left_behind() {
	local pids p list=()
	for _ in {1..20}; do
		pids=$(our_servers)
		[[ -z $pids ]] && break
		sleep 0.1
	done
	if [[ -z $pids ]]; then
		pass "$1: no pyro mcp serve left running"
		return
	fi
	for p in $pids; do list+=("pid $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"); done
	kill_servers
	fail "$1: pyro mcp serve still running 2 s after the host exited (killed now)" "${list[@]}"
}

# show FILE: the first lines of a host's output, for a FAIL's details.
show() { head -c 1500 "$1" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g'; }

# version NAME HOME BIN: VER=the host's version, or a SKIP and status 1
# when the host does not run here.
version() {
	local name=$1 home=$2 bin=$3 st
	host "$home" "$home/version" "$bin" --version
	st=$?
	VER=$(head -1 "$home/version.out")
	VER=${VER%% *}
	[[ $st == 0 && -n $VER ]] && return 0
	skip "$name" "'$bin --version' does not run here (exit $st): $(show "$home/version.out"; show "$home/version.err")"
	return 1
}

# ---- 1. Claude Code ------------------------------------------------------------

claude_code() {
	local home ver st line ms limit log
	home=$(fresh_home claude)
	version claude-code "$home" "$BIN_CLAUDE" || return 0
	ver=$VER
	host "$home" "$home/add" "$BIN_CLAUDE" mcp add pyro -- "$SERVER" mcp serve --profile vm-run
	st=$?
	if [[ $st == 0 ]] && grep -q '^Added stdio MCP server pyro ' "$home/add.out"; then
		pass "claude-code $ver: claude mcp add pyro -- pyro mcp serve --profile vm-run"
	else
		fail "claude-code $ver: claude mcp add pyro (exit $st)" "$(show "$home/add.out")" "$(show "$home/add.err")"
	fi
	# The negative control: pyro refuses --mode repro-fix at start (this
	# build has no workspace tools), so the same check must see a failure.
	host "$home" "$home/add-broken" "$BIN_CLAUDE" mcp add pyro-broken -- "$SERVER" mcp serve --mode repro-fix ||
		fail "claude-code: claude mcp add pyro-broken (exit $?)" "$(show "$home/add-broken.err")"
	# `claude mcp list` exits 0 whatever the servers do: read the lines.
	host "$home" "$home/list" "$BIN_CLAUDE" mcp list
	st=$?
	line=$(grep -a '^pyro: ' "$home/list.out")
	if [[ $line == "pyro: $SERVER mcp serve --profile vm-run - ✔ Connected" ]]; then
		pass "claude-code: claude mcp list: pyro ✔ Connected"
	else
		fail "claude-code: claude mcp list does not show pyro connected (exit $st)" \
			"$(show "$home/list.out")" "$(show "$home/list.err")" \
			"server log: $(cat "$home"/.cache/claude-cli-nodejs/*/mcp-logs-pyro/*.jsonl 2>/dev/null | head -c 1500)"
	fi
	line=$(grep -a '^pyro-broken: ' "$home/list.out")
	if [[ $line == *' - ✘ Failed to connect' ]]; then
		pass "claude-code: control: a pyro that refuses to start (--mode repro-fix) shows ✘ Failed to connect"
	else
		fail "claude-code: control: pyro-broken is not reported as failed" "$(show "$home/list.out")"
	fi
	# Claude Code logs each server's connection: "Starting connection with
	# timeout of 30000ms", then "Successfully connected (transport: stdio)
	# in 13ms". MCP_TIMEOUT is not set, so this is its default timeout.
	log=$(cat "$home"/.cache/claude-cli-nodejs/*/mcp-logs-pyro/*.jsonl 2>/dev/null)
	limit=$(grep -o 'Starting connection with timeout of [0-9]*ms' <<<"$log" | grep -o '[0-9]*' | tail -1)
	ms=$(grep -o 'Successfully connected ([^)]*) in [0-9]*ms' <<<"$log" | grep -o '[0-9]*ms' | tr -d ms | tail -1)
	if [[ -n $ms && -n $limit ]] && ((ms < limit)); then
		pass "claude-code: pyro connected in $ms ms, within Claude Code's $limit ms timeout"
	else
		fail "claude-code: no connection within Claude Code's timeout in its log" "$(head -c 1500 <<<"$log")"
	fi
	left_behind claude-code
}

# ---- 2. OpenCode ---------------------------------------------------------------

opencode() {
	local home ver st out
	home=$(fresh_home opencode)
	version opencode "$home" "$BIN_OPENCODE" || return 0
	ver=$VER
	# ~/.config/opencode/opencode.json, the file pyro's docs tell users to
	# edit (OpenCode also merges ./opencode.json of the project).
	mkdir -p "$home/.config/opencode"
	node -e '
		const [pyro, file] = process.argv.slice(1);
		const cmd = (...a) => ({ type: "local", command: [pyro, "mcp", "serve", ...a], enabled: true });
		require("fs").writeFileSync(file, JSON.stringify({ mcp: {
			pyro: cmd("--profile", "vm-run"),
			"pyro-broken": cmd("--mode", "repro-fix"),
		} }, null, 2) + "\n");
	' "$SERVER" "$home/.config/opencode/opencode.json"
	host "$home" "$home/list" "$BIN_OPENCODE" mcp list
	st=$?
	# Lines like "●  ✓ pyro \e[90mconnected": drop the colours.
	out=$(sed 's/\x1b\[[0-9;]*m//g' "$home/list.out")
	if grep -q '✓ pyro connected$' <<<"$out"; then
		pass "opencode $ver: opencode mcp list: ✓ pyro connected"
	else
		fail "opencode $ver: opencode mcp list does not show pyro connected (exit $st)" \
			"$out" "$(show "$home/list.err")" "$(cat "$home/.config/opencode/opencode.json")"
	fi
	if grep -q '✗ pyro-broken failed$' <<<"$out" && ! grep -q 'pyro-broken connected' <<<"$out"; then
		pass "opencode: control: a pyro that refuses to start (--mode repro-fix) shows ✗ failed ($(grep -A1 'pyro-broken failed' <<<"$out" | tail -1 | sed 's/^[│ ]*//'))"
	else
		fail "opencode: control: pyro-broken is not reported as failed" "$out"
	fi
	left_behind opencode
}

# ---- 3. MCP inspector CLI ------------------------------------------------------

# json FILE EXPR: evaluate EXPR on the JSON in FILE (as r) with node; prints
# the value, status 1 when the file is not JSON.
json() {
	node -e '
		let r;
		try { r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); } catch (e) { process.exit(1); }
		const v = eval(process.argv[2]);
		console.log(typeof v === "string" ? v : JSON.stringify(v));
	' "$1" "$2"
}

inspector() {
	local home ver st names got
	home=$(fresh_home inspector)
	version inspector "$home" "$BIN_INSPECTOR" || return 0
	ver=$VER
	host "$home" "$home/list" "$BIN_INSPECTOR" --cli "$SERVER" mcp serve --profile workspace-full --method tools/list
	st=$?
	names=$(json "$home/list.out" 'r.tools.map((t) => t.name).join(" ")')
	if [[ $st == 0 && " $names " == *' vm_run '* ]]; then
		pass "inspector $ver: --cli pyro mcp serve --profile workspace-full --method tools/list: $(wc -w <<<"$names") tools, vm_run among them"
	else
		fail "inspector $ver: tools/list (exit $st) lacks vm_run" "tools: $names" "$(show "$home/list.out")" "$(show "$home/list.err")"
	fi
	# The server's environment comes from -e (the inspector passes only a
	# few variables of its own, like HOME and PATH).
	host "$home" "$home/call" "$BIN_INSPECTOR" --cli -e PYRO_BACKEND=host "$SERVER" mcp serve --profile workspace-full \
		--method tools/call --tool-name vm_run --tool-arg environment=test --tool-arg command='echo hi' \
		--tool-arg allow_host_compat=true
	st=$?
	got=$(json "$home/call.out" '[r.isError, r.structuredContent.stdout, r.structuredContent.exit_code]')
	if [[ $st == 0 && $got == '[false,"hi\n",0]' ]]; then
		pass "inspector: tools/call vm_run command='echo hi' (PYRO_BACKEND=host): stdout \"hi\\n\", exit_code 0"
	else
		fail "inspector: tools/call vm_run (exit $st): want [isError, stdout, exit_code] = [false,\"hi\\n\",0], got $got" \
			"$(show "$home/call.out")" "$(show "$home/call.err")"
	fi
	# The control: -e really reaches the server (a backend pyro does not
	# know is an isError result; the inspector exits 5 on those).
	host "$home" "$home/bad" "$BIN_INSPECTOR" --cli -e PYRO_BACKEND=nonesuch "$SERVER" mcp serve --profile workspace-full \
		--method tools/call --tool-name vm_run --tool-arg environment=test --tool-arg command='echo hi' \
		--tool-arg allow_host_compat=true
	st=$?
	got=$(json "$home/bad.out" 'r.isError && r.content[0].text')
	if [[ $st == 5 && $got == *"PYRO_BACKEND must be qemu, firecracker or host (got 'nonesuch')"* ]]; then
		pass "inspector: control: -e PYRO_BACKEND=nonesuch reaches the server: isError result, exit 5"
	else
		fail "inspector: control: -e PYRO_BACKEND=nonesuch (exit $st) did not give pyro's error" \
			"$(show "$home/bad.out")" "$(show "$home/bad.err")"
	fi
	left_behind inspector
}

say "pyro: $PYRO"
for h in claude_code opencode inspector; do
	start=$(now_ms)
	$h
	printf 'TIME %s: %s\n' "${h/_/-}" "$(seconds_since "$start")"
done
((skipped)) && say "$skipped skipped (see the SKIP lines)"
say "$passed passed, $failed failed"
((failed == 0))
