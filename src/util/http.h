/* http: HTTPS requests done right, over libcurl, for the remote targets.
 *
 * - TLS verification is always on (a CA bundle may be named, verification can
 *   never be switched off); plain http:// is accepted only for loopback hosts
 *   (emulators), and redirects are never followed (a bearer token must not
 *   travel to another host).
 * - Timeouts on connect and on the whole request; a stalled transfer fails.
 * - Retries with exponential backoff on transport errors, 408, 429 and 5xx,
 *   honouring Retry-After (seconds or an HTTP date) and Azure's
 *   retry-after-ms / x-ms-retry-after-ms.
 * - Nothing here prints a header value or a query string: AMLSPEC_HTTP_TRACE=1
 *   shows method, URL (query secrets such as sig= redacted), status and the
 *   request id, never an Authorization header. */
#ifndef AMLSPEC_HTTP_H
#define AMLSPEC_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/diag.h"
#include "util/strlist.h"

typedef struct http_client http_client;

typedef struct http_opts {
	const char *ca_bundle;     /* CA certificates file; NULL: the system store */
	long connect_timeout_s;    /* default 30 */
	long timeout_s;            /* whole request; default 300 */
	int max_attempts;          /* default 5 (so 4 retries) */
	double max_backoff_s;      /* cap on one wait, default 60 */
	double base_backoff_s;     /* first wait without Retry-After, default 1 */
} http_opts;

#define HTTP_OPTS_INIT { NULL, 30, 300, 5, 60.0, 1.0 }

typedef struct http_request {
	const char *method;        /* GET, HEAD, PUT, POST, DELETE */
	const char *url;
	const strlist *headers;    /* "Name: value" lines, or NULL */
	const void *body;          /* NULL: no body */
	size_t body_len;
	const char *what;          /* how messages name the request ("GET jobs/x") */
	bool no_retry;
} http_request;

typedef struct http_response {
	long status;
	buf body;
	kvlist headers;            /* names lowercased; the last one of a name wins */
	int attempts;
} http_response;

#define HTTP_RESPONSE_INIT { 0, BUF_INIT, KVLIST_INIT, 0 }

int http_client_new(http_client **out, const http_opts *opts, diag_list *diags);
void http_client_free(http_client *c);

/* Sends r, retrying as described above. Returns AML_OK when a response came
 * back (whatever its status: the caller judges it), or an error with a
 * diagnostic when none did (transport failure after the retries, a URL that
 * is not allowed). After retries on 429/5xx the last response is returned. */
int http_send(http_client *c, const http_request *r, http_response *out, diag_list *diags);
void http_response_free(http_response *r);
/* Value of a response header (name in any case), or NULL. */
const char *http_header(const http_response *r, const char *name);
/* How many requests the client has sent (attempts included). */
long http_request_count(const http_client *c);

/* Whether url may be used: https://, or http:// to a loopback host
 * (localhost, 127.0.0.0/8, ::1). *why explains a refusal. */
bool http_url_allowed(const char *url, const char **why);
/* The URL with secret query values (sig, token, code, client_secret...) replaced
 * by "REDACTED", for messages. Caller frees. */
char *http_redact_url(const char *url);
/* Percent-encodes everything but unreserved characters (RFC 3986); keep_slash
 * leaves '/' as it is (for blob paths). Caller frees. */
char *http_urlencode(const char *s, bool keep_slash);
/* Seconds to wait before retrying after this response (Retry-After in seconds
 * or as an HTTP date, retry-after-ms, x-ms-retry-after-ms), or -1 if it says
 * nothing. now is the current time (for the date form). */
double http_retry_after(const http_response *r, double now);

#endif
