#!/usr/bin/env bash
# A 2-process MPI run (mpirun inside the allocation) and a 2-process
# pytorch-style run (srun, one task per slot, torchrun's variables from
# Slurm's) on the slurm target.
. "$AMLSPEC_SOURCE_DIR/tests/integration/lib/common.sh"
. "$INT_LIB/distributed.sh"
command -v mpirun >/dev/null || { echo "SKIP: openmpi-bin is not installed"; exit 77; }
slurm_start "$T/slurm"
make_ws
write_slurm_workspace
write_distributed_specs hpc
check_distributed
