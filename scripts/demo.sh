#!/usr/bin/env bash
# make demo: build grifork, start a 12-host fleet of real sshd servers in network
# and mount namespaces, propagate a sample application to /srv/app on every host
# with examples/Griforkfile.demo.lua, verify every host, tear the fleet down.
# Needs root. Extra arguments go to `fleet demo` (e.g. -keep).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (it creates network namespaces); try: sudo make demo" >&2
	exit 1
fi
scripts/deps.sh
make --no-print-directory build
go build -o bin/fleet ./internal/testkit/fleet/cmd/fleet

# The demo tears its fleet down itself, also on Ctrl-C; `fleet down` afterwards
# removes whatever a killed demo left, so a re-run always starts clean.
bin/fleet demo -grifork bin/grifork -file examples/Griforkfile.demo.lua "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM
trap 'bin/fleet down -name demo || true' EXIT
rc=0
wait "$pid" || rc=$?
# A trapped signal ends `wait` early: wait again until the demo has cleaned up.
while kill -0 "$pid" 2>/dev/null; do
	rc=0
	wait "$pid" || rc=$?
done
exit "$rc"
