#!/usr/bin/env bash
# Push an environment bundle to an OCI registry as the artifact of
# docs/environments.md ("The OCI artifact"), with curl alone:
#
#   release/publish.sh [options] BUNDLE_DIR [https://|http://]HOST[:PORT]/REPOSITORY[:TAG]
#
#   --plain-http     talk plain HTTP (only to a loopback registry: localhost,
#                    127.0.0.0/8, [::1]); same as an http:// prefix
#   --dry-run        build the blobs and the OCI manifest, push nothing;
#                    print the manifest digest
#   --layout DIR     also write the artifact as an OCI image layout into
#                    DIR (oci-layout, index.json, blobs/sha256/...)
#
# TAG defaults to the bundle's version. Prints the pushed manifest's digest
# (sha256:...) on stdout; progress and errors go to stderr, errors naming
# the step that failed and the registry's answer.
#
# Environment:
#   PYRO_CA_BUNDLE           CA certificates (PEM) to trust instead of the
#                            system's (curl --cacert)
#   PYRO_REGISTRY_TIMEOUT    seconds to connect, and the longest a transfer
#                            may stall, per request (default 30)
#   PYRO_REGISTRY_USERNAME, PYRO_REGISTRY_PASSWORD
#                            basic credentials for the token endpoint (or a
#                            registry asking for Basic); anonymous without
#   PYRO_ZSTD_LEVEL          zstd level of the layers (default 19; part of
#                            what the digests depend on)
#   TMPDIR                   where the layers are built (needs about the
#                            bundle's compressed size)
#
# The push, per blob (config = the bundle's manifest.json; one layer per
# artifact, a reproducible tar+zstd): HEAD /v2/<repo>/blobs/<digest> (present:
# skip) -> POST /v2/<repo>/blobs/uploads/ -> PUT <Location>&digest=<digest>
# with the body; then PUT /v2/<repo>/manifests/<tag>, and a GET of it (OCI
# Accept header) whose Docker-Content-Digest and body must match. On a 401
# with a Bearer challenge it fetches a token from the realm for
# repository:<repo>:pull,push and retries; on a Basic challenge it sends the
# credentials. Exit status: 0 pushed; 1 failed; 2 usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=release/lib.sh
. "$here/lib.sh"
export LC_ALL=C

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
ARTIFACT_TYPE=application/vnd.pyro.environment.v1
CONFIG_TYPE=application/vnd.pyro.environment.manifest.v1+json
LAYER_TYPE=application/vnd.oci.image.layer.v1.tar+zstd

say() { printf 'publish: %s\n' "$*" >&2; }
die() { printf 'publish: error: %s\n' "$*" >&2; exit 1; }
usage() {
	echo "usage: release/publish.sh [--plain-http] [--dry-run] [--layout DIR] BUNDLE_DIR [https://|http://]HOST[:PORT]/REPOSITORY[:TAG]" >&2
	exit 2
}

