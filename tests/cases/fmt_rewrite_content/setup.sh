# The in-place rewrite, then its exact result; the case itself checks that a
# second run finds nothing to do.
"$AMLSPEC" fmt run.yaml >/dev/null
cmp run.yaml expected.yaml
