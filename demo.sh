#!/usr/bin/env bash
# `make demo`: one command in a real microVM, from a fresh checkout.
#
#   ./demo.sh PATH/TO/pyro BUNDLE_DIR [ENVIRONMENT]
#
# BUNDLE_DIR is a built environment bundle (make env-test builds
# build/env/test; make demo DEMO_ENV=debian:12 builds build/env/debian-12).
# It is imported into the user's environment cache unless that
# environment is installed already, then `pyro run` boots it and runs a
# command inside; the last lines printed come from the guest. KVM is used
# when it works here; otherwise the demo says so and uses QEMU's software
# emulation (PYRO_ACCEL=tcg), which is slower but boots the same guest.
set -euo pipefail
PYRO=$(readlink -f "${1:?usage: demo.sh PATH/TO/pyro BUNDLE_DIR [ENVIRONMENT]}")
BUNDLE=$(readlink -f "${2:?usage: demo.sh PATH/TO/pyro BUNDLE_DIR [ENVIRONMENT]}")
ENV=${3:-test}
say() { printf 'demo: %s\n' "$*" >&2; }
field() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

if [[ $("$PYRO" env inspect "$ENV" --json | field 'd.get("installed")') != True ]]; then
	say "installing $ENV from $BUNDLE"
	"$PYRO" env import "$BUNDLE" >/dev/null
fi
if [[ -z ${PYRO_ACCEL:-} && $("$PYRO" doctor --json | field 'd["capabilities"]["vm_boot"]') != True ]]; then
	why=$("$PYRO" doctor --json | field 'd["backend"]["reason"] or ""')
	say "KVM is not usable here; booting under QEMU software emulation (TCG), which is slower"
	say "(${why%%;*})"
	export PYRO_ACCEL=tcg
fi
say "running a command in a fresh $ENV microVM"
# shellcheck disable=SC2016
"$PYRO" run "$ENV" -- sh -c 'echo "hello from inside a pyro microVM: $(uname -s) $(uname -r), $(nproc) vCPU, $(hostname)"'
say "the one-shot lifecycle as JSON (pyro demo)"
"$PYRO" demo --environment "$ENV"
