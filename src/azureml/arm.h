/* arm: the Azure Resource Manager side of the azureml target: the target's
 * options (amlspec.yaml), resource ids, and authenticated JSON requests to
 * the workspace with api-version 2023-04-01, whose failures become readable
 * messages carrying the request ids. */
#ifndef AMLSPEC_AZUREML_ARM_H
#define AMLSPEC_AZUREML_ARM_H

#include <json-c/json.h>
#include <stdbool.h>

#include "azureml/auth.h"
#include "util/diag.h"
#include "util/http.h"
#include "workspace/workspace.h"

#define ARM_API_VERSION "2023-04-01"
#define ARM_DEFAULT_ENDPOINT "https://management.azure.com"

typedef enum { AZML_CURATED_REGISTRY, AZML_CURATED_WORKSPACE } azml_curated_form;

/* An azureml target's options (src/spec/formats.c f_azureml). */
typedef struct azml_target {
	char *name;                /* the target's name in amlspec.yaml */
	char *endpoint;            /* without a trailing '/' */
	char *subscription_id;
	char *resource_group;
	char *workspace_name;
	char *compute;
	azml_curated_form curated_form;
	char *instance_type;       /* NULL: the compute's default */
	char *ca_bundle;           /* NULL: the system store */
} azml_target;

/* Reads and checks the options: required ones present, endpoint https (or
 * http to a loopback host), names usable in a resource id. */
int azml_target_parse(azml_target *out, const target_config *cfg, diag_list *diags);
void azml_target_free(azml_target *t);
/* /subscriptions/S/resourceGroups/R/providers/Microsoft.MachineLearningServices/workspaces/W */
char *azml_workspace_id(const azml_target *t);
char *azml_compute_id(const azml_target *t);

typedef struct arm_client {
	azml_target target;
	char *workspace_id;
	http_client *http;
	azure_token token;
} arm_client;

/* No network yet: the token is fetched on the first request. */
int arm_client_open(arm_client **out, const target_config *cfg, diag_list *diags);
void arm_client_free(arm_client *a);

enum { ARM_ALLOW_404 = 1 };

/* METHOD <workspace id><rel>?api-version=2023-04-01 with a JSON body (or
 * none). On 2xx: AML_OK, *status, and *out the parsed body (NULL when empty;
 * out may be NULL). With ARM_ALLOW_404 a 404 returns AML_ENOTFOUND and no
 * diagnostic. Anything else: a diagnostic from arm_error_text. */
int arm_request(arm_client *a, const char *method, const char *rel, json_object *body, unsigned flags,
		json_object **out, long *status, diag_list *diags);
/* The same against an absolute path on the endpoint (/subscriptions/...). */
int arm_request_path(arm_client *a, const char *method, const char *path, json_object *body, unsigned flags,
		     json_object **out, long *status, diag_list *diags);

/* "HTTP 400 UserError: message (target x; details: C: m; ...) [x-ms-request-id R, x-ms-correlation-request-id C]"
 * from an ARM error body ({"error": {"code", "message", "target", "details"}}),
 * or the start of a body that is not one. Caller frees. */
char *arm_error_text(long status, const char *body, const char *request_id, const char *correlation_id);

/* A random RFC 4122 version-4 UUID. Caller frees. */
char *azml_uuid(void);

#endif
