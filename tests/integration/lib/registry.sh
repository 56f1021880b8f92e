# shellcheck shell=bash
# A throwaway OCI registry for tests: Debian's docker-registry (distribution
# 2.8) on 127.0.0.1, TLS with a test CA, optionally with token auth served by
# tests/integration/lib/token_server.py. Source this file, then:
#
#   registry_fetch                 make sure the registry binary is here
#                                  (sets REGISTRY_BIN); 0 ok, 1 cannot get it
#   registry_start [--token] [--user USER:PASS] [--plain] [--dir DIR]
#                                  start one (stopping the previous one);
#                                  exports the variables below; --plain:
#                                  plain HTTP instead of TLS
#   registry_stop                  stop it and remove its directory (also
#                                  run at exit: an EXIT trap is added)
#   registry_blob_path DIGEST      where the registry stores blob DIGEST
#   registry_corrupt_blob DIGEST   flip one byte of a stored blob (same size)
#   registry_delete_blob DIGEST    remove a stored blob's data
#   registry_publish BUNDLE REPO[:TAG]  release/publish.sh to it; prints the
#                                  manifest digest
#   registry_curl [curl args...]   curl with the test CA; /v2/... arguments
#                                  get REGISTRY_URL in front, and with token
#                                  auth a token for that repository
#   registry_token SCOPE           a bearer token from the token server
#   registry_fetch_skopeo          Debian's skopeo for cross-checks, the same
#                                  way (sets REGISTRY_SKOPEO); optional
#   registry_make_ca DIR           CA + a server certificate for localhost
#                                  (DIR/ca.crt, DIR/server.crt, server.key)
#
# Exported by registry_start:
#   REGISTRY_HOSTPORT  localhost:PORT (the certificate names DNS:localhost
#                      only: BearSSL does not match IP addresses)
#   REGISTRY_URL       https://localhost:PORT (http:// with --plain)
#   REGISTRY_CA        the test CA (PEM), for curl --cacert / PYRO_CA_BUNDLE
#   REGISTRY_DIR       its directory (config, certificates, logs, storage/)
#   REGISTRY_STORAGE   REGISTRY_DIR/storage (filesystem driver root)
#   REGISTRY_PID       the registry's pid
#   REGISTRY_AUTH      none | token
#   REGISTRY_TOKEN_URL https://localhost:PORT/token (token mode)
#   REGISTRY_TOKEN_PID the token server's pid (token mode)
#   REGISTRY_SERVICE   the service name of the Bearer challenge (token mode)
#   REGISTRY_USER      USER:PASS the token server requires (--user), or empty
#
# The binary is NOT installed (the package would start a system daemon on
# :5000): `apt-get download docker-registry` into
# ${PYRO_BUILD_CACHE:-~/.cache/pyro-build}/docker-registry-<version>/, keyed
# by the version apt offers, and unpacked there with dpkg-deb -x;
# apt-get verifies the .deb against the signed package index. Needs
# openssl, curl and python3. Only loopback traffic (plus apt's mirror once).
#
# In a test file (see tests/integration/publish.test):
#   . "$HERE/lib/registry.sh"
#   registry_start --token --user pyro:s3cret || fail ...
#   digest=$(PYRO_ZSTD_LEVEL=3 registry_publish "$bundle" pyro/environment-test:1.0.0)
#   PYRO_CA_BUNDLE=$REGISTRY_CA ... "$REGISTRY_HOSTPORT/pyro/environment-test:1.0.0"
#   registry_corrupt_blob "$layer_digest"   # then expect a digest error
#   registry_stop
# REGISTRY_KEEP=1 keeps the directory (logs, storage) after registry_stop.
#
# Distribution answers 404 for an OCI manifest unless the Accept header
# names the OCI media types: use registry_curl with
# -H "Accept: $REGISTRY_OCI_ACCEPT".

REGISTRY_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export REGISTRY_LIB
# Debian's python3 when present (a pyenv shim costs a second per call).
REGISTRY_PYTHON=${PYRO_PYTHON:-python3}
if [[ -z ${PYRO_PYTHON:-} && -x /usr/bin/python3 ]]; then REGISTRY_PYTHON=/usr/bin/python3; fi
export REGISTRY_PYTHON
REGISTRY_OCI_ACCEPT="application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
export REGISTRY_OCI_ACCEPT
# Seconds to wait for a server to answer (polled, not slept).
REGISTRY_START_TIMEOUT=${REGISTRY_START_TIMEOUT:-20}