plain=0 dry=0 layout=
while (($#)); do
	case $1 in
	--plain-http) plain=1; shift ;;
	--dry-run) dry=1; shift ;;
	--layout) (($# >= 2)) || usage; layout=$2; shift 2 ;;
	--layout=*) layout=${1#*=}; shift ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
(($# == 2)) || usage
bundle=${1%/} ref=$2

# --- the reference -----------------------------------------------------
scheme=https
case $ref in
http://*) scheme=http ref=${ref#http://} ;;
https://*) ref=${ref#https://} ;;
*://*) die "unsupported scheme in '$2' (https://, or http:// for a loopback registry)" ;;
esac
((plain)) && scheme=http
[[ $ref == */* ]] || die "'$2' has no repository: give HOST[:PORT]/REPOSITORY[:TAG]"
hostport=${ref%%/*} rest=${ref#*/}
[[ $rest != *@* ]] || die "cannot push to a digest reference ('$2'); give a tag"
last=${rest##*/}
if [[ $last == *:* ]]; then
	tag=${last##*:}
	repo=${rest%:*}
else
	tag="" repo=$rest
fi
[[ $hostport =~ ^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$ ]] || die "bad registry host '$hostport'"
if [[ $hostport == \[* ]]; then host=${hostport%%]*}]; else host=${hostport%%:*}; fi
[[ $repo =~ ^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$ ]] ||
	die "bad repository name '$repo' (lowercase letters, digits, separators . _ - and /)"
# is_loopback HOST: localhost, 127.x.x.x (digits only, not a name that
# starts with 127.) or [::1].
is_loopback() {
	[[ $1 == localhost || $1 == "[::1]" || $1 =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]]
}
loopback=0
is_loopback "$host" && loopback=1
if [[ $scheme == http ]] && ((!loopback)); then
	die "plain HTTP only to a loopback registry (localhost, 127.x.x.x, [::1]), not '$host'"
fi
base=$scheme://$hostport

# --- the bundle ----------------------------------------------------------
[[ -f $bundle/manifest.json ]] || die "$bundle is not a bundle: no manifest.json"
say "checking $bundle"
meta=$("$PY3" - "$bundle" <<'PY'
import hashlib, json, os, re, sys
bundle = sys.argv[1]
def fail(msg):
    sys.exit("publish: error: %s/manifest.json: %s" % (bundle, msg))
try:
    m = json.load(open(os.path.join(bundle, "manifest.json"), encoding="utf-8"))
except (OSError, ValueError) as e:
    fail("not valid JSON (%s)" % e)
if m.get("schema_version") != 1:
    fail("schema_version is not 1")
name = m.get("name")
if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._:-]*", name) or len(name) > 64:
    fail("bad name %r" % (name,))
version = m.get("version")
if not isinstance(version, str) or not version:
    fail("no version")
if m.get("platform") != "linux-x86_64":
    fail("platform is not linux-x86_64")
paths = []
for a in ("kernel", "rootfs"):
    art = (m.get("artifacts") or {}).get(a)
    if not isinstance(art, dict):
        fail("no artifacts.%s" % a)
    p, sha, size = art.get("path"), art.get("sha256"), art.get("size")
    if (not isinstance(p, str) or not p or "/" in p or p.startswith(".")
            or p in ("manifest.json", "environment.json")):
        fail("artifacts.%s.path %r is not a plain file name" % (a, p))
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
        fail("artifacts.%s.sha256 is not 64 lowercase hex" % a)
    f = os.path.join(bundle, p)
    if not os.path.isfile(f):
        fail("artifacts.%s: %s is missing" % (a, f))
    if os.path.getsize(f) != size:
        fail("artifacts.%s: %s has %d bytes, the manifest says %r" % (a, p, os.path.getsize(f), size))
    h = hashlib.sha256()
    with open(f, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != sha:
        fail("artifacts.%s: %s has sha256 %s, the manifest says %s" % (a, p, h.hexdigest(), sha))
    paths.append(p)
epoch = (m.get("build_inputs") or {}).get("source_date_epoch", os.environ.get("SOURCE_DATE_EPOCH", "0"))
print(name, version, int(epoch), *paths)
PY
) || exit 1
read -r env_name env_version epoch kernel_path rootfs_path <<<"$meta"
[[ -n $tag ]] || tag=$env_version
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$ ]] || die "bad tag '$tag'"

work=$(mktemp -d "${TMPDIR:-/tmp}/pyro-publish.XXXXXX")
trap 'rm -rf --one-file-system "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
umask 077

# --- HTTP ------------------------------------------------------------------
timeout=${PYRO_REGISTRY_TIMEOUT:-30}
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "PYRO_REGISTRY_TIMEOUT must be a positive number of seconds, not '$timeout'"
curl_base=(curl --silent --show-error --connect-timeout "$timeout" --speed-time "$timeout" --speed-limit 1
	--noproxy 'localhost,127.0.0.1,::1' --user-agent "pyro-publish/1")
if [[ $scheme == https ]]; then curl_base+=(--proto "=https"); else curl_base+=(--proto "=http,https"); fi
if [[ -n ${PYRO_CA_BUNDLE:-} ]]; then
	[[ -r $PYRO_CA_BUNDLE ]] || die "PYRO_CA_BUNDLE: cannot read $PYRO_CA_BUNDLE"
	curl_base+=(--cacert "$PYRO_CA_BUNDLE")
fi
auth_file=$work/auth.hdr

# hdr NAME: the last value of response header NAME (case-insensitive).
hdr() {
	awk -v n="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" 'BEGIN { FS = ":" }
		{ sub(/\r$/, "") }
		tolower($1) == n { v = substr($0, length($1) + 2); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v) }
		END { print v }' "$work/resp.h"
}

# body_excerpt: the response body, shortened, for error messages.
body_excerpt() {
	if [[ -s $work/resp.b ]]; then
		printf ': %s' "$(head -c 1000 "$work/resp.b" | tr -d '\r' | tr '\n' ' ')"
	fi
}

curl_error_hint() {
	case $1 in
	60 | 77 | 35 | 51 | 58 | 59 | 66 | 80 | 83 | 90 | 91)
		printf ' (TLS: if the registry uses a private CA, point PYRO_CA_BUNDLE at it)' ;;
	6) printf ' (cannot resolve the host)' ;;
	7) printf ' (connection refused: is the registry running at %s?)' "$hostport" ;;
	28) printf ' (timed out after %ss; PYRO_REGISTRY_TIMEOUT sets the limit)' "$timeout" ;;
	esac
}

