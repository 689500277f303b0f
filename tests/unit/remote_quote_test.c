/* Quoting for remote shells and ssh options; the ssh argv. The quoting is
 * checked by round trips through real shells: every byte value must come
 * back as it went in. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/remote.h"
#include "util/buf.h"
#include "util/fs.h"

static void test_quote_words(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain", "plain" },
		{ "/usr/bin/python3", "/usr/bin/python3" },
		{ "", "''" },
		{ "a b", "'a b'" },
		{ "it's", "'it'\\''s'" },
		{ "'", "''\\'''" },
		{ "$(id)", "'$(id)'" },
		{ "`id`", "'`id`'" },
		{ "~/x", "'~/x'" },
		{ "=cmd", "'=cmd'" },
		{ "a\nb", "'a\nb'" },
		{ "*", "'*'" },
		{ "x;y", "'x;y'" },
		{ "-n", "-n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf b = BUF_INIT;
		remote_quote(&b, cases[i].in);
		assert_string_equal(b.ptr, cases[i].out);
		buf_free(&b);
	}
	buf b = BUF_INIT;
	const char *argv[] = { "python3", "-c", "print('hi')", NULL };
	remote_quote_argv(&b, argv);
	assert_string_equal(b.ptr, "python3 -c 'print('\\''hi'\\'')'");
	buf_free(&b);
}

/* Every byte 1..255 in one word, plus awkward words, through `sh -c`: the
 * shell must print back exactly what was quoted. */
static void round_trip(const char *shell)
{
	if (access(shell, X_OK) != 0)
		return; /* that shell is not installed here */
	char all[256];
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	const char *words[] = { all, "", " ", "'", "''", "\\", "\"", "$HOME", "a'b\"c$d`e\\f", "\n", "--", "-e", NULL };
	buf script = BUF_INIT;
	buf_puts(&script, "printf '%s\\0'");
	for (size_t i = 0; words[i]; i++) {
		buf_putc(&script, ' ');
		remote_quote(&script, words[i]);
	}
	const char *argv[] = { shell, "-c", script.ptr, NULL };
	buf out = BUF_INIT;
	remote_io io = REMOTE_IO_INIT;
	io.out = &out;
	int status = -1;
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(remote_run_local(&status, argv, &io, &d), AML_OK);
	assert_int_equal(status, 0);
	size_t off = 0;
	for (size_t i = 0; words[i]; i++) {
		assert_true(off < out.len);
		size_t n = strlen(out.ptr + off);
		assert_int_equal(n, strlen(words[i]));
		assert_memory_equal(out.ptr + off, words[i], n);
		off += n + 1;
	}
	assert_int_equal(off, out.len);
	buf_free(&out);
	buf_free(&script);
	diag_list_free(&d);
}

static void test_round_trip_shells(void **state)
{
	(void)state;
	round_trip("/bin/sh");
	round_trip("/bin/bash");
	round_trip("/bin/dash");
	round_trip("/usr/bin/zsh");
}

static void test_ssh_option_value(void **state)
{
	(void)state;
	buf b = BUF_INIT;
	assert_int_equal(remote_ssh_option_value(&b, "/home/a/.ssh/known_hosts"), 0);
	assert_string_equal(b.ptr, "/home/a/.ssh/known_hosts");
	buf_clear(&b);
	assert_int_equal(remote_ssh_option_value(&b, "/home/my keys/100%/id"), 0);
	assert_string_equal(b.ptr, "\"/home/my keys/100%%/id\"");
	buf_clear(&b);
	assert_int_equal(remote_ssh_option_value(&b, "/a\"b"), -1);
	assert_int_equal(remote_ssh_option_value(&b, "/a\\b"), -1);
	assert_int_equal(remote_ssh_option_value(&b, "/a/${HOME}/b"), -1);
	assert_int_equal(remote_ssh_option_value(&b, "/a\nb"), -1);
	buf_free(&b);
}

static bool has_pair(const strlist *l, const char *a, const char *b)
{
	for (size_t i = 0; i + 1 < l->count; i++)
		if (!strcmp(l->items[i], a) && !strcmp(l->items[i + 1], b))
			return true;
	return false;
}

