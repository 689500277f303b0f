#include "azureml/arm.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

static char *opt(const target_config *cfg, const char *key)
{
	const char *v = kvlist_get(&cfg->options, key);
	return v && *v ? xstrdup(v) : NULL;
}

static bool is_uuid(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Names go into resource ids and URL paths: refuse what would change them. */
static bool id_safe(const char *s)
{
	if (!*s)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || *p == '/' || *p == '?' || *p == '#' || *p == '%' || *p == '\\')
			return false;
	return true;
}

int azml_target_parse(azml_target *out, const target_config *cfg, diag_list *diags)
{
	azml_target init = { 0 };
	*out = init;
	int rc = AML_OK;
	out->name = xstrdup(cfg->name);
	out->subscription_id = opt(cfg, "subscription_id");
	out->resource_group = opt(cfg, "resource_group");
	out->workspace_name = opt(cfg, "workspace_name");
	out->compute = opt(cfg, "compute");
	out->instance_type = opt(cfg, "instance_type");
	out->ca_bundle = opt(cfg, "ca_bundle");
	char *ep = opt(cfg, "endpoint");
	if (!ep)
		ep = xstrdup(ARM_DEFAULT_ENDPOINT);
	size_t n = strlen(ep);
	while (n > 1 && ep[n - 1] == '/')
		ep[--n] = '\0';
	out->endpoint = ep;
	const char *form = kvlist_get(&cfg->options, "curated_environments");
	out->curated_form = form && !strcmp(form, "workspace") ? AZML_CURATED_WORKSPACE : AZML_CURATED_REGISTRY;

	struct {
		const char *key;
		char *value;
	} req[] = {
		{ "subscription_id", out->subscription_id },
		{ "resource_group", out->resource_group },
		{ "workspace_name", out->workspace_name },
		{ "compute", out->compute },
	};
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		char *path = xasprintf("targets.%s.%s", cfg->name, req[i].key);
		if (!req[i].value)
			rc = diag_error(diags, NULL, 0, 0, path, "target %s (azureml): %s is required", cfg->name, req[i].key);
		else if (!id_safe(req[i].value))
			rc = diag_error(diags, NULL, 0, 0, path,
					"target %s (azureml): %s '%s' cannot be part of an Azure resource id "
					"(no spaces, '/', '?', '#', '%%' or '\\')",
					cfg->name, req[i].key, req[i].value);
		free(path);
	}
	if (out->subscription_id && id_safe(out->subscription_id) && !is_uuid(out->subscription_id))
		rc = diag_error(diags, NULL, 0, 0, "subscription_id",
				"target %s (azureml): subscription_id '%s' is not a subscription id (a GUID such as "
				"00000000-1111-2222-3333-444444444444)",
				cfg->name, out->subscription_id);
	const char *why = NULL;
	if (!http_url_allowed(out->endpoint, &why))
		rc = diag_error(diags, NULL, 0, 0, "endpoint", "target %s (azureml): endpoint '%s': %s", cfg->name,
				out->endpoint, why);
	else if (strchr(out->endpoint + 8, '?') || strchr(out->endpoint + 8, '#'))
		rc = diag_error(diags, NULL, 0, 0, "endpoint",
				"target %s (azureml): endpoint '%s' must be a base URL without a query", cfg->name,
				out->endpoint);
	if (out->ca_bundle && access(out->ca_bundle, R_OK) != 0)
		rc = diag_error(diags, NULL, 0, 0, "ca_bundle", "target %s (azureml): ca_bundle '%s' cannot be read",
				cfg->name, out->ca_bundle);
	if (rc)
		azml_target_free(out);
	return rc;
}

void azml_target_free(azml_target *t)
{
	free(t->name);
	free(t->endpoint);
	free(t->subscription_id);
	free(t->resource_group);
	free(t->workspace_name);
	free(t->compute);
	free(t->instance_type);
	free(t->ca_bundle);
	azml_target init = { 0 };
	*t = init;
}

char *azml_workspace_id(const azml_target *t)
{
	return xasprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.MachineLearningServices/workspaces/%s",
			 t->subscription_id, t->resource_group, t->workspace_name);
}

char *azml_compute_id(const azml_target *t)
{
	char *ws = azml_workspace_id(t);
	char *id = xasprintf("%s/computes/%s", ws, t->compute);
	free(ws);
	return id;
}

