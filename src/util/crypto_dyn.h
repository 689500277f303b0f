/* crypto_dyn: OpenSSL's libcrypto (digests, base64), opened on first use.
 * See util/dynlib.h for why it is not linked. A call to a function missing
 * from the list below fails to link: add the name to the list and a line to
 * the macros. */
#ifndef AMLSPEC_CRYPTO_DYN_H
#define AMLSPEC_CRYPTO_DYN_H

#include <openssl/evp.h>

#define AMLSPEC_CRYPTO_FUNCTIONS(X) \
	X(EVP_Digest) X(EVP_DigestFinal_ex) X(EVP_DigestInit_ex) \
	X(EVP_DigestUpdate) X(EVP_EncodeBlock) X(EVP_MD_CTX_free) \
	X(EVP_MD_CTX_new) X(EVP_md5) X(EVP_sha1) X(EVP_sha256)

struct amlspec_crypto {
#define AMLSPEC_DYN_DECLARE(f) __typeof__(f) *f;
	AMLSPEC_CRYPTO_FUNCTIONS(AMLSPEC_DYN_DECLARE)
#undef AMLSPEC_DYN_DECLARE
};

/* The functions, the library opened on first use; the program ends with a
 * message when it cannot be (a broken installation). */
const struct amlspec_crypto *amlspec_crypto(void);

#ifndef AMLSPEC_DYN_IMPL
#define EVP_Digest (amlspec_crypto()->EVP_Digest)
#define EVP_DigestFinal_ex (amlspec_crypto()->EVP_DigestFinal_ex)
#define EVP_DigestInit_ex (amlspec_crypto()->EVP_DigestInit_ex)
#define EVP_DigestUpdate (amlspec_crypto()->EVP_DigestUpdate)
#define EVP_EncodeBlock (amlspec_crypto()->EVP_EncodeBlock)
#define EVP_MD_CTX_free (amlspec_crypto()->EVP_MD_CTX_free)
#define EVP_MD_CTX_new (amlspec_crypto()->EVP_MD_CTX_new)
#define EVP_md5 (amlspec_crypto()->EVP_md5)
#define EVP_sha1 (amlspec_crypto()->EVP_sha1)
#define EVP_sha256 (amlspec_crypto()->EVP_sha256)
#endif

#endif
