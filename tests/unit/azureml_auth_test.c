/* azureml auth: the order of the three ways, each way's result, and the
 * message when none works. The Azure CLI is a fake `az` script on PATH. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "azureml/auth.h"
#include "util/fs.h"

static char *dir;      /* a PATH with only what the test puts there */
static char *old_path;

static void clear_env(void)
{
	unsetenv("AZURE_ACCESS_TOKEN");
	unsetenv("AZURE_TENANT_ID");
	unsetenv("AZURE_CLIENT_ID");
	unsetenv("AZURE_CLIENT_SECRET");
	unsetenv("AZURE_AUTHORITY_HOST");
	azure_auth_reset_cache();
}

static int setup(void **state)
{
	(void)state;
	dir = tu_mkdtemp();
	const char *p = getenv("PATH");
	old_path = xstrdup(p ? p : "/usr/bin:/bin");
	setenv("PATH", dir, 1);
	clear_env();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	clear_env();
	setenv("PATH", old_path, 1);
	free(old_path);
	tu_rmtree(dir);
	free(dir);
	return 0;
}

static void fake_az(const char *script)
{
	tu_write(dir, "az", script);
	char *p = fs_join(dir, "az");
	chmod(p, 0755);
	free(p);
}

static void test_order(void **state)
{
	(void)state;
	assert_int_equal(azure_auth_detect(), AZURE_AUTH_NONE);
	fake_az("#!/bin/sh\nexit 1\n");
	assert_int_equal(azure_auth_detect(), AZURE_AUTH_AZURE_CLI);
	/* client credentials need all three variables */
	setenv("AZURE_TENANT_ID", "t", 1);
	setenv("AZURE_CLIENT_ID", "c", 1);
	assert_int_equal(azure_auth_detect(), AZURE_AUTH_AZURE_CLI);
	setenv("AZURE_CLIENT_SECRET", "s", 1);
	assert_int_equal(azure_auth_detect(), AZURE_AUTH_CLIENT_CREDENTIALS);
	/* a token in the environment comes first */
	setenv("AZURE_ACCESS_TOKEN", "tok", 1);
	assert_int_equal(azure_auth_detect(), AZURE_AUTH_ENV_TOKEN);
	/* an empty variable counts as unset */
	setenv("AZURE_ACCESS_TOKEN", "", 1);
	assert_int_equal(azure_auth_detect(), AZURE_AUTH_CLIENT_CREDENTIALS);
	clear_env();
}

static void test_env_token(void **state)
{
	(void)state;
	setenv("AZURE_ACCESS_TOKEN", "  eyJ0eXAi.payload.sig\n", 1);
	azure_token t;
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(azure_auth_token(&t, NULL, &d), AML_OK);
	assert_string_equal(t.value, "eyJ0eXAi.payload.sig");
	assert_int_equal(t.method, AZURE_AUTH_ENV_TOKEN);
	azure_token_clear(&t);
	assert_null(t.value);
	clear_env();
	setenv("AZURE_ACCESS_TOKEN", "Bearer abc", 1);
	assert_int_not_equal(azure_auth_token(&t, NULL, &d), AML_OK);
	assert_non_null(strstr(d.items[0].message, "without 'Bearer '"));
	/* the message never repeats the token */
	assert_null(strstr(d.items[0].message, "abc"));
	diag_list_free(&d);
	clear_env();
	setenv("AZURE_ACCESS_TOKEN", "tok en", 1);
	assert_int_not_equal(azure_auth_token(&t, NULL, &d), AML_OK);
	assert_null(strstr(d.items[0].message, "tok en"));
	diag_list_free(&d);
	clear_env();
}

static void test_azure_cli(void **state)
{
	(void)state;
	/* the arguments must be exactly these: argv, no shell */
	fake_az("#!/bin/sh\n"
		"[ \"$*\" = \"account get-access-token --resource https://management.azure.com/ --output json\" ] || "
		"{ echo \"unexpected: $*\" >&2; exit 3; }\n"
		"echo '{\"accessToken\": \"az-token-123\", \"expiresOn\": \"2099-01-01 00:00:00.000000\", "
		"\"tokenType\": \"Bearer\"}'\n");
	azure_token t;
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(azure_auth_token(&t, NULL, &d), AML_OK);
	assert_string_equal(t.value, "az-token-123");
	assert_int_equal(t.method, AZURE_AUTH_AZURE_CLI);
	assert_true(t.expires_at > 4000000000.0);
	azure_token_clear(&t);
	/* cached: a second call does not run az again */
	fake_az("#!/bin/sh\nexit 9\n");
	assert_int_equal(azure_auth_token(&t, NULL, &d), AML_OK);
	assert_string_equal(t.value, "az-token-123");
	azure_token_clear(&t);
	azure_auth_reset_cache();
	/* az fails: its message is passed on */
	fake_az("#!/bin/sh\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n");
	assert_int_not_equal(azure_auth_token(&t, NULL, &d), AML_OK);
	assert_non_null(strstr(d.items[0].message, "Please run 'az login'"));
	assert_non_null(strstr(d.items[0].message, "exit 1"));
	diag_list_free(&d);
	clear_env();
}

static void test_none(void **state)
{
	(void)state;
	azure_token t;
	diag_list d = DIAG_LIST_INIT;
	assert_int_not_equal(azure_auth_token(&t, NULL, &d), AML_OK);
	const char *m = d.items[0].message;
	assert_non_null(strstr(m, "AZURE_ACCESS_TOKEN"));
	assert_non_null(strstr(m, "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"));
	assert_non_null(strstr(m, "az login"));
	assert_null(strstr(m, "missing"));
	diag_list_free(&d);
	/* partly set client credentials: the message names what is missing */
	setenv("AZURE_CLIENT_ID", "c", 1);
	assert_int_not_equal(azure_auth_token(&t, NULL, &d), AML_OK);
	assert_non_null(strstr(d.items[0].message, "missing: AZURE_TENANT_ID AZURE_CLIENT_SECRET"));
	diag_list_free(&d);
	clear_env();
}

static void test_bad_authority(void **state)
{
	(void)state;
	setenv("AZURE_TENANT_ID", "tenant", 1);
	setenv("AZURE_CLIENT_ID", "c", 1);
	setenv("AZURE_CLIENT_SECRET", "the-secret", 1);
	setenv("AZURE_AUTHORITY_HOST", "http://login.example.com", 1);
	azure_token t;
	diag_list d = DIAG_LIST_INIT;
	assert_int_not_equal(azure_auth_token(&t, NULL, &d), AML_OK);
	assert_non_null(strstr(d.items[0].message, "AZURE_AUTHORITY_HOST"));
	assert_null(strstr(d.items[0].message, "the-secret"));
	diag_list_free(&d);
	setenv("AZURE_AUTHORITY_HOST", "https://login.example.com", 1);
	setenv("AZURE_TENANT_ID", "../../evil", 1);
	assert_int_not_equal(azure_auth_token(&t, NULL, &d), AML_OK);
	assert_non_null(strstr(d.items[0].message, "is not a tenant id"));
	diag_list_free(&d);
	clear_env();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_azure_cli, setup, teardown),
		cmocka_unit_test_setup_teardown(test_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_authority, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
