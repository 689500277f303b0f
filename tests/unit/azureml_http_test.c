/* http and ARM helpers: which URLs may be used, redaction of secrets in
 * messages, Retry-After, and ARM error bodies turned into messages. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azureml/arm.h"
#include "util/http.h"

static void test_url_allowed(void **state)
{
	(void)state;
	const char *why = NULL;
	assert_true(http_url_allowed("https://management.azure.com", &why));
	assert_null(why);
	assert_true(http_url_allowed("https://acct.blob.core.windows.net/c/p?sv=1&sig=x", &why));
	assert_true(http_url_allowed("http://127.0.0.1:8080/x", &why));
	assert_true(http_url_allowed("http://127.5.6.7/x", &why));
	assert_true(http_url_allowed("http://localhost:1/", &why));
	assert_true(http_url_allowed("http://[::1]:99/", &why));
	assert_false(http_url_allowed("http://management.azure.com", &why));
	assert_non_null(strstr(why, "loopback"));
	assert_false(http_url_allowed("http://127.evil.example/", &why));
	assert_false(http_url_allowed("http://10.0.0.1/", &why));
	assert_false(http_url_allowed("ftp://127.0.0.1/", &why));
	assert_false(http_url_allowed("file:///etc/passwd", &why));
	assert_false(http_url_allowed("not a url", &why));
}

static void test_redact(void **state)
{
	(void)state;
	char *r = http_redact_url("https://a.blob.core.windows.net/c/x?sv=2021-12-02&sr=c&sig=SECRET%2B&se=2030&sp=rw");
	assert_string_equal(r, "https://a.blob.core.windows.net/c/x?sv=2021-12-02&sr=c&sig=REDACTED&se=REDACTED&sp=rw");
	assert_null(strstr(r, "SECRET"));
	free(r);
	r = http_redact_url("https://x/y");
	assert_string_equal(r, "https://x/y");
	free(r);
	r = http_redact_url("https://x/y?api-version=2023-04-01&token=abc&client_secret=s");
	assert_string_equal(r, "https://x/y?api-version=2023-04-01&token=REDACTED&client_secret=REDACTED");
	free(r);
}

static void test_urlencode(void **state)
{
	(void)state;
	char *e = http_urlencode("a b/c+d=é", false);
	assert_string_equal(e, "a%20b%2Fc%2Bd%3D%C3%A9");
	free(e);
	e = http_urlencode("dir/sub dir/f.py", true);
	assert_string_equal(e, "dir/sub%20dir/f.py");
	free(e);
	e = http_urlencode("AZaz09-_.~", false);
	assert_string_equal(e, "AZaz09-_.~");
	free(e);
}

static double retry_after(const char *name, const char *value, double now)
{
	http_response r = HTTP_RESPONSE_INIT;
	if (name)
		kvlist_set(&r.headers, name, value);
	double s = http_retry_after(&r, now);
	http_response_free(&r);
	return s;
}

static void test_retry_after(void **state)
{
	(void)state;
	assert_true(retry_after(NULL, NULL, 0) < 0);
	assert_true(retry_after("retry-after", "3", 0) == 3.0);
	assert_true(retry_after("retry-after", " 7 ", 0) == 7.0);
	assert_true(retry_after("retry-after-ms", "250", 0) == 0.25);
	assert_true(retry_after("x-ms-retry-after-ms", "1500", 0) == 1.5);
	/* the HTTP-date form: seconds from now, never negative */
	double now = 1700000000.0; /* 2023-11-14T22:13:20Z */
	assert_true(retry_after("retry-after", "Tue, 14 Nov 2023 22:13:30 GMT", now) == 10.0);
	assert_true(retry_after("retry-after", "Tue, 14 Nov 2023 22:00:00 GMT", now) == 0.0);
	assert_true(retry_after("retry-after", "soon", now) < 0);
}

static void test_arm_error_text(void **state)
{
	(void)state;
	const char *body = "{\"error\": {\"code\": \"UserError\", \"message\": \"The job definition is invalid.\", "
			   "\"details\": [{\"code\": \"NotFound\", \"message\": \"compute x does not exist\", "
			   "\"target\": \"computeId\"}, {\"code\": \"Invalid\", \"message\": \"bad\\nline\"}]}}";
	char *m = arm_error_text(400, body, "req-1", "corr-2");
	assert_string_equal(m, "HTTP 400 UserError: The job definition is invalid. (details: NotFound: compute x does not "
			       "exist [computeId]; Invalid: bad line) [x-ms-request-id req-1, "
			       "x-ms-correlation-request-id corr-2]");
	free(m);
	m = arm_error_text(409, "{\"error\": {\"code\": \"Conflict\", \"message\": \"exists\", \"target\": \"name\"}}",
			   NULL, "c");
	assert_string_equal(m, "HTTP 409 Conflict: exists (target name) [x-ms-correlation-request-id c]");
	free(m);
	m = arm_error_text(502, "<html>Bad Gateway</html>", "r", NULL);
	assert_string_equal(m, "HTTP 502: <html>Bad Gateway</html> [x-ms-request-id r]");
	free(m);
	m = arm_error_text(500, "", NULL, NULL);
	assert_string_equal(m, "HTTP 500");
	free(m);
	/* control characters never reach the terminal */
	m = arm_error_text(400, "{\"error\": {\"code\": \"X\", \"message\": \"a\\u001b[31mb\"}}", NULL, NULL);
	assert_null(strchr(m, '\033'));
	free(m);
}

static void test_uuid(void **state)
{
	(void)state;
	char *a = azml_uuid(), *b = azml_uuid();
	assert_int_equal(strlen(a), 36);
	assert_int_equal(a[14], '4');
	assert_true(strchr("89ab", a[19]) != NULL);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

/* A request to a URL that is not allowed fails before anything is sent. */
static void test_send_refused(void **state)
{
	(void)state;
	http_client *c = NULL;
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(http_client_new(&c, NULL, &d), AML_OK);
	http_request req = { "GET", "http://example.com/x?sig=SECRET", NULL, NULL, 0, "GET x", false };
	http_response resp = HTTP_RESPONSE_INIT;
	assert_int_not_equal(http_send(c, &req, &resp, &d), AML_OK);
	assert_int_equal(http_request_count(c), 0);
	assert_int_equal(d.errors, 1);
	assert_non_null(strstr(d.items[0].message, "loopback"));
	assert_null(strstr(d.items[0].message, "SECRET"));
	http_response_free(&resp);
	diag_list_free(&d);
	http_client_free(c);
}

/* Nothing listens on the port: the error says so, after the retries. */
static void test_send_unreachable(void **state)
{
	(void)state;
	http_opts o = HTTP_OPTS_INIT;
	o.max_attempts = 2;
	o.base_backoff_s = 0.01;
	o.connect_timeout_s = 2;
	http_client *c = NULL;
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(http_client_new(&c, &o, &d), AML_OK);
	http_request req = { "GET", "http://127.0.0.1:1/x", NULL, NULL, 0, "GET x", false };
	http_response resp = HTTP_RESPONSE_INIT;
	assert_int_equal(http_send(c, &req, &resp, &d), AML_EIO);
	assert_int_equal(http_request_count(c), 2);
	assert_non_null(strstr(d.items[0].message, "after retries"));
	http_response_free(&resp);
	diag_list_free(&d);
	http_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_allowed),   cmocka_unit_test(test_redact),
		cmocka_unit_test(test_urlencode),     cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_arm_error_text), cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_send_refused),  cmocka_unit_test(test_send_unreachable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