# authenticate STEP: answer the 401 in resp.h: fetch a Bearer token from
# the challenge's realm, or prepare Basic credentials.
authenticate() {
	local step=$1 challenge parsed scheme_ realm service basic_args=() rc code token
	challenge=$(hdr WWW-Authenticate)
	[[ -n $challenge ]] || die "$step: HTTP 401 without a WWW-Authenticate challenge$(body_excerpt)"
	parsed=$("$PY3" - "$challenge" <<'PY'
import re, sys
c = sys.argv[1].strip()
m = re.match(r"(\w+)\s*(.*)", c)
if not m:
    sys.exit(1)
params = dict((k.lower(), v if v is not None else "") for k, v in
              ((k, a if a != "" else b) for k, a, b in re.findall(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))', m.group(2))))
print(m.group(1).lower())
print(params.get("realm", ""))
print(params.get("service", ""))
PY
) || die "$step: cannot parse the challenge '$challenge'"
	{ read -r scheme_; read -r realm; read -r service; } <<<"$parsed"
	local user=${PYRO_REGISTRY_USERNAME:-} pass=${PYRO_REGISTRY_PASSWORD:-}
	case $scheme_ in
	basic)
		[[ -n $user ]] || die "$step: the registry wants basic credentials (set PYRO_REGISTRY_USERNAME and PYRO_REGISTRY_PASSWORD)$(body_excerpt)"
		printf 'Authorization: Basic %s\n' "$(printf '%s:%s' "$user" "$pass" | base64 -w0)" >"$auth_file"
		;;
	bearer)
		[[ -n $realm ]] || die "$step: Bearer challenge without a realm: $challenge"
		case $realm in
		https://*) ;;
		http://*)
			local rhost=${realm#http://}
			rhost=${rhost%%/*}
			if [[ $rhost == \[* ]]; then rhost=${rhost%%]*}]; else rhost=${rhost%%:*}; fi
			if ((!loopback)) || ! is_loopback "$rhost"; then
				die "$step: token realm $realm is plain HTTP (allowed only between loopback addresses)"
			fi
			;;
		*) die "$step: token realm $realm is not an https URL" ;;
		esac
		if [[ -n $user ]]; then
			printf 'Authorization: Basic %s\n' "$(printf '%s:%s' "$user" "$pass" | base64 -w0)" >"$work/basic.hdr"
			basic_args=(-H "@$work/basic.hdr")
		fi
		local targs=(-G --data-urlencode "scope=repository:$repo:pull,push")
		[[ -n $service ]] && targs+=(--data-urlencode "service=$service")
		rc=0
		code=$("${curl_base[@]}" --proto "=https,http" "${basic_args[@]}" "${targs[@]}" -D "$work/resp.h" -o "$work/resp.b" \
			-w '%{http_code}' "$realm" 2>"$work/curl.err") || rc=$?
		((rc == 0)) || die "$step: fetching a token from $realm failed: $(head -1 "$work/curl.err")$(curl_error_hint "$rc")"
		case $code in
		200) ;;
		401 | 403) die "$step: the token server $realm refused${user:+ the credentials of $user}${user:- anonymous access} (HTTP $code)$(body_excerpt)" ;;
		*) die "$step: the token server $realm answered HTTP $code$(body_excerpt)" ;;
		esac
		token=$("$PY3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
t = d.get("token") or d.get("access_token")
if not t: sys.exit(1)
print(t)' "$work/resp.b") || die "$step: the token server $realm sent no token$(body_excerpt)"
		printf 'Authorization: Bearer %s\n' "$token" >"$auth_file"
		;;
	*) die "$step: unsupported authentication scheme in '$challenge'" ;;
	esac
}

# req STEP METHOD URL [curl args]: one request, authenticating on a 401 and
# retrying once; sets CODE, leaves headers in resp.h, the body in resp.b.
CODE=
req() {
	local step=$1 method=$2 url=$3 attempt rc margs
	shift 3
	case $method in
	HEAD) margs=(--head) ;;
	*) margs=(-X "$method") ;;
	esac
	for attempt in 1 2 3; do
		local aargs=()
		[[ -s $auth_file ]] && aargs=(-H "@$auth_file")
		rc=0
		CODE=$("${curl_base[@]}" "${margs[@]}" "${aargs[@]}" -D "$work/resp.h" -o "$work/resp.b" \
			-w '%{http_code}' "$@" "$url" 2>"$work/curl.err") || rc=$?
		((rc == 0)) || die "$step ($method $url): $(head -1 "$work/curl.err")$(curl_error_hint "$rc")"
		if [[ $CODE == 401 ]]; then
			# Once to log in, once more for a token that expired while
			# the layers were being compressed; then it is a refusal.
			((attempt < 3)) ||
				die "$step ($method $url): HTTP 401 even when authenticated (wrong credentials, or no push access to $repo)$(body_excerpt)"
			authenticate "$step"
			continue
		fi
		return 0
	done
}

# Contact the registry (and log in) before spending time on the layers.
if ((!dry)); then
	req "contact the registry" GET "$base/v2/"
	case $CODE in
	200) ;;
	404) die "contact the registry (GET $base/v2/): HTTP 404: not an OCI distribution registry$(body_excerpt)" ;;
	*) die "contact the registry (GET $base/v2/): HTTP $CODE$(body_excerpt)" ;;
	esac
fi

# --- the blobs and the OCI manifest ------------------------------------------
start=$(date +%s%N)
cp "$bundle/manifest.json" "$work/config.json"
for p in "$kernel_path" "$rootfs_path"; do
	say "layer $p: tar + zstd -${PYRO_ZSTD_LEVEL:-19}"
	rel_tar_zst "$work/$p.tar.zst" "$bundle" "$epoch" "$p" || die "building the layer of $p failed"
done
"$PY3" - "$work" "$env_name" "$env_version" "$kernel_path" "$rootfs_path" \
	"$OCI_MANIFEST" "$ARTIFACT_TYPE" "$CONFIG_TYPE" "$LAYER_TYPE" <<'PY' || die "writing the OCI manifest failed"
import hashlib, json, os, sys
work, name, version, kpath, rpath, mt, at, ct, lt = sys.argv[1:]
def desc(path, media, **extra):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    d = {"mediaType": media, "digest": "sha256:" + h.hexdigest(), "size": os.path.getsize(path)}
    d.update(extra)
    return d
manifest = {
    "schemaVersion": 2,
    "mediaType": mt,
    "artifactType": at,
    "config": desc(os.path.join(work, "config.json"), ct),
    "layers": [
        desc(os.path.join(work, p + ".tar.zst"), lt,
             annotations={"org.opencontainers.image.title": p})
        for p in (kpath, rpath)
    ],
    "annotations": {
        "org.opencontainers.image.title": name,
        "org.opencontainers.image.version": version,
    },
}
with open(os.path.join(work, "oci-manifest.json"), "w", encoding="utf-8") as f:
    f.write(json.dumps(manifest, indent=2) + "\n")
with open(os.path.join(work, "blobs.txt"), "w", encoding="utf-8") as f:
    f.write("%s %d config.json manifest.json\n" % (manifest["config"]["digest"], manifest["config"]["size"]))
    for p, l in zip((kpath, rpath), manifest["layers"]):
        f.write("%s %d %s.tar.zst %s\n" % (l["digest"], l["size"], p, p))
PY
manifest_digest=sha256:$(rel_sha256 "$work/oci-manifest.json")
manifest_size=$(stat -c %s "$work/oci-manifest.json")

if [[ -n $layout ]]; then
	mkdir -p "$layout/blobs/sha256"
	while read -r d _ f _; do
		cp --sparse=always "$work/$f" "$layout/blobs/sha256/${d#sha256:}"
	done <"$work/blobs.txt"
	cp "$work/oci-manifest.json" "$layout/blobs/sha256/${manifest_digest#sha256:}"
	printf '{"imageLayoutVersion": "1.0.0"}\n' >"$layout/oci-layout"
	printf '{"schemaVersion": 2, "mediaType": "%s", "manifests": [{"mediaType": "%s", "digest": "%s", "size": %s, "artifactType": "%s", "annotations": {"org.opencontainers.image.ref.name": "%s"}}]}\n' \
		"$OCI_INDEX" "$OCI_MANIFEST" "$manifest_digest" "$manifest_size" "$ARTIFACT_TYPE" "$tag" >"$layout/index.json"
	chmod -R go+rX "$layout"
	say "OCI image layout written to $layout"
fi
if ((dry)); then
	say "dry run: $env_name $env_version, manifest $manifest_digest (nothing pushed)"
	printf '%s\n' "$manifest_digest"
	exit 0
fi

resolve() { # resolve LOCATION: an absolute URL
	case $1 in
	http://* | https://*) printf '%s' "$1" ;;
	/*) printf '%s%s' "$base" "$1" ;;
	*) printf '%s/%s' "$base" "$1" ;;
	esac
}

push_blob() { # push_blob FILE DIGEST SIZE WHAT
	local file=$1 digest=$2 size=$3 what=$4 loc sep
	req "check blob $what" HEAD "$base/v2/$repo/blobs/$digest"
	case $CODE in
	200 | 30[1278]) say "blob $what $digest: already in the registry"; return 0 ;;
	404) ;;
	*) die "check blob $what (HEAD $base/v2/$repo/blobs/$digest): HTTP $CODE$(body_excerpt)" ;;
	esac
	req "start the upload of $what" POST "$base/v2/$repo/blobs/uploads/" -H 'Content-Length: 0'
	[[ $CODE == 202 ]] || die "start the upload of $what (POST $base/v2/$repo/blobs/uploads/): HTTP $CODE$(body_excerpt)"
	loc=$(hdr Location)
	[[ -n $loc ]] || die "start the upload of $what: the registry sent no Location"
	loc=$(resolve "$loc")
	sep='?'
	[[ $loc == *\?* ]] && sep='&'
	req "upload $what" PUT "$loc${sep}digest=${digest/:/%3A}" --upload-file "$file" \
		-H 'Content-Type: application/octet-stream'
	[[ $CODE == 201 ]] || die "upload $what (PUT ${loc%%\?*}...): HTTP $CODE$(body_excerpt)"
	say "blob $what $digest: uploaded ($size bytes)"
}

say "pushing $env_name $env_version to $base/$repo:$tag"
while read -r digest size f what; do
	push_blob "$work/$f" "$digest" "$size" "$what"
done <"$work/blobs.txt"

murl=$base/v2/$repo/manifests/$tag
req "push the manifest" PUT "$murl" --upload-file "$work/oci-manifest.json" -H "Content-Type: $OCI_MANIFEST"
[[ $CODE == 201 ]] || die "push the manifest (PUT $murl): HTTP $CODE$(body_excerpt)"
got=$(hdr Docker-Content-Digest)
if [[ -n $got && $got != "$manifest_digest" ]]; then
	die "push the manifest: the registry reports digest $got, the manifest has $manifest_digest"
fi

req "verify the manifest" GET "$murl" -H "Accept: $OCI_MANIFEST, $OCI_INDEX"
[[ $CODE == 200 ]] || die "verify the manifest (GET $murl): HTTP $CODE$(body_excerpt)"
got=$(hdr Docker-Content-Digest)
body=sha256:$(rel_sha256 "$work/resp.b")
[[ $body == "$manifest_digest" ]] || die "verify the manifest (GET $murl): the registry serves other bytes (sha256 $body, pushed $manifest_digest)"
[[ -z $got || $got == "$manifest_digest" ]] || die "verify the manifest (GET $murl): Docker-Content-Digest is $got, pushed $manifest_digest"
ms=$((($(date +%s%N) - start) / 1000000))
say "pushed $base/$repo:$tag@$manifest_digest in $((ms / 1000)).$((ms % 1000 / 100))s"
printf '%s\n' "$manifest_digest"
