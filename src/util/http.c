#include "util/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util/dynlib.h"

struct http_client {
	CURL *curl;
	http_opts opts;
	char *ca_bundle;
	long requests;
	bool trace;
};

/* libcurl is opened on first use (util/dynlib.h says why), and only the
 * Azure ML target speaks HTTP. The pointers take their types from curl.h,
 * so every call is still checked by the compiler; they are named without
 * the curl_ prefix because curl.h makes curl_easy_setopt a macro. Unlike
 * libgit2, libcurl missing is an error of the command that needs it, not
 * the end of the program. */
#define CURL_FUNCTIONS(X)                                                                                     \
	X(global_init) X(easy_init) X(easy_cleanup) X(easy_reset) X(easy_setopt) X(easy_perform)             \
	X(easy_getinfo) X(easy_strerror) X(free) X(getdate) X(slist_append) X(slist_free_all) X(url)         \
	X(url_cleanup) X(url_get) X(url_set)
static struct {
#define DECLARE(n) __typeof__(curl_##n) *n;
	CURL_FUNCTIONS(DECLARE)
#undef DECLARE
} cu;

static bool resolve_curl(void *h, char *why, size_t len)
{
#define RESOLVE(n) DYNLIB_RESOLVE(cu, "curl_", n, AMLSPEC_CURL_SONAME)
	CURL_FUNCTIONS(RESOLVE)
#undef RESOLVE
	if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(why, len, "cannot initialise libcurl");
		return false;
	}
	return true;
}

static dynlib curl_lib = DYNLIB_INIT(AMLSPEC_CURL_SONAME, "libcurl4", resolve_curl);

/* Loads libcurl once; on failure *why says why. */
static bool curl_load(const char **why)
{
	if (dynlib_load(&curl_lib))
		return true;
	*why = curl_lib.why;
	return false;
}

static void sleep_seconds(double s)
{
	if (s <= 0)
		return;
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int http_client_new(http_client **out, const http_opts *opts, diag_list *diags)
{
	*out = NULL;
	const char *why = NULL;
	if (!curl_load(&why))
		return diag_error(diags, NULL, 0, 0, NULL, "%s", why);
	http_client *c = xcalloc(1, sizeof(*c));
	http_opts defaults = HTTP_OPTS_INIT;
	c->opts = opts ? *opts : defaults;
	if (c->opts.connect_timeout_s <= 0)
		c->opts.connect_timeout_s = defaults.connect_timeout_s;
	if (c->opts.max_attempts <= 0)
		c->opts.max_attempts = defaults.max_attempts;
	if (c->opts.max_backoff_s <= 0)
		c->opts.max_backoff_s = defaults.max_backoff_s;
	if (c->opts.base_backoff_s <= 0)
		c->opts.base_backoff_s = defaults.base_backoff_s;
	if (c->opts.ca_bundle) {
		c->ca_bundle = xstrdup(c->opts.ca_bundle);
		c->opts.ca_bundle = c->ca_bundle;
	}
	c->curl = cu.easy_init();
	if (!c->curl) {
		free(c->ca_bundle);
		free(c);
		return diag_error(diags, NULL, 0, 0, NULL, "cannot create a libcurl handle");
	}
	const char *t = getenv("AMLSPEC_HTTP_TRACE");
	c->trace = t && *t && strcmp(t, "0");
	*out = c;
	return AML_OK;
}

void http_client_free(http_client *c)
{
	if (!c)
		return;
	cu.easy_cleanup(c->curl);
	free(c->ca_bundle);
	free(c);
}

long http_request_count(const http_client *c)
{
	return c ? c->requests : 0;
}

void http_response_free(http_response *r)
{
	buf_free(&r->body);
	kvlist_free(&r->headers);
	r->status = 0;
}

const char *http_header(const http_response *r, const char *name)
{
	for (size_t i = 0; i < r->headers.count; i++)
		if (!strcasecmp(r->headers.items[i].key, name))
			return r->headers.items[i].value;
	return NULL;
}

static bool loopback_host(const char *host)
{
	if (!host)
		return false;
	if (!strcasecmp(host, "localhost") || !strcmp(host, "[::1]") || !strcmp(host, "::1"))
		return true;
	struct in_addr a;
	if (inet_pton(AF_INET, host, &a) == 1)
		return (ntohl(a.s_addr) >> 24) == 127;
	return false;
}

bool http_url_allowed(const char *url, const char **why)
{
	static const char *const bad = "not a valid http(s) URL";
	const char *reason = NULL;
	if (!curl_load(why ? why : &(const char *){ NULL }))
		return false;
	CURLU *u = cu.url();
	char *scheme = NULL, *host = NULL;
	if (!u || cu.url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    cu.url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    cu.url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		reason = bad;
	} else if (!strcasecmp(scheme, "https")) {
		reason = NULL;
	} else if (!strcasecmp(scheme, "http")) {
		if (!loopback_host(host))
			reason = "plain http:// is accepted only for loopback hosts (an emulator); use https://";
	} else {
		reason = "only https:// URLs are accepted (http:// for loopback emulators)";
	}
	cu.free(scheme);
	cu.free(host);
	cu.url_cleanup(u);
	if (why)
		*why = reason;
	return reason == NULL;
}

static bool secret_param(const char *name, size_t len)
{
	static const char *const names[] = { "sig", "token", "access_token", "code", "client_secret", "password",
					     "key", "se", "skoid", "sktid" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && !strncasecmp(names[i], name, len))
			return true;
	return false;
}

char *http_redact_url(const char *url)
{
	buf b = BUF_INIT;
	const char *q = strchr(url, '?');
	if (!q) {
		buf_puts(&b, url);
		return buf_detach(&b);
	}
	buf_add(&b, url, (size_t)(q - url) + 1);
	const char *p = q + 1;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', seg);
		if (eq && secret_param(p, (size_t)(eq - p))) {
			buf_add(&b, p, (size_t)(eq - p) + 1);
			buf_puts(&b, "REDACTED");
		} else {
			buf_add(&b, p, seg);
		}
		p += seg;
		if (*p == '&') {
			buf_putc(&b, '&');
			p++;
		}
	}
	return buf_detach(&b);
}