char *azml_uuid(void)
{
	unsigned char b[16] = { 0 };
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
		/* no /dev/urandom: fall back to something unique enough for an id */
		unsigned long long x = (unsigned long long)getpid() ^ ((unsigned long long)time(NULL) << 20);
		for (size_t i = 0; i < sizeof(b); i++, x = x * 6364136223846793005ULL + 1442695040888963407ULL)
			b[i] ^= (unsigned char)(x >> 33);
	}
	if (fd >= 0)
		close(fd);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	return xasprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
			 b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int arm_client_open(arm_client **out, const target_config *cfg, diag_list *diags)
{
	*out = NULL;
	arm_client *a = xcalloc(1, sizeof(*a));
	int rc = azml_target_parse(&a->target, cfg, diags);
	if (rc) {
		free(a);
		return rc;
	}
	http_opts o = HTTP_OPTS_INIT;
	o.ca_bundle = a->target.ca_bundle;
	rc = http_client_new(&a->http, &o, diags);
	if (rc) {
		azml_target_free(&a->target);
		free(a);
		return rc;
	}
	a->workspace_id = azml_workspace_id(&a->target);
	*out = a;
	return AML_OK;
}

void arm_client_free(arm_client *a)
{
	if (!a)
		return;
	azml_target_free(&a->target);
	free(a->workspace_id);
	http_client_free(a->http);
	azure_token_clear(&a->token);
	free(a);
}

static void clip_append(buf *b, const char *s, size_t max)
{
	size_t n = strlen(s);
	bool cut = n > max;
	if (cut)
		n = max;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		buf_putc(b, c == '\n' || c == '\r' || c == '\t' ? ' ' : c < 0x20 ? '?' : (char)c);
	}
	if (cut)
		buf_puts(b, "...");
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;
	if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

char *arm_error_text(long status, const char *body, const char *request_id, const char *correlation_id)
{
	buf b = BUF_INIT;
	buf_printf(&b, "HTTP %ld", status);
	json_object *j = body && *body ? json_tokener_parse(body) : NULL;
	json_object *err = NULL;
	if (j && json_object_is_type(j, json_type_object))
		json_object_object_get_ex(j, "error", &err);
	if (err && json_object_is_type(err, json_type_object)) {
		const char *code = jstr(err, "code"), *msg = jstr(err, "message"), *target = jstr(err, "target");
		if (code) {
			buf_putc(&b, ' ');
			clip_append(&b, code, 200);
		}
		if (msg) {
			buf_puts(&b, ": ");
			clip_append(&b, msg, 1000);
		}
		json_object *details = NULL;
		json_object_object_get_ex(err, "details", &details);
		size_t nd = details && json_object_is_type(details, json_type_array) ? json_object_array_length(details) : 0;
		if (target || nd) {
			buf_puts(&b, " (");
			if (target) {
				buf_puts(&b, "target ");
				clip_append(&b, target, 200);
			}
			if (nd) {
				buf_puts(&b, target ? "; details: " : "details: ");
				for (size_t i = 0; i < nd && i < 5; i++) {
					json_object *d = json_object_array_get_idx(details, i);
					const char *dc = jstr(d, "code"), *dm = jstr(d, "message"), *dt = jstr(d, "target");
					if (i)
						buf_puts(&b, "; ");
					if (dc) {
						clip_append(&b, dc, 200);
						buf_puts(&b, ": ");
					}
					clip_append(&b, dm ? dm : "(no message)", 500);
					if (dt) {
						buf_puts(&b, " [");
						clip_append(&b, dt, 200);
						buf_putc(&b, ']');
					}
				}
				if (nd > 5)
					buf_printf(&b, "; %zu more", nd - 5);
			}
			buf_putc(&b, ')');
		}
	} else if (body && *body) {
		buf_puts(&b, ": ");
		clip_append(&b, body, 300);
	}
	json_object_put(j);
	if (request_id || correlation_id) {
		buf_puts(&b, " [");
		if (request_id) {
			buf_puts(&b, "x-ms-request-id ");
			clip_append(&b, request_id, 100);
		}
		if (correlation_id) {
			buf_puts(&b, request_id ? ", x-ms-correlation-request-id " : "x-ms-correlation-request-id ");
			clip_append(&b, correlation_id, 100);
		}
		buf_putc(&b, ']');
	}
	return buf_detach(&b);
}

