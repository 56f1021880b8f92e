# shellcheck shell=bash
# Helpers shared by release/*.sh (sourced).

# Debian's python3 (a build package) when it is there: a version manager's
# shim first in PATH (pyenv) costs about a second per call. PYRO_PYTHON
# overrides.
PY3=${PYRO_PYTHON:-python3}
if [[ -z ${PYRO_PYTHON:-} && -x /usr/bin/python3 ]]; then PY3=/usr/bin/python3; fi

# rel_tar_zst OUT DIR EPOCH FILE...: a reproducible tar of DIR's FILEs (at
# the archive's top level, sorted by name), compressed with zstd, into OUT.
# Fixed: GNU format, owner and group 0 (numeric, no names), mode 0644,
# mtime EPOCH, no atime/ctime/xattrs/ACLs; sparse files are stored in full
# (zeros cost nothing once compressed, and every tar reader can read them).
# zstd runs in its multi-threaded mode (-T0), whose output does not depend
# on the number of threads, and keeps no timestamp or file name. The same
# files with the same zstd version give the same bytes.
# PYRO_ZSTD_LEVEL sets the level (default 19).
rel_tar_zst() {
	local out=$1 dir=$2 epoch=$3
	shift 3
	local names
	# --sort=name sorts what tar finds in directories, not its arguments.
	mapfile -t names < <(printf '%s\n' "$@" | LC_ALL=C sort)
	[[ $epoch =~ ^[0-9]+$ ]] || { printf 'rel_tar_zst: bad epoch %q\n' "$epoch" >&2; return 1; }
	LC_ALL=C tar --create --format=gnu --sort=name \
		--owner=0 --group=0 --numeric-owner --mode=0644 \
		--mtime="@$epoch" --no-acls --no-xattrs --no-selinux \
		-C "$dir" -f - -- "${names[@]}" |
		zstd -q -"${PYRO_ZSTD_LEVEL:-19}" -T0 --no-progress -c >"$out"
	local s=("${PIPESTATUS[@]}")
	((s[0] == 0 && s[1] == 0))
}

# rel_sha256 FILE: the file's sha256 (64 hex).
rel_sha256() { sha256sum <"$1" | cut -d' ' -f1; }

# rel_json FILE EXPR: evaluate a Python expression over the JSON in FILE
# (bound to `d`) and print the result (strings as they are, the rest as JSON).
rel_json() {
	"$PY3" - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
v = eval(sys.argv[2], {"d": d})
print(v if isinstance(v, str) else json.dumps(v))
PY
}
