# Scripts and specs for the 2-process MPI and pytorch-style runs, for any
# target: write_distributed_specs TARGET. The scripts check ranks and world
# size themselves (no mpi4py, no torch needed) and exit non-zero when wrong.
write_distributed_specs() {
	cat >"$WS/src/mpi_check.py" <<'PY'
import os, sys
rank = os.environ.get("OMPI_COMM_WORLD_RANK") or os.environ.get("PMI_RANK") or os.environ.get("PMIX_RANK")
size = os.environ.get("OMPI_COMM_WORLD_SIZE") or os.environ.get("PMI_SIZE")
if rank is None or size != "2" or int(rank) not in (0, 1):
    print("bad MPI variables: rank=%r size=%r" % (rank, size), flush=True)
    sys.exit(5)
open(os.path.join(os.environ["AMLSPEC_OUTPUTS_DIR"], "mpi-rank-%s" % rank), "w").write(size)
print("mpi rank %s of %s" % (rank, size), flush=True)
PY
	cat >"$WS/src/torch_check.py" <<'PY'
import os, sys
need = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK",
        "AMLSPEC_NODE_RANK", "AMLSPEC_NUM_NODES", "AMLSPEC_NODE_IPS", "AMLSPEC_RUN_ID"]
missing = [k for k in need if not os.environ.get(k)]
e = os.environ
if missing or e.get("WORLD_SIZE") != "2" or e.get("RANK") not in ("0", "1") or e.get("RANK") != e.get("LOCAL_RANK") \
        or not e.get("MASTER_PORT", "").isdigit() or e.get("AMLSPEC_NUM_NODES") != "1":
    print("bad torchrun variables: missing %s, %s" % (missing, {k: e.get(k) for k in need}), flush=True)
    sys.exit(6)
open(os.path.join(e["AMLSPEC_OUTPUTS_DIR"], "torch-rank-%s" % e["RANK"]), "w").write(e["WORLD_SIZE"])
print("torch rank %s of %s master %s:%s" % (e["RANK"], e["WORLD_SIZE"], e["MASTER_ADDR"], e["MASTER_PORT"]), flush=True)
PY
	cat >"$WS/mpi.run.yaml" <<YAML
experiment: dist
name: mpi
source_directory: src
script: mpi_check.py
target: $1
framework: mpi
distribution: {node_count: 1, process_count_per_node: 2}
limits: {timeout: 2m}
YAML
	cat >"$WS/torch.run.yaml" <<YAML
experiment: dist
name: torch
source_directory: src
script: torch_check.py
target: $1
framework: pytorch
distribution: {node_count: 1, process_count_per_node: 2}
limits: {timeout: 2m}
YAML
	git -C "$WS" add -A && git -C "$WS" commit -q -m distributed
}

check_distributed() { # check_distributed: after applying both specs
	am_rc rc apply mpi.run.yaml; assert_rc "$rc" 0 "2-process MPI run"
	assert_grep "mpi rank 0 of 2" "$T/out"
	assert_grep "mpi rank 1 of 2" "$T/out"
	mid=$(run_named mpi)
	[ "$(json_get "$(run_json "$mid")" outputs.1.path)" = mpi-rank-1 ] || fail "both MPI ranks wrote outputs"
	pass "2-process MPI run"
	am_rc rc apply torch.run.yaml; assert_rc "$rc" 0 "2-process pytorch run"
	assert_grep "torch rank 0 of 2 master" "$T/out"
	assert_grep "torch rank 1 of 2 master" "$T/out"
	tid=$(run_named torch)
	[ "$(json_get "$(run_json "$tid")" outputs.1.path)" = torch-rank-1 ] || fail "both pytorch ranks wrote outputs"
	pass "2-process pytorch-style run"
}
