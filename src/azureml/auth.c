#include "azureml/auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch/launch.h"
#include "util/buf.h"

static azure_token cache;

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static double now_seconds(void)
{
	return (double)time(NULL);
}

static void wipe(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
}

void azure_token_clear(azure_token *t)
{
	if (t->value) {
		wipe(t->value);
		free(t->value);
	}
	t->value = NULL;
	t->expires_at = 0;
	t->method = AZURE_AUTH_NONE;
}

void azure_auth_reset_cache(void)
{
	azure_token_clear(&cache);
}

static bool have_client_credentials(void)
{
	return env_nonempty("AZURE_TENANT_ID") && env_nonempty("AZURE_CLIENT_ID") && env_nonempty("AZURE_CLIENT_SECRET");
}

azure_auth_method azure_auth_detect(void)
{
	if (env_nonempty("AZURE_ACCESS_TOKEN"))
		return AZURE_AUTH_ENV_TOKEN;
	if (have_client_credentials())
		return AZURE_AUTH_CLIENT_CREDENTIALS;
	char *az = launch_which("az");
	bool found = az != NULL;
	free(az);
	return found ? AZURE_AUTH_AZURE_CLI : AZURE_AUTH_NONE;
}

const char *azure_auth_method_name(azure_auth_method m)
{
	switch (m) {
	case AZURE_AUTH_ENV_TOKEN: return "AZURE_ACCESS_TOKEN";
	case AZURE_AUTH_CLIENT_CREDENTIALS: return "client credentials (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)";
	case AZURE_AUTH_AZURE_CLI: return "the Azure CLI (az account get-access-token)";
	default: return "none";
	}
}

char *azure_auth_none_message(void)
{
	buf b = BUF_INIT;
	buf_puts(&b, "no Azure credentials: amlspec looks for a token for Azure Resource Manager in this order:\n"
		     "  1. AZURE_ACCESS_TOKEN set to a bearer token for " AZURE_ARM_RESOURCE ";\n"
		     "  2. AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET of a service principal "
		     "(client credentials; AZURE_AUTHORITY_HOST for another cloud);\n"
		     "  3. the Azure CLI on PATH, signed in with `az login`.");
	const char *names[] = { "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET" };
	int set = 0;
	for (int i = 0; i < 3; i++)
		set += env_nonempty(names[i]) != NULL;
	if (set > 0 && set < 3) {
		buf_puts(&b, "\n  Only some client credentials are set; missing:");
		for (int i = 0; i < 3; i++)
			if (!env_nonempty(names[i]))
				buf_printf(&b, " %s", names[i]);
		buf_putc(&b, '.');
	}
	return buf_detach(&b);
}

static bool token_text_ok(const char *t)
{
	if (!*t)
		return false;
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return false;
	return true;
}

static int from_env_token(azure_token *out, diag_list *diags)
{
	const char *v = env_nonempty("AZURE_ACCESS_TOKEN");
	/* leading/trailing blanks (a pasted newline) are tolerated */
	while (isspace((unsigned char)*v))
		v++;
	size_t n = strlen(v);
	while (n && isspace((unsigned char)v[n - 1]))
		n--;
	char *t = xstrndup(v, n);
	if (!strncasecmp(t, "Bearer ", 7)) {
		wipe(t);
		free(t);
		return diag_error(diags, NULL, 0, 0, NULL, "AZURE_ACCESS_TOKEN: give the token alone, without 'Bearer '");
	}
	if (!token_text_ok(t)) {
		wipe(t);
		free(t);
		return diag_error(diags, NULL, 0, 0, NULL,
				  "AZURE_ACCESS_TOKEN is set but is not a bearer token (empty, or it has spaces or control "
				  "characters)");
	}
	out->value = t;
	out->expires_at = 0;
	out->method = AZURE_AUTH_ENV_TOKEN;
	return AML_OK;
}