static void test_ssh_argv(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *cm = fs_join(dir, "cm");
	setenv("AMLSPEC_SSH_CONTROL_DIR", cm, 1);
	tu_write(dir, "id key", "not a key\n");
	tu_write(dir, "known_hosts", "\n");
	target_config cfg = { 0 };
	cfg.name = (char *)"box";
	cfg.type = (char *)"ssh";
	char *id = fs_join(dir, "id key");
	char *kh = fs_join(dir, "known_hosts");
	kvlist_set(&cfg.options, "host", "10.0.0.4");
	kvlist_set(&cfg.options, "port", "2222");
	kvlist_set(&cfg.options, "user", "azureuser");
	kvlist_set(&cfg.options, "identity_file", id);
	kvlist_set(&cfg.options, "known_hosts", kh);
	remote_host *h = NULL;
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(remote_host_from_ssh(&h, &cfg, &d), AML_OK);
	assert_true(fs_is_dir(cm));

	strlist argv = STRLIST_INIT;
	const char *words[] = { "python3", "-c", "it's", NULL };
	remote_ssh_argv(&argv, h, words);
	assert_string_equal(argv.items[0], "ssh");
	assert_true(has_pair(&argv, "-o", "BatchMode=yes"));
	assert_true(has_pair(&argv, "-o", "StrictHostKeyChecking=yes"));
	char *khopt = xasprintf("UserKnownHostsFile=%s", kh);
	assert_true(has_pair(&argv, "-o", khopt));
	char *idopt = xasprintf("IdentityFile=\"%s\"", id);
	assert_true(has_pair(&argv, "-o", idopt));
	assert_true(has_pair(&argv, "-o", "ControlMaster=auto"));
	assert_true(has_pair(&argv, "-p", "2222"));
	assert_true(has_pair(&argv, "-l", "azureuser"));
	assert_true(has_pair(&argv, "--", "10.0.0.4"));
	bool cp = false;
	for (size_t i = 0; i < argv.count; i++)
		if (!strncmp(argv.items[i], "ControlPath=", 12)) {
			cp = true;
			assert_true(!strncmp(argv.items[i] + 12, cm, strlen(cm)));
			assert_true(strlen(argv.items[i] + 12) <= 48 + 41);
		}
	assert_true(cp);
	assert_string_equal(argv.items[argv.count - 1], "python3 -c 'it'\\''s'");

	/* another known_hosts: another master */
	char *first_cp = NULL;
	for (size_t i = 0; i < argv.count; i++)
		if (!strncmp(argv.items[i], "ControlPath=", 12))
			first_cp = xstrdup(argv.items[i]);
	tu_write(dir, "other_known_hosts", "\n");
	char *kh2 = fs_join(dir, "other_known_hosts");
	kvlist_set(&cfg.options, "known_hosts", kh2);
	remote_host *h2 = NULL;
	assert_int_equal(remote_host_from_ssh(&h2, &cfg, &d), AML_OK);
	strlist argv2 = STRLIST_INIT;
	remote_ssh_argv(&argv2, h2, NULL);
	for (size_t i = 0; i < argv2.count; i++)
		if (!strncmp(argv2.items[i], "ControlPath=", 12))
			assert_string_not_equal(argv2.items[i], first_cp);
	assert_string_equal(argv2.items[argv2.count - 1], "10.0.0.4");

	free(first_cp);
	free(kh2);
	strlist_free(&argv2);
	remote_host_free(h2);
	free(khopt);
	free(idopt);
	strlist_free(&argv);
	remote_host_free(h);
	free(id);
	free(kh);
	kvlist_free(&cfg.options);
	diag_list_free(&d);
	unsetenv("AMLSPEC_SSH_CONTROL_DIR");
	tu_rmtree(dir);
	free(cm);
	free(dir);
}

static void test_host_refusals(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *cm = fs_join(dir, "cm");
	setenv("AMLSPEC_SSH_CONTROL_DIR", cm, 1);
	target_config cfg = { 0 };
	cfg.name = (char *)"box";
	cfg.type = (char *)"ssh";
	kvlist_set(&cfg.options, "host", "-oProxyCommand=x");
	kvlist_set(&cfg.options, "known_hosts", "/nonexistent/known_hosts");
	remote_host *h = NULL;
	diag_list d = DIAG_LIST_INIT;
	assert_int_not_equal(remote_host_from_ssh(&h, &cfg, &d), AML_OK);
	assert_null(h);
	assert_int_equal(d.errors, 2);
	assert_non_null(strstr(d.items[0].message, "not a host name"));
	assert_non_null(strstr(d.items[1].message, "known_hosts /nonexistent/known_hosts does not exist"));
	diag_list_free(&d);
	kvlist_free(&cfg.options);

	/* a control folder that is not private is refused */
	fs_mkdirs(cm, 0755);
	chmod(cm, 0755);
	char *out = NULL;
	assert_int_not_equal(remote_control_dir(&out, &d), AML_OK);
	assert_non_null(strstr(d.items[0].message, "mode 0700"));
	diag_list_free(&d);
	unsetenv("AMLSPEC_SSH_CONTROL_DIR");
	tu_rmtree(dir);
	free(cm);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_words),
		cmocka_unit_test(test_round_trip_shells),
		cmocka_unit_test(test_ssh_option_value),
		cmocka_unit_test(test_ssh_argv),
		cmocka_unit_test(test_host_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