char *http_urlencode(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	buf b = BUF_INIT;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/')) {
			buf_putc(&b, (char)*p);
		} else {
			buf_putc(&b, '%');
			buf_putc(&b, hex[*p >> 4]);
			buf_putc(&b, hex[*p & 15]);
		}
	}
	return buf_detach(&b);
}

double http_retry_after(const http_response *r, double now)
{
	const char *v;
	if ((v = http_header(r, "retry-after-ms")) || (v = http_header(r, "x-ms-retry-after-ms"))) {
		char *end;
		double ms = strtod(v, &end);
		if (end != v && ms >= 0)
			return ms / 1000.0;
	}
	if ((v = http_header(r, "retry-after"))) {
		char *end;
		double s = strtod(v, &end);
		while (end && isspace((unsigned char)*end))
			end++;
		if (end != v && *end == '\0' && s >= 0)
			return s;
		time_t t = cu.getdate(v, NULL);
		if (t != (time_t)-1)
			return (double)t > now ? (double)t - now : 0.0;
	}
	return -1;
}

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
	buf_add((buf *)user, data, size * n);
	return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
	kvlist *h = user;
	size_t len = size * n;
	const char *colon = memchr(data, ':', len);
	if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
		/* a new response (after 100 Continue, for instance): start over */
		kvlist_free(h);
		kvlist init = KVLIST_INIT;
		*h = init;
		return len;
	}
	if (!colon)
		return len;
	char *name = xstrndup(data, (size_t)(colon - data));
	for (char *p = name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	const char *v = colon + 1, *end = data + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	char *value = xstrndup(v, (size_t)(end - v));
	kvlist_set(h, name, value);
	free(name);
	free(value);
	return len;
}