static bool tenant_ok(const char *t)
{
	for (const char *p = t; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
			return false;
	return *t != '\0';
}

static void form_add(buf *b, const char *k, const char *v)
{
	char *ev = http_urlencode(v, false);
	if (b->len)
		buf_putc(b, '&');
	buf_printf(b, "%s=%s", k, ev);
	wipe(ev);
	free(ev);
}

static int from_client_credentials(azure_token *out, http_client *http, diag_list *diags)
{
	const char *tenant = env_nonempty("AZURE_TENANT_ID");
	const char *authority = env_nonempty("AZURE_AUTHORITY_HOST");
	if (!authority)
		authority = AZURE_DEFAULT_AUTHORITY;
	if (!tenant_ok(tenant))
		return diag_error(diags, NULL, 0, 0, NULL,
				  "AZURE_TENANT_ID '%s' is not a tenant id or domain (letters, digits, '-', '.')", tenant);
	const char *why = NULL;
	if (!http_url_allowed(authority, &why))
		return diag_error(diags, NULL, 0, 0, NULL, "AZURE_AUTHORITY_HOST '%s': %s", authority, why);
	size_t alen = strlen(authority);
	while (alen && authority[alen - 1] == '/')
		alen--;
	char *url = xasprintf("%.*s/%s/oauth2/v2.0/token", (int)alen, authority, tenant);
	buf form = BUF_INIT;
	form_add(&form, "grant_type", "client_credentials");
	form_add(&form, "client_id", env_nonempty("AZURE_CLIENT_ID"));
	form_add(&form, "client_secret", env_nonempty("AZURE_CLIENT_SECRET"));
	form_add(&form, "scope", AZURE_ARM_SCOPE);
	strlist headers = STRLIST_INIT;
	strlist_add(&headers, "Content-Type: application/x-www-form-urlencoded");
	strlist_add(&headers, "Accept: application/json");
	http_request req = { "POST", url, &headers, form.ptr, form.len, "token request (client credentials)", false };
	http_response resp = HTTP_RESPONSE_INIT;
	int rc = http_send(http, &req, &resp, diags);
	wipe(form.ptr);
	buf_free(&form);
	strlist_free(&headers);
	if (rc) {
		free(url);
		return rc;
	}
	json_object *j = json_tokener_parse(resp.body.ptr);
	json_object *v;
	if (resp.status == 200 && j && json_object_object_get_ex(j, "access_token", &v) &&
	    json_object_is_type(v, json_type_string) && token_text_ok(json_object_get_string(v))) {
		out->value = xstrdup(json_object_get_string(v));
		double expires_in = 3600;
		if (json_object_object_get_ex(j, "expires_in", &v))
			expires_in = json_object_is_type(v, json_type_string) ? strtod(json_object_get_string(v), NULL)
									       : json_object_get_double(v);
		out->expires_at = now_seconds() + expires_in;
		out->method = AZURE_AUTH_CLIENT_CREDENTIALS;
		rc = AML_OK;
	} else {
		const char *code = NULL, *desc = NULL;
		if (j && json_object_object_get_ex(j, "error", &v) && json_object_is_type(v, json_type_string))
			code = json_object_get_string(v);
		if (j && json_object_object_get_ex(j, "error_description", &v) && json_object_is_type(v, json_type_string))
			desc = json_object_get_string(v);
		char *shown = http_redact_url(url);
		rc = diag_error(diags, NULL, 0, 0, NULL,
				"client credentials (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET) were refused by "
				"%s: HTTP %ld%s%s%s%s",
				shown, resp.status, code ? " " : "", code ? code : "", desc ? ": " : "", desc ? desc : "");
		free(shown);
	}
	json_object_put(j);
	/* the response held the token: wipe it */
	wipe(resp.body.ptr);
	http_response_free(&resp);
	free(url);
	return rc;
}

/* Runs argv, collecting stdout and stderr (each up to max bytes); gives up
 * after timeout seconds. Returns the exit status, or -1. */
static int run_capture(char *const argv[], buf *out, buf *err, size_t max, double timeout)
{
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(po[0]);
		close(po[1]);
		close(pe[0]);
		close(pe[1]);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	struct pollfd fds[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
	int open_fds = 2;
	double deadline = now_seconds() + timeout;
	bool timed_out = false;
	while (open_fds > 0) {
		double left = deadline - now_seconds();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		int n = poll(fds, 2, (int)(left * 1000) + 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char b[4096];
			ssize_t r = read(fds[i].fd, b, sizeof(b));
			if (r <= 0) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
				continue;
			}
			buf *dst = i == 0 ? out : err;
			if (dst->len < max)
				buf_add(dst, b, (size_t)r);
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0)
			close(fds[i].fd);
	if (timed_out)
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (timed_out)
		return -2;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* az prints expiresOn as local time "YYYY-MM-DD HH:MM:SS.ffffff"; newer
 * versions add expires_on as unix seconds. */
static double az_expiry(json_object *j)
{
	json_object *v;
	if (json_object_object_get_ex(j, "expires_on", &v))
		return json_object_is_type(v, json_type_string) ? strtod(json_object_get_string(v), NULL)
							       : json_object_get_double(v);
	if (json_object_object_get_ex(j, "expiresOn", &v) && json_object_is_type(v, json_type_string)) {
		struct tm tm = { 0 };
		const char *end = strptime(json_object_get_string(v), "%Y-%m-%d %H:%M:%S", &tm);
		if (end) {
			tm.tm_isdst = -1;
			time_t t = mktime(&tm);
			if (t != (time_t)-1)
				return (double)t;
		}
	}
	return 0;
}

static int from_azure_cli(azure_token *out, diag_list *diags)
{
	char *az = launch_which("az");
	if (!az)
		return diag_error(diags, NULL, 0, 0, NULL, "the Azure CLI (az) is not on PATH");
	char *const argv[] = { az, "account", "get-access-token", "--resource", AZURE_ARM_RESOURCE, "--output", "json",
			       NULL };
	buf o = BUF_INIT, e = BUF_INIT;
	int st = run_capture(argv, &o, &e, 1 << 20, 120);
	int rc = AML_OK;
	json_object *j = st == 0 ? json_tokener_parse(o.ptr) : NULL;
	json_object *v;
	if (j && json_object_object_get_ex(j, "accessToken", &v) && json_object_is_type(v, json_type_string) &&
	    token_text_ok(json_object_get_string(v))) {
		out->value = xstrdup(json_object_get_string(v));
		out->expires_at = az_expiry(j);
		out->method = AZURE_AUTH_AZURE_CLI;
	} else {
		/* az's own message ("Please run 'az login' ...") says what to do; its
		 * stderr never carries the token */
		char *msg = e.ptr;
		while (*msg && isspace((unsigned char)*msg))
			msg++;
		size_t n = strlen(msg);
		while (n && isspace((unsigned char)msg[n - 1]))
			n--;
		if (n > 600)
			n = 600;
		if (st == -2)
			rc = diag_error(diags, NULL, 0, 0, NULL, "`%s account get-access-token` did not answer within 120 s", az);
		else if (st != 0)
			rc = diag_error(diags, NULL, 0, 0, NULL, "`%s account get-access-token` failed (exit %d)%s%.*s", az, st,
					n ? ": " : "", (int)n, msg);
		else
			rc = diag_error(diags, NULL, 0, 0, NULL,
					"`%s account get-access-token` printed no accessToken (is this az too old?)", az);
	}
	json_object_put(j);
	wipe(o.ptr);
	buf_free(&o);
	buf_free(&e);
	free(az);
	return rc;
}

int azure_auth_token(azure_token *out, http_client *http, diag_list *diags)
{
	azure_token init = { 0 };
	*out = init;
	azure_auth_method m = azure_auth_detect();
	if (cache.value && cache.method == m && (cache.expires_at == 0 || cache.expires_at - 300 > now_seconds())) {
		out->value = xstrdup(cache.value);
		out->expires_at = cache.expires_at;
		out->method = cache.method;
		return AML_OK;
	}
	azure_token_clear(&cache);
	int rc;
	switch (m) {
	case AZURE_AUTH_ENV_TOKEN:
		rc = from_env_token(out, diags);
		break;
	case AZURE_AUTH_CLIENT_CREDENTIALS:
		rc = from_client_credentials(out, http, diags);
		break;
	case AZURE_AUTH_AZURE_CLI:
		rc = from_azure_cli(out, diags);
		break;
	default: {
		char *msg = azure_auth_none_message();
		rc = diag_error(diags, NULL, 0, 0, NULL, "%s", msg);
		free(msg);
		return rc;
	}
	}
	if (rc == AML_OK) {
		cache.value = xstrdup(out->value);
		cache.expires_at = out->expires_at;
		cache.method = out->method;
	}
	return rc;
}
