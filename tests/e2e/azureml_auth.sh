#!/usr/bin/env bash
# Authentication for the azureml target, in its order: AZURE_ACCESS_TOKEN;
# client credentials against the token endpoint (the emulator's, through
# AZURE_AUTHORITY_HOST); the Azure CLI (a fake `az` on PATH); none: plan says
# it did not check, apply fails listing the three ways. Refused credentials
# are readable errors. The token and the client secret never appear in any
# output or file, not even with --verbose and AMLSPEC_HTTP_TRACE=1.
. "$(dirname "$0")/lib.sh"
. "$AMLSPEC_SOURCE_DIR/tests/azureml/e2e_lib.sh"
start_emulator
make_azws
mkdir -p "$T/nobin" "$T/azbin"

# no credentials at all (and no az on PATH)
# amlspec with a PATH where no az can be found
am_rc() { local __v=$1; shift; set +e; env PATH="$T/nobin" "$AMLSPEC" "$@" >"$T/out" 2>"$T/err"; eval "$__v=\$?"; set -e; }
am_rc rc plan run.yaml; assert_rc "$rc" 2 "plan without credentials"
assert_grep "workspace and compute not checked: no Azure credentials" "$T/err"
am_rc rc apply run.yaml; assert_rc "$rc" 1 "apply without credentials"
assert_grep "no Azure credentials" "$T/err"
assert_grep "1. AZURE_ACCESS_TOKEN" "$T/err"
assert_grep "2. AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET" "$T/err"
assert_grep "3. the Azure CLI on PATH, signed in with \`az login\`" "$T/err"
AZURE_CLIENT_ID=app-1 am_rc rc apply run.yaml; assert_rc "$rc" 1 "partial client credentials"
assert_grep "missing: AZURE_TENANT_ID AZURE_CLIENT_SECRET" "$T/err"
[ "$(emu_stat jobs_created)" = 0 ] || fail "no job without credentials"
pass "no credentials: plan says so, apply lists the three ways"

# a token the service does not accept
AZURE_ACCESS_TOKEN=not-a-valid-token am_rc rc apply run.yaml; assert_rc "$rc" 1 "refused token"
assert_grep "HTTP 401 InvalidAuthenticationToken: The access token is invalid." "$T/err"
assert_grep "the token in AZURE_ACCESS_TOKEN was refused" "$T/err"
assert_grep "x-ms-request-id [0-9a-f-]\{36\}" "$T/err"
assert_no_grep "not-a-valid-token" "$T/err"
pass "a refused token is a readable error with the request id"

# AZURE_ACCESS_TOKEN
AZURE_ACCESS_TOKEN="$TOKEN" am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply with AZURE_ACCESS_TOKEN"
[ "$(emu_stat jobs_created)" = 1 ] || fail "one job"
pass "AZURE_ACCESS_TOKEN"

# client credentials, against the emulator's token endpoint
export AZURE_TENANT_ID=tenant-1 AZURE_CLIENT_ID=app-1 AZURE_AUTHORITY_HOST="$EURL"
AZURE_CLIENT_SECRET=wrong-secret am_rc rc apply --rerun run.yaml; assert_rc "$rc" 1 "wrong client secret"
assert_grep "client credentials (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET) were refused by" "$T/err"
assert_grep "HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided." "$T/err"
assert_no_grep "wrong-secret" "$T/err"
printf '# changed: a new snapshot to upload\n' >>src/train.py
AZURE_CLIENT_SECRET="$SECRET" AMLSPEC_HTTP_TRACE=1 am_rc rc --verbose apply run.yaml
assert_rc "$rc" 0 "apply with client credentials"
[ "$(emu_stat tokens_issued)" = 1 ] || fail "one token from the token endpoint (then cached), got $(emu_stat tokens_issued)"
[ "$(emu_stat jobs_created)" = 2 ] || fail "a second job"
assert_grep "http: POST $EURL/tenant-1/oauth2/v2.0/token -> 200" "$T/err"
assert_grep "http: PUT $EURL/emustorage/.*sig=REDACTED" "$T/err"
assert_grep "http: PUT .*/jobs/.*?api-version=2023-04-01 -> 201, x-ms-request-id" "$T/err"
cp "$T/err" "$T/trace.err"
# client credentials win over the Azure CLI, a token in the environment over both
unset AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_AUTHORITY_HOST
pass "client credentials, traced without secrets"

# the Azure CLI: argv exec of `az account get-access-token`
cat >"$T/azbin/az" <<EOF
#!/bin/sh
[ "\$*" = "account get-access-token --resource https://management.azure.com/ --output json" ] || { echo "bad args: \$*" >&2; exit 2; }
printf '{"accessToken": "%s", "expiresOn": "2099-01-01 00:00:00.000000", "subscription": "$SUB", "tokenType": "Bearer"}\n' "$TOKEN"
EOF
chmod +x "$T/azbin/az"
set +e; env PATH="$T/azbin" "$AMLSPEC" apply --rerun run.yaml >"$T/out" 2>"$T/err"; rc=$?; set -e
assert_rc "$rc" 0 "apply with the Azure CLI"
[ "$(emu_stat jobs_created)" = 3 ] || fail "a third job"
cat >"$T/azbin/az" <<'EOF'
#!/bin/sh
echo "ERROR: Please run 'az login' to setup account." >&2
exit 1
EOF
set +e; env PATH="$T/azbin" "$AMLSPEC" apply --rerun run.yaml >"$T/out" 2>"$T/err"; rc=$?; set -e
assert_rc "$rc" 1 "az not logged in"
assert_grep "account get-access-token\` failed (exit 1): ERROR: Please run 'az login' to setup account." "$T/err"
pass "the Azure CLI"

# the token and the secret are nowhere: outputs, traces, the workspace (run
# records, state, journals), the cache
for f in "$T/out" "$T/err" "$T/trace.err"; do
	assert_no_grep "$TOKEN" "$f"
	assert_no_grep "$SECRET" "$f"
done
assert_no_grep "$TOKEN" "$WS"
assert_no_grep "$SECRET" "$WS"
[ ! -d "$XDG_CACHE_HOME" ] || { assert_no_grep "$TOKEN" "$XDG_CACHE_HOME"; assert_no_grep "$SECRET" "$XDG_CACHE_HOME"; }
# nor the SAS signatures the emulator handed out
assert_no_grep "sig=[A-Za-z0-9_%-]\{10,\}" "$WS/.amlspec"
assert_no_rejects "auth"
[ "$(emu_stat unauthorized)" = 2 ] || fail "two refused credentials (the bad token, the wrong secret)"
pass "no token, secret or SAS in any output or file"
