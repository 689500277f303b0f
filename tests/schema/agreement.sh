#!/usr/bin/env bash
# schema/ajv_agreement: an independent validator (ajv, JSON Schema 2020-12)
# must agree with `amlspec validate` on every schema-level case.
# See agreement.js for the rules; corpus/README.md for the corpus.
# Environment: AMLSPEC (the binary), AMLSPEC_SOURCE_DIR (the source tree).
# Arguments are passed to agreement.js (--verbose, --corpus-only).
set -euo pipefail
src=${AMLSPEC_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
here=$src/tests/schema
: "${AMLSPEC:?AMLSPEC must name the amlspec binary}"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "agreement: node and npm are required for this test (ajv runs on Node.js)." >&2
	echo "agreement: install them first, e.g. 'apt-get install -y nodejs npm' (the README's test set-up does this)." >&2
	exit 1
fi
if [ ! -d "$here/node_modules/ajv" ] || [ ! -d "$here/node_modules/js-yaml" ]; then
	echo "agreement: installing ajv and js-yaml (npm ci --prefix tests/schema)" >&2
	# node trusts its own CA list, not the system's; a network that inspects
	# TLS with a locally installed CA needs the system bundle too
	if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
		export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
	fi
	npm ci --prefix "$here" --no-audit --no-fund >&2
fi
exec node "$here/agreement.js" "$@"