static int ensure_token(arm_client *a, bool refresh, diag_list *diags)
{
	if (a->token.value && !refresh)
		return AML_OK;
	azure_token_clear(&a->token);
	if (refresh)
		azure_auth_reset_cache();
	return azure_auth_token(&a->token, a->http, diags);
}

int arm_request_path(arm_client *a, const char *method, const char *path, json_object *body, unsigned flags,
		     json_object **out, long *status, diag_list *diags)
{
	if (out)
		*out = NULL;
	if (status)
		*status = 0;
	int rc = ensure_token(a, false, diags);
	if (rc)
		return rc;
	char *url = xasprintf("%s%s%sapi-version=%s", a->target.endpoint, path, strchr(path, '?') ? "&" : "?",
			      ARM_API_VERSION);
	/* messages name the request relative to the workspace: "PUT jobs/x" */
	const char *shown = path;
	size_t wl = strlen(a->workspace_id);
	if (!strncmp(path, a->workspace_id, wl))
		shown = path[wl] == '/' ? path + wl + 1 : path[wl] ? path + wl : "workspace";
	char *what = xasprintf("%s %s", method, shown);
	const char *text = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;
	char *client_id = azml_uuid();
	http_response resp = HTTP_RESPONSE_INIT;
	for (int round = 0;; round++) {
		strlist headers = STRLIST_INIT;
		strlist_add_owned(&headers, xasprintf("Authorization: Bearer %s", a->token.value));
		strlist_add(&headers, "Accept: application/json");
		if (text)
			strlist_add(&headers, "Content-Type: application/json");
		strlist_add_owned(&headers, xasprintf("x-ms-client-request-id: %s", client_id));
		http_request req = { method, url, &headers, text, text ? strlen(text) : 0, what, false };
		rc = http_send(a->http, &req, &resp, diags);
		explicit_bzero(headers.items[0], strlen(headers.items[0]));
		strlist_free(&headers);
		if (rc)
			goto done;
		/* an expired token from a source that can give a new one: once more */
		if (resp.status == 401 && round == 0 && a->token.method != AZURE_AUTH_ENV_TOKEN) {
			http_response_free(&resp);
			rc = ensure_token(a, true, diags);
			if (rc)
				goto done;
			continue;
		}
		break;
	}
	if (status)
		*status = resp.status;
	if (resp.status >= 200 && resp.status < 300) {
		if (out && resp.body.len) {
			json_tokener *tok = json_tokener_new();
			json_object *j = json_tokener_parse_ex(tok, resp.body.ptr, (int)resp.body.len);
			bool ok = j && json_tokener_get_error(tok) == json_tokener_success;
			json_tokener_free(tok);
			if (!ok) {
				json_object_put(j);
				rc = diag_error(diags, NULL, 0, 0, NULL, "%s: HTTP %ld with a body that is not JSON", what,
						resp.status);
				goto done;
			}
			*out = j;
		}
		rc = AML_OK;
	} else if (resp.status == 404 && (flags & ARM_ALLOW_404)) {
		rc = AML_ENOTFOUND;
	} else {
		char *msg = arm_error_text(resp.status, resp.body.ptr, http_header(&resp, "x-ms-request-id"),
					   http_header(&resp, "x-ms-correlation-request-id"));
		const char *hint = "";
		if (resp.status == 401)
			hint = azure_auth_detect() == AZURE_AUTH_ENV_TOKEN
				       ? " (the token in AZURE_ACCESS_TOKEN was refused: expired, or for another resource "
					 "than " AZURE_ARM_RESOURCE "?)"
				       : " (the credentials were refused)";
		else if (resp.status == 403)
			hint = " (the identity lacks a role on the workspace, such as AzureML Data Scientist)";
		diag_error(diags, NULL, 0, 0, NULL, "Azure ML: %s: %s%s", what, msg, hint);
		free(msg);
		rc = resp.status == 404 ? AML_ENOTFOUND : AML_ERROR;
	}
done:
	http_response_free(&resp);
	free(client_id);
	free(what);
	free(url);
	return rc;
}

int arm_request(arm_client *a, const char *method, const char *rel, json_object *body, unsigned flags,
		json_object **out, long *status, diag_list *diags)
{
	char *path = xasprintf("%s%s", a->workspace_id, rel ? rel : "");
	int rc = arm_request_path(a, method, path, body, flags, out, status, diags);
	free(path);
	return rc;
}
