#!/usr/bin/env bash
# Installs the Debian packages that the fleet tests and the demo need (as root),
# only when one is missing, so a prepared machine pays nothing.
set -euo pipefail
need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# The oracles of the node group and inventory tests (nodeset -e, ansible-inventory).
command -v nodeset >/dev/null 2>&1 || need+=(clustershell)
command -v ansible-inventory >/dev/null 2>&1 || need+=(ansible-core)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${need[*]}; run as root or install them" >&2
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
