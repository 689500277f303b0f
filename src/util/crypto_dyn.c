/* libcrypto's table (crypto_dyn.h), opened on first use. */
#define AMLSPEC_DYN_IMPL
#include "util/crypto_dyn.h"

#include "util/dynlib.h"

DYNLIB_DEFINE(struct amlspec_crypto, amlspec_crypto, AMLSPEC_CRYPTO_FUNCTIONS, AMLSPEC_CRYPTO_SONAME, "libssl3")
