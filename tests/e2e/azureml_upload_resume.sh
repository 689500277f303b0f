#!/usr/bin/env bash
# An interrupted code upload resumes without sending again what is already
# there: files (looked at with Get Blob Properties: same length and MD5) and,
# for a file sent in blocks, the blocks already uploaded (Get Block List).
# What is stored is byte for byte what was snapshotted.
. "$(dirname "$0")/lib.sh"
. "$AMLSPEC_SOURCE_DIR/tests/azureml/e2e_lib.sh"
start_emulator
make_azws
export AZURE_ACCESS_TOKEN="$TOKEN"
for i in 1 2 3; do printf 'value = %d\n' "$i" >"src/mod$i.py"; done
git add -A && git commit -qm "six files"

# the 4th file upload is refused (not retried: 403)
emu_faults '[{"match": "^PUT /emustorage/", "after": 3, "status": 403, "code": "AuthorizationFailure", "message": "This request is not authorized to perform this operation."}]'
am_rc rc apply run.yaml; assert_rc "$rc" 1 "interrupted upload"
assert_grep "upload: .*: HTTP 403 AuthorizationFailure: This request is not authorized to perform this operation." "$T/err"
[ "$(emu_stat put_blob)" = 3 ] || fail "3 files were stored before the interruption, not $(emu_stat put_blob)"
ls "$WS/.amlspec/azureml/uploads/"*.json >/dev/null 2>&1 || fail "an upload journal is kept"
assert_no_grep "sig=" "$WS/.amlspec/azureml/uploads"
[ "$(emu_stat code_versions_created)" = 0 ] || fail "no code version from a partial upload"
pass "an interrupted upload fails readably and keeps its journal"

am_rc rc apply run.yaml; assert_rc "$rc" 0 "resumed upload"
assert_grep "resuming the upload of snapshot" "$T/err"
assert_grep "uploaded 3 files (.* bytes); 3 already uploaded before" "$T/err"
[ "$(emu_stat put_blob)" = 6 ] || fail "6 files in all, each sent once: $(emu_stat put_blob)"
[ "$(emu_stat pending_uploads)" = 2 ] || fail "the same pending upload is asked for again"
[ "$(emu_stat code_versions_created)" = 1 ] || fail "one code version"
ls "$WS/.amlspec/azureml/uploads/"*.json >/dev/null 2>&1 && fail "the journal is removed after the upload"
pass "the resumed upload sends only the missing files"

# a large file in blocks (small blocks so that the test stays small)
export AMLSPEC_AZUREML_BLOCK_SIZE=1024
head -c 5000 /dev/urandom >src/big.bin
git add -A && git commit -qm "big file"
emu_faults '[{"match": "^PUT /emustorage/.*/big.bin$", "after": 2, "status": 403, "code": "AuthorizationFailure"}]'
am_rc rc apply run.yaml; assert_rc "$rc" 1 "interrupted block upload"
[ "$(emu_stat put_block)" = 2 ] || fail "two blocks stored before the interruption: $(emu_stat put_block)"
am_rc rc apply run.yaml; assert_rc "$rc" 0 "resumed block upload"
[ "$(emu_stat put_block)" = 5 ] || fail "5 blocks in all, each sent once: $(emu_stat put_block)"
[ "$(emu_stat put_block_list)" = 1 ] || fail "one Put Block List"
[ "$(emu_stat get_block_list)" -ge 1 ] || fail "the resumed upload asked for the block list"
[ "$(emu_stat md5_mismatch_stored)" = 0 ] || fail "x-ms-blob-content-md5 matches the content"
pass "a file in blocks resumes from the blocks already uploaded"

# every stored blob is the snapshotted file
emu blobs >"$T/blobs.json"
python3 - "$T/blobs.json" "$WS/src" <<'PY' || fail "uploaded content"
import base64, hashlib, json, os, sys
blobs = json.load(open(sys.argv[1]))
src = sys.argv[2]
latest = {}
for key, b in blobs.items():
    folder, _, rel = key.partition("/LocalUpload/")[2].partition("/amlspec-e2e/")
    latest.setdefault(rel, []).append(b)
names = sorted(os.path.relpath(os.path.join(d, f), src) for d, _, fs in os.walk(src) for f in fs)
for rel in names:
    data = open(os.path.join(src, rel), "rb").read()
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    assert any(b["md5"] == md5 and b["size"] == len(data) for b in latest[rel]), (rel, latest.get(rel))
PY
assert_no_rejects "uploads"
pass "what was stored is what was snapshotted"