static bool retryable_status(long s)
{
	return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static bool retryable_curl(CURLcode e)
{
	switch (e) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static double backoff(const http_client *c, int attempt)
{
	double b = c->opts.base_backoff_s;
	for (int i = 1; i < attempt; i++)
		b *= 2;
	/* up to 20% jitter so that many clients do not retry in step */
	b *= 1.0 + (double)(random() % 200) / 1000.0;
	return b > c->opts.max_backoff_s ? c->opts.max_backoff_s : b;
}

static void trace_line(const http_client *c, const http_request *r, long status, const http_response *resp,
		       const char *err, int attempt)
{
	if (!c->trace)
		return;
	char *shown = http_redact_url(r->url);
	const char *rid = resp ? http_header(resp, "x-ms-request-id") : NULL;
	if (err)
		fprintf(stderr, "http: %s %s -> %s (attempt %d)\n", r->method, shown, err, attempt);
	else
		fprintf(stderr, "http: %s %s -> %ld%s%s (attempt %d)\n", r->method, shown, status,
			rid ? ", x-ms-request-id " : "", rid ? rid : "", attempt);
	free(shown);
}

int http_send(http_client *c, const http_request *r, http_response *out, diag_list *diags)
{
	http_response init = HTTP_RESPONSE_INIT;
	*out = init;
	const char *what = r->what ? r->what : r->method;
	const char *why = NULL;
	if (!http_url_allowed(r->url, &why)) {
		char *shown = http_redact_url(r->url);
		int rc = diag_error(diags, NULL, 0, 0, NULL, "%s: refusing %s: %s", what, shown, why);
		free(shown);
		return rc;
	}
	static bool seeded;
	if (!seeded) {
		srandom((unsigned)time(NULL) ^ (unsigned)getpid());
		seeded = true;
	}
	CURL *h = c->curl;
	char errbuf[CURL_ERROR_SIZE];
	for (int attempt = 1;; attempt++) {
		cu.easy_reset(h);
		buf_clear(&out->body);
		kvlist_free(&out->headers);
		kvlist empty = KVLIST_INIT;
		out->headers = empty;
		out->status = 0;
		errbuf[0] = '\0';
		struct curl_slist *hl = NULL;
		if (r->headers)
			for (size_t i = 0; i < r->headers->count; i++)
				hl = cu.slist_append(hl, r->headers->items[i]);
		hl = cu.slist_append(hl, "Expect:");
		if (!r->body)
			hl = cu.slist_append(hl, "Content-Type:");
		cu.easy_setopt(h, CURLOPT_URL, r->url);
		cu.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		cu.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
		cu.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
		cu.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
		if (c->opts.ca_bundle)
			cu.easy_setopt(h, CURLOPT_CAINFO, c->opts.ca_bundle);
		cu.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->opts.connect_timeout_s);
		if (c->opts.timeout_s > 0)
			cu.easy_setopt(h, CURLOPT_TIMEOUT, c->opts.timeout_s);
		/* a transfer slower than 1 byte/s for a minute has stalled */
		cu.easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		cu.easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
		cu.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		cu.easy_setopt(h, CURLOPT_USERAGENT, "amlspec/" AMLSPEC_VERSION);
		cu.easy_setopt(h, CURLOPT_HTTPHEADER, hl);
		cu.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		cu.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
		cu.easy_setopt(h, CURLOPT_WRITEDATA, &out->body);
		cu.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
		cu.easy_setopt(h, CURLOPT_HEADERDATA, &out->headers);
		if (!strcmp(r->method, "HEAD")) {
			cu.easy_setopt(h, CURLOPT_NOBODY, 1L);
		} else if (!strcmp(r->method, "GET")) {
			cu.easy_setopt(h, CURLOPT_HTTPGET, 1L);
		} else {
			cu.easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
			cu.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->body ? r->body_len : 0));
			cu.easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
		}
		c->requests++;
		out->attempts = attempt;
		CURLcode e = cu.easy_perform(h);
		cu.slist_free_all(hl);
		bool last = r->no_retry || attempt >= c->opts.max_attempts;
		if (e != CURLE_OK) {
			const char *msg = errbuf[0] ? errbuf : cu.easy_strerror(e);
			trace_line(c, r, 0, NULL, msg, attempt);
			if (!last && retryable_curl(e)) {
				sleep_seconds(backoff(c, attempt));
				continue;
			}
			char *shown = http_redact_url(r->url);
			diag_error(diags, NULL, 0, 0, NULL, "%s: %s failed: %s%s", what, shown, msg,
				   attempt > 1 ? " (after retries)" : "");
			free(shown);
			http_response_free(out);
			return AML_EIO;
		}
		cu.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
		trace_line(c, r, out->status, out, NULL, attempt);
		if (!last && retryable_status(out->status)) {
			double wait = http_retry_after(out, now_seconds());
			if (wait < 0)
				wait = backoff(c, attempt);
			if (wait > 600)
				wait = 600; /* ARM documents Retry-After up to 600 s */
			sleep_seconds(wait);
			continue;
		}
		return AML_OK;
	}
}
