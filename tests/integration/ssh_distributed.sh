#!/usr/bin/env bash
# A 2-process MPI run (mpirun on the host) and a 2-process pytorch-style run
# (one process per slot, torchrun's variables) on the ssh target.
. "$AMLSPEC_SOURCE_DIR/tests/integration/lib/common.sh"
. "$INT_LIB/distributed.sh"
command -v mpirun >/dev/null || { echo "SKIP: openmpi-bin is not installed"; exit 77; }
sshd_start "$T/sshd"
make_ws
write_ssh_workspace
write_distributed_specs box
check_distributed
