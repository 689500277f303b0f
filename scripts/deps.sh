#!/usr/bin/env bash
# Installs what amlspec needs that is missing (Debian 12 packages only), and
# skips apt entirely when everything is there.
#   deps.sh build   compiler, cmake and the -dev libraries
#   deps.sh run     build + what the bundled example runs with (python3-venv, git)
#   deps.sh test    run + what the test suite starts (cmocka, valgrind, node/npm
#                   for the independent schema validator, sshd, slurm, MPI)
set -euo pipefail
mode=${1:-build}
pkgs=(build-essential cmake pkg-config git ca-certificates
      libyaml-dev libjson-c-dev libcurl4-openssl-dev libgit2-dev libssl-dev)
case "$mode" in
build) ;;
run)  pkgs+=(python3 python3-venv) ;;
test) pkgs+=(python3 python3-venv python3-yaml curl libcmocka-dev valgrind nodejs npm rsync
             openssh-server openssh-client openmpi-bin slurm-wlm munge procps
             clang libclang-rt-14-dev strace e2fsprogs util-linux) ;;
*) echo "usage: $0 build|run|test" >&2; exit 64 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
	# node and npm may come from elsewhere (nodesource, nvm): accept them as they are
	if { [ "$p" = nodejs ] && command -v node >/dev/null; } || { [ "$p" = npm ] && command -v npm >/dev/null; }; then
		continue
	fi
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "Installing: ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# slurm and munge packages start nothing we rely on (tests start their own
# daemons in temporary folders); stop any service the packages may have started
for svc in slurmctld slurmd munge; do
	if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
	fi
done
