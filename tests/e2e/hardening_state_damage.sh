#!/usr/bin/env bash
# A truncated or corrupted state.json is detected, the state is recovered
# from state.json.backup with a message naming both, the damaged bytes are
# kept as state.json.corrupt, and nothing that the backup knows is lost.
# Damage to both files is an error that changes nothing. Every damaged
# variant is also replayed by the fuzzer (tests/fuzz/regressions/fuzz_files).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hardening_lib.bash"
make_ws
am_rc rc apply run.yaml; assert_rc "$rc" 0 "first apply"
echo "# v2" >>src/train.py
am_rc rc apply run.yaml; assert_rc "$rc" 0 "second apply (writes the backup)"
sd="$WS/.amlspec"
cp -a "$WS" "$T/good"
good_state=$(cat "$sd/state.json")
size=$(stat -c %s "$sd/state.json")
backup_serial=$(json_get "$sd/state.json.backup" serial)

restore() { rm -rf "$WS"; cp -a "$T/good" "$WS"; cd "$WS"; }
# damage NAME: writes a damaged state.json in place
damage() {
	case $1 in
	empty) : >"$sd/state.json" ;;
	half) head -c $((size / 2)) <<<"$good_state" >"$sd/state.json" ;;
	one-byte-short) head -c $((size - 2)) <<<"$good_state" >"$sd/state.json" ;;
	first-byte) head -c 1 <<<"$good_state" >"$sd/state.json" ;;
	garbage) head -c 4096 /dev/urandom >"$sd/state.json" ;;
	nul-bytes) head -c "$size" /dev/zero >"$sd/state.json" ;;
	bad-utf8) printf '{"format_version": 1, "lineage": "\xff\xfe\xc0\xaf", "serial": 3, "specs": {}}\n' >"$sd/state.json" ;;
	bit-rot) python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[len(b)//3]|=0x80; open(sys.argv[1],"wb").write(b)' "$sd/state.json" ;;
	colon) sed -i '0,/:/s//;/' "$sd/state.json" ;;
	not-object) echo '[1, 2, 3]' >"$sd/state.json" ;;
	no-specs) echo '{"format_version": 1, "lineage": "x", "serial": 1}' >"$sd/state.json" ;;
	trailing) { cat "$T/good/.amlspec/state.json"; echo '}garbage'; } >"$sd/state.json" ;;
	deep) python3 -c 'print("[" * 100000)' >"$sd/state.json" ;;
	huge-number) echo '{"format_version": 1, "lineage": "x", "serial": 99999999999999999999999999, "specs": {}}' >"$sd/state.json" ;;
	max-serial) echo '{"format_version": 1, "lineage": "x", "serial": 9223372036854775807, "specs": {}}' >"$sd/state.json" ;;
	esac
}
variants="empty half one-byte-short first-byte garbage nul-bytes bad-utf8 bit-rot colon not-object no-specs trailing deep huge-number max-serial"
for v in $variants; do
	restore
	damage "$v"
	cp "$sd/state.json" "$T/damaged"
	am_rc rc status; assert_rc "$rc" 0 "status over a damaged state ($v)"
	assert_grep "recovered the state from state.json.backup" "$T/err"
	assert_grep "state.json" "$T/err"
	# the backup is one write behind: it knows the first run, not the second
	am_rc rc plan run.yaml; assert_rc "$rc" 2 "plan over a damaged state ($v)"
	assert_grep "recovered the state from state.json.backup (serial $backup_serial)" "$T/err"
	cmp -s "$sd/state.json" "$T/damaged" || fail "$v: a read-only command changed the damaged state"
	echo "# $v" >>src/train.py
	am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply over a damaged state ($v)"
	assert_grep "kept as state.json.corrupt" "$T/err"
	cmp -s "$sd/state.json.corrupt" "$T/damaged" || fail "$v: state.json.corrupt is not the damaged file"
	hcheck check "$WS" --final e2e/base >/dev/null || fail "$v: invariants after recovery"
	python3 - "$sd/state.json" "$T/good/.amlspec/state.json.backup" <<'PY' || fail "$v: recovered state lost what the backup knew"
import json, sys
new, old = (json.load(open(p)) for p in sys.argv[1:3])
assert new["lineage"] == old["lineage"], "lineage changed"
assert new["serial"] == old["serial"] + 1, (new["serial"], old["serial"])
assert set(old["specs"]) <= set(new["specs"])
PY
done
pass "damaged state.json recovered from the backup: $variants"

# both damaged: an error naming both files, and nothing is written
restore
damage half
head -c 10 "$sd/state.json.backup" >"$T/b" && cp "$T/b" "$sd/state.json.backup"
sums() { (cd "$sd" && sha256sum state.json state.json.backup && ls -A | sort); }
before=$(sums)
am_rc rc apply run.yaml; assert_rc "$rc" 1 "apply with both files damaged"
assert_grep "state.json" "$T/err"; assert_grep "state.json.backup" "$T/err"
assert_no_grep "Segmentation\|AddressSanitizer" "$T/err"
am_rc rc plan run.yaml; assert_rc "$rc" 1 "plan with both files damaged"
[ "$before" = "$(sums)" ] || fail "a failed command changed the state files"
pass "both damaged: clear error, nothing changed"

# state.json is a folder, or unreadable: an error, nothing changed
restore
rm "$sd/state.json" && mkdir "$sd/state.json"
am_rc rc apply run.yaml; assert_rc "$rc" 1 "state.json is a folder"
assert_grep "state.json" "$T/err"
[ -d "$sd/state.json" ] || fail "the folder was replaced"
pass "state.json not a file: clear error"

# a newer format is refused, never "recovered" over
restore
python3 - "$sd/state.json" <<'PY'
import json, sys
st = json.load(open(sys.argv[1])); st["format_version"] = 99
json.dump(st, open(sys.argv[1], "w"))
PY
cp "$sd/state.json" "$T/newer"
echo "# newer" >>src/train.py
am_rc rc apply run.yaml; assert_rc "$rc" 1 "newer state"
assert_grep "newer amlspec" "$T/err"
cmp -s "$sd/state.json" "$T/newer" || fail "a newer state was overwritten"
pass "newer state format refused and kept"