_registry_say() { printf 'registry: %s\n' "$*" >&2; }

registry_cache_root() {
	printf '%s\n' "${PYRO_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pyro-build}"
}

# registry_fetch: REGISTRY_BIN=<cache>/docker-registry-<version>/usr/bin/docker-registry
registry_fetch() {
	if [[ -n ${REGISTRY_BIN:-} && -x $REGISTRY_BIN ]]; then return 0; fi
	local root version dir tmp deb
	root=$(registry_cache_root)
	# The newest version already unpacked, if apt cannot tell (offline).
	version=$(apt-cache policy docker-registry 2>/dev/null | sed -n 's/^  Candidate: //p')
	if [[ -z $version || $version == "(none)" ]]; then
		version=$(apt-cache show docker-registry 2>/dev/null | sed -n 's/^Version: //p' | head -1)
	fi
	if [[ -z $version ]]; then
		dir=$(find "$root" -maxdepth 3 -path "$root/docker-registry-*/usr/bin" 2>/dev/null | sort -V | tail -1)
		if [[ -n $dir && -x $dir/docker-registry ]]; then
			REGISTRY_BIN=$dir/docker-registry
			export REGISTRY_BIN
			return 0
		fi
		_registry_say "apt knows no docker-registry package (apt-get update?) and none is cached in $root"
		return 1
	fi
	dir=$root/docker-registry-${version//[:\/]/_}
	if [[ ! -x $dir/usr/bin/docker-registry ]]; then
		mkdir -p "$root"
		tmp=$(mktemp -d "$root/.docker-registry.XXXXXX") || return 1
		chmod 0755 "$tmp" # apt's _apt user writes the download here
		if ! (cd "$tmp" && apt-get download -q "docker-registry=$version" >download.log 2>&1); then
			_registry_say "apt-get download docker-registry=$version failed: $(tail -3 "$tmp/download.log")"
			rm -rf "$tmp"
			return 1
		fi
		deb=$(find "$tmp" -maxdepth 1 -name 'docker-registry_*.deb' | head -1)
		mkdir -p "$tmp/x"
		if [[ -z $deb ]] || ! dpkg-deb -x "$deb" "$tmp/x" || [[ ! -x $tmp/x/usr/bin/docker-registry ]]; then
			_registry_say "unpacking $deb failed"
			rm -rf "$tmp"
			return 1
		fi
		cp "$deb" "$tmp/x/"
		rm -rf "$dir"
		mv "$tmp/x" "$dir" || { rm -rf "$tmp"; return 1; }
		rm -rf "$tmp"
	fi
	REGISTRY_BIN=$dir/usr/bin/docker-registry
	export REGISTRY_BIN
}

# registry_fetch_skopeo: Debian's skopeo for cross-checks, fetched the same
# way (apt-get download skopeo libgpgme11; dpkg-deb -x; not installed):
# sets REGISTRY_SKOPEO to a wrapper that runs it with the unpacked library.
# 0 ok, 1 cannot get it. Use with --cert-dir DIR (DIR/ca.crt = REGISTRY_CA)
# and, for copy, --policy with {"default":[{"type":"insecureAcceptAnything"}]}.
registry_fetch_skopeo() {
	if [[ -n ${REGISTRY_SKOPEO:-} && -x $REGISTRY_SKOPEO ]]; then return 0; fi
	local root version dir tmp deb
	root=$(registry_cache_root)
	version=$(apt-cache policy skopeo 2>/dev/null | sed -n 's/^  Candidate: //p')
	if [[ -z $version || $version == "(none)" ]]; then
		dir=$(find "$root" -maxdepth 2 -path "$root/skopeo-*/bin" 2>/dev/null | sort -V | tail -1)
		[[ -n $dir && -x $dir/skopeo ]] || { _registry_say "apt knows no skopeo package and none is cached"; return 1; }
		REGISTRY_SKOPEO=$dir/skopeo
		export REGISTRY_SKOPEO
		return 0
	fi
	dir=$root/skopeo-${version//[:\/]/_}
	if [[ ! -x $dir/bin/skopeo ]]; then
		mkdir -p "$root"
		tmp=$(mktemp -d "$root/.skopeo.XXXXXX") || return 1
		chmod 0755 "$tmp"
		if ! (cd "$tmp" && apt-get download -q "skopeo=$version" libgpgme11 >download.log 2>&1); then
			_registry_say "apt-get download skopeo libgpgme11 failed: $(tail -3 "$tmp/download.log")"
			rm -rf "$tmp"
			return 1
		fi
		mkdir -p "$tmp/x/bin"
		for deb in "$tmp"/*.deb; do
			dpkg-deb -x "$deb" "$tmp/x/root" || { rm -rf "$tmp"; return 1; }
		done
		# shellcheck disable=SC2016 # the wrapper expands them
		printf '#!/bin/sh\nd=$(dirname "$(readlink -f "$0")")/..\nLD_LIBRARY_PATH=$d/root/usr/lib/x86_64-linux-gnu exec "$d/root/usr/bin/skopeo" "$@"\n' >"$tmp/x/bin/skopeo"
		chmod 0755 "$tmp/x/bin/skopeo"
		"$tmp/x/bin/skopeo" --version >/dev/null 2>&1 || { _registry_say "the unpacked skopeo does not run"; rm -rf "$tmp"; return 1; }
		rm -rf "$dir"
		mv "$tmp/x" "$dir" || { rm -rf "$tmp"; return 1; }
		rm -rf "$tmp"
	fi
	REGISTRY_SKOPEO=$dir/bin/skopeo
	export REGISTRY_SKOPEO
}

# registry_make_ca DIR: DIR/ca.{crt,key} (a CA valid 2 days), and
# DIR/server.{crt,key} for DNS:localhost signed by it (EC P-256).
registry_make_ca() {
	local d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/ca.key" -out "$d/ca.crt" -days 2 -subj "/CN=pyro test CA $$" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		>/dev/null 2>&1 || { _registry_say "openssl: making the CA failed"; return 1; }
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=localhost" >/dev/null 2>&1 ||
		{ _registry_say "openssl: making the server key failed"; return 1; }
	printf '%s\n' "subjectAltName=DNS:localhost" "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$d/server.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-out "$d/server.crt" -days 2 -sha256 -extfile "$d/server.ext" >/dev/null 2>&1 ||
		{ _registry_say "openssl: signing the server certificate failed"; return 1; }
	chmod 0644 "$d"/*.crt
}

# _registry_free_port: a TCP port free on 127.0.0.1 right now.
_registry_free_port() {
	"$REGISTRY_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# _registry_wait URL PID: poll URL until it answers over TLS (any HTTP
# status) or PID dies or REGISTRY_START_TIMEOUT passes.
_registry_wait() {
	local url=$1 pid=$2 deadline code
	deadline=$(($(date +%s) + REGISTRY_START_TIMEOUT))
	while (($(date +%s) < deadline)); do
		kill -0 "$pid" 2>/dev/null || return 1
		code=$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 2 --cacert "$REGISTRY_CA" "$url" 2>/dev/null) || code=000
		[[ $code != 000 ]] && return 0
		sleep 0.05
	done
	return 1
}

_registry_install_trap() {
	[[ ${_REGISTRY_TRAP:-} == 1 ]] && return 0
	local prev
	prev=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//" -e "s/'\\\\''/'/g")
	# shellcheck disable=SC2064 # expand the previous handler now
	trap "registry_stop; ${prev:-:}" EXIT
	_REGISTRY_TRAP=1
}

registry_start() {
	local token=0 user="" dir="" plain=0
	while (($#)); do
		case $1 in
		--token) token=1; shift ;;
		--user) user=$2; shift 2 ;;
		--dir) dir=$2; shift 2 ;;
		--plain) plain=1; shift ;;
		*) _registry_say "registry_start: unknown option $1"; return 2 ;;
		esac
	done
	registry_stop
	registry_fetch || return 1
	if [[ -z $dir ]]; then
		dir=$(mktemp -d "${SCRATCH:-${TMPDIR:-/tmp}}/registry.XXXXXX") || return 1
	fi
	mkdir -p "$dir/storage"
	REGISTRY_DIR=$(cd "$dir" && pwd)
	REGISTRY_STORAGE=$REGISTRY_DIR/storage
	REGISTRY_CA=$REGISTRY_DIR/ca.crt
	REGISTRY_USER=$user
	REGISTRY_AUTH=none
	REGISTRY_TOKEN_URL="" REGISTRY_TOKEN_PID="" REGISTRY_SERVICE="" REGISTRY_PID=""
	export REGISTRY_DIR REGISTRY_STORAGE REGISTRY_CA REGISTRY_USER REGISTRY_AUTH \
		REGISTRY_TOKEN_URL REGISTRY_TOKEN_PID REGISTRY_SERVICE REGISTRY_PID
	_registry_install_trap
	registry_make_ca "$REGISTRY_DIR" || return 1

	local auth_yaml=""
	if ((token)); then
		# The token signing key: RSA (RS256), its self-signed certificate
		# in the JWT's x5c and in the registry's rootcertbundle.
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$REGISTRY_DIR/token.key" \
			-out "$REGISTRY_DIR/token.crt" -days 2 -subj "/CN=pyro test token signer" >/dev/null 2>&1 ||
			{ _registry_say "openssl: making the token signing key failed"; return 1; }
		REGISTRY_SERVICE=pyro-test-registry
		local args=(--port 0 --cert "$REGISTRY_DIR/server.crt" --key "$REGISTRY_DIR/server.key"
			--sign-key "$REGISTRY_DIR/token.key" --sign-cert "$REGISTRY_DIR/token.crt"
			--issuer pyro-test-token-issuer --log "$REGISTRY_DIR/token.log")
		[[ -n $user ]] && args+=(--user "$user")
		"$REGISTRY_PYTHON" "$REGISTRY_LIB/token_server.py" "${args[@]}" >"$REGISTRY_DIR/token.out" 2>>"$REGISTRY_DIR/token.log" &
		REGISTRY_TOKEN_PID=$!
		local tport="" deadline=$(($(date +%s) + REGISTRY_START_TIMEOUT))
		while (($(date +%s) < deadline)); do
			tport=$(sed -n 's/^ready //p' "$REGISTRY_DIR/token.out")
			[[ -n $tport ]] && break
			kill -0 "$REGISTRY_TOKEN_PID" 2>/dev/null || break
			sleep 0.05
		done
		if [[ -z $tport ]]; then
			_registry_say "the token server did not start: $(tail -5 "$REGISTRY_DIR/token.log")"
			return 1
		fi
		REGISTRY_TOKEN_URL=https://localhost:$tport/token
		_registry_wait "$REGISTRY_TOKEN_URL" "$REGISTRY_TOKEN_PID" ||
			{ _registry_say "the token server does not answer: $(tail -5 "$REGISTRY_DIR/token.log")"; return 1; }
		REGISTRY_AUTH=token
		auth_yaml="auth:
  token:
    realm: $REGISTRY_TOKEN_URL
    service: $REGISTRY_SERVICE
    issuer: pyro-test-token-issuer
    rootcertbundle: $REGISTRY_DIR/token.crt"
	fi

	local port tls_yaml="" scheme=https
	if ((plain)); then
		scheme=http
	else
		tls_yaml="  tls:
    certificate: $REGISTRY_DIR/server.crt
    key: $REGISTRY_DIR/server.key"
	fi
	for _ in 1 2 3; do
		port=$(_registry_free_port) || return 1
		cat >"$REGISTRY_DIR/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $REGISTRY_STORAGE
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: pyro-test-registry-secret
$tls_yaml
$auth_yaml
EOF
		# A clean environment: distribution reads REGISTRY_* variables
		# as configuration (REGISTRY_STORAGE would pick the driver).
		env -i PATH=/usr/bin:/bin HOME="$REGISTRY_DIR" \
			"$REGISTRY_BIN" serve "$REGISTRY_DIR/config.yml" >>"$REGISTRY_DIR/registry.log" 2>&1 &
		REGISTRY_PID=$!
		REGISTRY_HOSTPORT=localhost:$port
		REGISTRY_URL=$scheme://$REGISTRY_HOSTPORT
		export REGISTRY_PID REGISTRY_HOSTPORT REGISTRY_URL
		if _registry_wait "$REGISTRY_URL/v2/" "$REGISTRY_PID"; then
			return 0
		fi
		kill "$REGISTRY_PID" 2>/dev/null
		wait "$REGISTRY_PID" 2>/dev/null
		REGISTRY_PID=
		grep -q 'address already in use' "$REGISTRY_DIR/registry.log" || break
	done
	_registry_say "docker-registry did not start: $(tail -5 "$REGISTRY_DIR/registry.log")"
	return 1
}

registry_stop() {
	local p
	for p in ${REGISTRY_PID:-} ${REGISTRY_TOKEN_PID:-}; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	REGISTRY_PID="" REGISTRY_TOKEN_PID=""
	if [[ -n ${REGISTRY_DIR:-} && -d $REGISTRY_DIR && ${REGISTRY_KEEP:-0} != 1 ]]; then
		rm -rf --one-file-system "$REGISTRY_DIR"
	fi
	REGISTRY_DIR="" REGISTRY_HOSTPORT="" REGISTRY_URL=""
	return 0
}

registry_blob_path() {
	local hex=${1#sha256:}
	printf '%s/docker/registry/v2/blobs/sha256/%s/%s/data\n' "$REGISTRY_STORAGE" "${hex:0:2}" "$hex"
}

# registry_corrupt_blob DIGEST [OFFSET]: invert the byte at OFFSET (default:
# the middle), size unchanged; the registry then serves content that does
# not match DIGEST.
registry_corrupt_blob() {
	local f
	f=$(registry_blob_path "$1")
	[[ -f $f ]] || { _registry_say "no blob $1 in $REGISTRY_STORAGE"; return 1; }
	"$REGISTRY_PYTHON" - "$f" "${2:-}" <<'PY'
import os, sys
path, off = sys.argv[1], sys.argv[2]
size = os.path.getsize(path)
off = int(off) if off else size // 2
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0xff]))
PY
}

registry_delete_blob() {
	local f
	f=$(registry_blob_path "$1")
	[[ -f $f ]] || { _registry_say "no blob $1 in $REGISTRY_STORAGE"; return 1; }
	rm -f "$f"
}

# registry_publish BUNDLE_DIR REPOSITORY[:TAG]: release/publish.sh to this
# registry (its CA; REGISTRY_USER's credentials in token mode); prints the
# manifest digest. PYRO_ZSTD_LEVEL=3 or so keeps it quick in tests.
registry_publish() {
	local user=${REGISTRY_USER%%:*} pass=${REGISTRY_USER#*:}
	PYRO_CA_BUNDLE=$REGISTRY_CA PYRO_REGISTRY_USERNAME=$user PYRO_REGISTRY_PASSWORD=$pass \
		"$REGISTRY_LIB/../../../release/publish.sh" "$1" "$REGISTRY_HOSTPORT/$2"
}

# registry_token SCOPE: a bearer token from the token server (token mode),
# e.g. registry_token repository:pyro/environment-test:pull
registry_token() {
	local scope=$1 auth=()
	[[ -n $REGISTRY_USER ]] && auth=(-u "$REGISTRY_USER")
	curl -sS --noproxy '*' --cacert "$REGISTRY_CA" "${auth[@]}" -G \
		--data-urlencode "service=$REGISTRY_SERVICE" --data-urlencode "scope=$scope" \
		"$REGISTRY_TOKEN_URL" | "$REGISTRY_PYTHON" -c '
import json, sys
body = sys.stdin.read()
try:
    print(json.loads(body)["token"])
except Exception:
    sys.exit("registry: no token from the token server: " + body[:500])'
}

# registry_curl ARGS...: curl against the test registry with the test CA.
# An argument /v2/... is prefixed with REGISTRY_URL; with token auth, a
# token for that path's repository (pull,push) is fetched and sent.
registry_curl() {
	local args=() a repo=""
	for a in "$@"; do
		if [[ $a == /v2/* ]]; then
			args+=("$REGISTRY_URL$a")
			[[ -z $repo ]] && repo=$(printf '%s\n' "$a" | sed -n -E 's#^/v2/(.+)/(manifests|blobs|tags)/.*#\1#p')
		else
			args+=("$a")
		fi
	done
	if [[ $REGISTRY_AUTH == token && -n $repo ]]; then
		local tok
		tok=$(registry_token "repository:$repo:pull,push") || return 1
		args=(-H "Authorization: Bearer $tok" "${args[@]}")
	fi
	curl -sS --noproxy '*' --cacert "$REGISTRY_CA" "${args[@]}"
}

# The integration tests run their commands with `bash -c`: export the
# functions they call there.
export -f registry_curl registry_token registry_publish registry_blob_path registry_corrupt_blob \
	registry_delete_blob _registry_say
