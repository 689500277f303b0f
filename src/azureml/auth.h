/* auth: a bearer token for Azure Resource Manager, found in this order:
 *   1. AZURE_ACCESS_TOKEN (a token you got yourself);
 *   2. client credentials: AZURE_TENANT_ID, AZURE_CLIENT_ID and
 *      AZURE_CLIENT_SECRET against the Microsoft identity platform token
 *      endpoint (AZURE_AUTHORITY_HOST, default https://login.microsoftonline.com),
 *      scope https://management.azure.com/.default;
 *   3. `az account get-access-token` when the Azure CLI is on PATH (run with
 *      an argument vector, never a shell).
 * A way that is configured but fails is an error (no silent fall-through).
 * Tokens live in memory only: never printed, logged or written anywhere. */
#ifndef AMLSPEC_AZUREML_AUTH_H
#define AMLSPEC_AZUREML_AUTH_H

#include "util/diag.h"
#include "util/http.h"

#define AZURE_ARM_SCOPE "https://management.azure.com/.default"
#define AZURE_ARM_RESOURCE "https://management.azure.com/"
#define AZURE_DEFAULT_AUTHORITY "https://login.microsoftonline.com"

typedef enum {
	AZURE_AUTH_NONE,
	AZURE_AUTH_ENV_TOKEN,
	AZURE_AUTH_CLIENT_CREDENTIALS,
	AZURE_AUTH_AZURE_CLI,
} azure_auth_method;

typedef struct azure_token {
	char *value;        /* the bearer token itself */
	double expires_at;  /* unix seconds; 0 when unknown */
	azure_auth_method method;
} azure_token;

/* The way that would be used, from the environment alone (no network, no
 * process started). */
azure_auth_method azure_auth_detect(void);
/* "AZURE_ACCESS_TOKEN", "client credentials (AZURE_CLIENT_ID ...)", "the Azure CLI". */
const char *azure_auth_method_name(azure_auth_method m);
/* The message that says no way works and lists the three. Caller frees. */
char *azure_auth_none_message(void);

/* A token (cached for the life of the process while it is valid). http is
 * used for the client-credentials request. */
int azure_auth_token(azure_token *out, http_client *http, diag_list *diags);
/* Wipes and frees the token. */
void azure_token_clear(azure_token *t);
/* Forgets the process cache (tests). */
void azure_auth_reset_cache(void);

#endif
