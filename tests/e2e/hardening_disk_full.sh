#!/usr/bin/env bash
# A full disk and a read-only state folder give clear errors and leave the
# state valid (and, when nothing could be written at all, unchanged).
#  - The workspace lives on a small tmpfs; before each apply the disk is
#    filled so that 0, 4, 8, ... 72 KiB stay free, so the space runs out at a
#    different write each time (snapshot objects, run.json, state, checkout,
#    the run's log). Afterwards: status works, state.json parses, no run is
#    left running or forgotten, and once space is freed a plain apply
#    completes.
#  - .amlspec bind-mounted read-only: apply and cancel fail with the reason,
#    status still reads, and nothing changes.
# Needs root for the mounts (skipped otherwise: exit 77, which CTest reports as skipped).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hardening_lib.bash"
if ! is_root; then
	echo "skip: mounting a tmpfs needs root"
	exit 77
fi
mnt="$T/mnt"
hmount_tmpfs "$mnt" 6m
WS="$mnt/ws"
make_ws
am_rc rc apply run.yaml; assert_rc "$rc" 0 "first apply on the tmpfs"
echo "# v2" >>src/train.py
am_rc rc apply run.yaml; assert_rc "$rc" 0 "second apply (a backup)"
echo "# v3" >>src/train.py
git -C "$WS" commit -qam v3
rm -rf "$T/pristine" && cp -a "$WS" "$T/pristine"
sd="$WS/.amlspec"

fill_leaving() { # fill_leaving KiB: fill the tmpfs so that about KiB stay free
	rm -f "$mnt/fill"
	dd if=/dev/zero of="$mnt/fill" bs=4k status=none 2>/dev/null || true
	sync
	if [ "$1" -gt 0 ]; then
		local sz
		sz=$(stat -c %s "$mnt/fill")
		truncate -s $((sz - $1 * 1024)) "$mnt/fill"
	fi
}
tried=0 failed_full=0
for kib in $(seq 0 4 72); do
	rm -f "$mnt/fill"
	rm -rf "$WS"
	cp -a "$T/pristine" "$WS"
	cd "$WS"
	before=$(sha256sum "$sd/state.json" "$sd/state.json.backup")
	fill_leaving "$kib"
	am_rc rc apply run.yaml
	tried=$((tried + 1))
	assert_no_grep "AddressSanitizer\|runtime error\|Segmentation" "$T/err"
	if [ "$rc" != 0 ]; then
		assert_rc "$rc" 1 "apply on a full disk ($kib KiB free)"
		grep -q "No space left on device\|disk full\|Failed" "$T/err" || { cat "$T/err"; fail "$kib KiB free: no clear error"; }
		failed_full=$((failed_full + 1))
		echo "$kib KiB free: $(grep -m1 "error:\|Failed" "$T/err")"
	fi
	if [ "$kib" = 0 ]; then
		[ "$rc" = 1 ] || fail "apply succeeded on a full disk"
		assert_grep "No space left on device" "$T/err"
		[ "$before" = "$(sha256sum "$sd/state.json" "$sd/state.json.backup")" ] ||
			fail "a full disk changed the state"
	fi
	hcheck wait-quiet "$WS" 30 || fail "$kib KiB free: supervisors did not finish"
	am_rc rc status; assert_rc "$rc" 0 "status on a full disk ($kib KiB free)"
	# a verdict that could not be written yet (the disk is full) may be missing
	hcheck check "$WS" --unended-ok >"$T/check" 2>&1 || { cat "$T/check"; fail "$kib KiB free: invariants on a full disk"; }
	rm -f "$mnt/fill"
	am_rc rc status; assert_rc "$rc" 0 "status once space is back ($kib KiB were free)"
	hcheck check "$WS" >"$T/check" 2>&1 || { cat "$T/check"; fail "$kib KiB free: invariants once space is back"; }
	am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply once space is back ($kib KiB were free)"
	hcheck check "$WS" --final e2e/base >"$T/check" 2>&1 || { cat "$T/check"; fail "$kib KiB free: after recovery"; }
done
[ "$failed_full" -ge 4 ] || fail "only $failed_full of $tried applies ran out of space: the sweep misses the writes"
pass "full disk at $tried fill levels ($failed_full applies ran out of space): clear errors, state valid, recovery"

# --- a read-only state folder
rm -rf "$WS"
cp -a "$T/pristine" "$WS"
cd "$WS"
am_rc rc apply run.yaml --no-wait; assert_rc "$rc" 0 "a run to cancel later"
hcheck wait-quiet "$WS" 30
echo "# v4" >>src/train.py
sums() { (cd "$sd" && find . -path ./snapshots.git -prune -o -type f -print0 | sort -z | xargs -0 sha256sum); }
before=$(sums)
mount --bind "$sd" "$sd" && H_MOUNTS+=("$sd")
mount -o remount,bind,ro "$sd" || fail "cannot remount read-only"
touch "$sd/probe" 2>/dev/null && fail "the state folder is still writable"
am_rc rc apply run.yaml; assert_rc "$rc" 1 "apply on a read-only state folder"
assert_grep "Read-only file system" "$T/err"
assert_no_grep "AddressSanitizer\|runtime error\|Segmentation" "$T/err"
am_rc rc plan run.yaml
[ "$rc" = 1 ] || [ "$rc" = 2 ] || fail "plan on a read-only state folder exited $rc"
[ "$rc" = 2 ] || assert_grep "Read-only file system" "$T/err"
am_rc rc status; assert_rc "$rc" 0 "status on a read-only state folder"
am_rc rc lock; assert_rc "$rc" 1 "lock on a read-only state folder"
assert_grep "Read-only file system" "$T/err"
[ "$before" = "$(sums)" ] || fail "something changed in a read-only state folder"
umount "$sd"
am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply once writable again"
hcheck check "$WS" --final e2e/base || fail "after the read-only folder"
pass "read-only state folder: clear errors, nothing changed, status reads"
