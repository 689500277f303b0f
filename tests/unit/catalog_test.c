/* The curated catalog, environment definitions, their canonical form and
 * digest, extends (overlay) and resolution. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "env/catalog.h"
#include "env/envdef.h"
#include "env/resolve.h"
#include "spec/schema.h"
#include "spec/ytree.h"
#include "util/buf.h"
#include "util/fs.h"

#define MINIMAL_36_DIGEST "sha256:cd5318331e6a8e84b338c848db8b284321c1d4366e639df8da2324908c0faac3"

static char *diags_text(diag_list *l)
{
	buf b = BUF_INIT;
	diag_list_sort(l);
	for (size_t i = 0; i < l->count; i++)
		buf_printf(&b, "%s:%u:%u [%s] %s\n", l->items[i].file ? l->items[i].file : "", l->items[i].line,
			   l->items[i].col, l->items[i].path ? l->items[i].path : "", l->items[i].message);
	return buf_detach(&b);
}

/* Loads one catalog file from text into c; returns its diagnostics. */
static char *load_text(catalog *c, const char *text)
{
	diag_list d = DIAG_LIST_INIT;
	catalog_load_text(c, "cat.yaml", text, strlen(text), false, &d);
	char *s = diags_text(&d);
	diag_list_free(&d);
	return s;
}

#define expect_load(c, text, want)                             \
	do {                                                   \
		char *got_ = load_text((c), (text));           \
		assert_string_equal(got_, (want));             \
		free(got_);                                    \
	} while (0)

/* The digest of a definition given as a catalog version body. */
static char *digest_of(const char *body)
{
	catalog c = CATALOG_INIT;
	char *text = xasprintf("name: X\nversions:\n  - version: 1\n%s", body);
	expect_load(&c, text, "");
	char *d = envdef_digest(&c.entries[0].versions[0].def);
	free(text);
	catalog_free(&c);
	return d;
}

/* ---- the built-in catalog ---- */

/* Every built-in file satisfies the catalog schema (the program does not
 * check them again at start-up). */
static void test_builtin_schema(void **state)
{
	(void)state;
	assert_true(catalog_builtin_count >= 15);
	for (size_t i = 0; i < catalog_builtin_count; i++) {
		const catalog_blob *b = &catalog_builtin_files[i];
		ydoc *doc = NULL;
		diag_list d = DIAG_LIST_INIT;
		assert_int_equal(ydoc_parse(&doc, b->name, (const char *)b->data, b->len, NULL, &d), AML_OK);
		assert_non_null(doc->root);
		assert_int_equal(schema_check(&schema_catalog_entry, doc->root, b->name, "", &d), 0);
		assert_int_equal(d.count, 0);
		ydoc_free(doc);
		diag_list_free(&d);
	}
}

static void test_builtin(void **state)
{
	(void)state;
	catalog c = CATALOG_INIT;
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(catalog_load_builtin(&c, &d), AML_OK);
	assert_int_equal(d.count, 0);
	assert_int_equal(c.count, catalog_builtin_count);
	assert_true(c.count >= 15);
	for (size_t i = 0; i + 1 < c.count; i++)
		assert_true(strcmp(c.entries[i].name, c.entries[i + 1].name) < 0);
	for (size_t i = 0; i < c.count; i++) {
		const catalog_entry *e = &c.entries[i];
		assert_true(e->builtin);
		assert_true(e->count >= 1);
		/* each file is named after its entry */
		char *want = xasprintf("<built-in>/environments/%s.yaml", e->name);
		assert_string_equal(e->file, want);
		free(want);
		for (size_t j = 0; j + 1 < e->count; j++)
			assert_true(e->versions[j].version < e->versions[j + 1].version);
		assert_ptr_equal(catalog_entry_latest(e), &e->versions[e->count - 1]);
	}
	const catalog_entry *m = catalog_find(&c, "AzureML-Minimal");
	assert_non_null(m);
	assert_null(catalog_find(&c, "azureml-minimal"));
	const catalog_version *v = catalog_entry_version(m, 36);
	assert_non_null(v);
	assert_null(catalog_entry_version(m, 35));
	assert_string_equal(v->def.python_version, "3.6.2");
	assert_string_equal(v->def.pip_packages.items[0], "azureml-core==1.13.0");
	char *dg = envdef_digest(&v->def);
	assert_string_equal(dg, MINIMAL_36_DIGEST);
	free(dg);
	const catalog_entry *lgb = catalog_find(&c, "AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu");
	assert_int_equal(lgb->count, 2);
	assert_int_equal(catalog_entry_latest(lgb)->version, 11);
	size_t n = 0;
	const char **names = catalog_names(&c, &n);
	assert_int_equal(n, c.count);
	assert_string_equal(names[0], c.entries[0].name);
	assert_null(names[n]);
	free(names);
	catalog_free(&c);
	diag_list_free(&d);
}

static void test_split_ref(void **state)
{
	(void)state;
	long v = -5;
	char *n = catalog_split_ref("AzureML-Minimal@36", &v);
	assert_string_equal(n, "AzureML-Minimal");
	assert_int_equal(v, 36);
	free(n);
	n = catalog_split_ref("AzureML-Minimal", &v);
	assert_string_equal(n, "AzureML-Minimal");
	assert_int_equal(v, 0);
	free(n);
	n = catalog_split_ref("Team.Env-1.2@7", &v);
	assert_string_equal(n, "Team.Env-1.2");
	assert_int_equal(v, 7);
	free(n);
	/* a version that is written but is not a positive integer is not 'latest' */
	const char *bad[] = { "A@0", "A@00", "A@x", "A@", "A@-3", "A@3x", "A@99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = catalog_split_ref(bad[i], &v);
		assert_string_equal(n, "A");
		if (v != -1)
			fail_msg("%s: version %ld", bad[i], v);
		free(n);
	}
}

/* ---- catalog files ---- */

static void test_catalog_file_errors(void **state)
{
	(void)state;
	catalog c = CATALOG_INIT;
	expect_load(&c, "", "cat.yaml:1:1 [] empty catalog file\n");
	expect_load(&c, "name: A\nversions: []\nvesrions: 1\n",
		    "cat.yaml:2:11 [versions] versions: needs at least 1 item\n"
		    "cat.yaml:3:1 [vesrions] vesrions: unknown key (did you mean 'versions'?)\n");
	expect_load(&c, "name: A\nversions:\n  - version: 0\n  - description: x\n",
		    "cat.yaml:3:14 [versions[0].version] versions[0].version: must be at least 1, got 0\n"
		    "cat.yaml:4:5 [versions[1].version] versions[1].version: missing required key\n");
	expect_load(&c, "name: A\nversions:\n  - version: 2\n  - version: 2\n",
		    "cat.yaml:4:14 [versions] versions: version 2 of 'A' is defined twice\n");
	assert_int_equal(c.count, 1);
	expect_load(&c, "name: A\nversions:\n  - version: 3\n",
		    "cat.yaml:1:7 [name] name: environment 'A' is already defined in cat.yaml\n");
	assert_int_equal(c.count, 1);
	expect_load(&c, "name: B\nversions:\n  - version: 1\n    python: {version: 3.8}\n",
		    "cat.yaml:4:23 [versions[0].python.version] versions[0].python.version: expected a string, got number "
		    "3.8; quote it (\"3.8\") to keep it as written\n");
	assert_int_equal(c.count, 1);
	/* versions are YAML 1.2 integers: 010 is ten */
	expect_load(&c, "name: C\nversions:\n  - version: 010\n  - version: 0x10\n", "");
	assert_int_equal(catalog_find(&c, "C")->versions[0].version, 10);
	assert_int_equal(catalog_find(&c, "C")->versions[1].version, 16);
	catalog_free(&c);
}

static void test_catalog_dir(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "b.yaml", "name: Team-B\nversions:\n  - version: 2\n  - version: 1\n");
	tu_write(dir, "a.yml", "name: Team-A\nversions:\n  - version: 1\n");
	tu_write(dir, "notes.txt", "not a catalog file\n");
	tu_write(dir, ".hidden.yaml", "garbage: [\n");
	tu_write(dir, "bad.yaml", "name: Team-C\nversions:\n  - version: 1\n    pyhton: {}\n");
	catalog c = CATALOG_INIT;
	diag_list d = DIAG_LIST_INIT;
	assert_int_equal(catalog_load_dir(&c, dir, "envs", &d), AML_EINVALID);
	char *got = diags_text(&d);
	assert_string_equal(got, "envs/bad.yaml:4:5 [versions[0].pyhton] versions[0].pyhton: unknown key (did you mean "
				 "'python'?)\n");
	free(got);
	assert_int_equal(c.count, 2);
	assert_string_equal(c.entries[0].name, "Team-A");
	assert_string_equal(c.entries[0].file, "envs/a.yml");
	assert_false(c.entries[0].builtin);
	assert_int_equal(c.entries[1].versions[0].version, 1);
	assert_int_equal(c.entries[1].versions[1].version, 2);
	diag_list_free(&d);
	/* a team entry may not reuse a built-in name */
	tu_rmtree(dir);
	tu_write(dir, "m.yaml", "name: AzureML-Minimal\nversions:\n  - version: 99\n");
	catalog_free(&c);
	catalog_load_builtin(&c, &d);
	assert_int_equal(catalog_load_dir(&c, dir, "envs", &d), AML_EINVALID);
	got = diags_text(&d);
	assert_string_equal(got, "envs/m.yaml:1:7 [name] name: environment 'AzureML-Minimal' is already defined in "
				 "<built-in>/environments/AzureML-Minimal.yaml\n");
	free(got);
	diag_list_free(&d);
	/* a folder that is not there */
	assert_int_equal(catalog_load_dir(&c, "/nonexistent", "nope", &d), AML_EIO);
	assert_string_equal(d.items[0].message, "cannot open catalog folder: No such file or directory");
	diag_list_free(&d);
	catalog_free(&c);
	tu_rmtree(dir);
	free(dir);
}

/* ---- digests ---- */

static void test_digest_is_content(void **state)
{
	(void)state;
	const char *body = "    python:\n"
			   "      version: \"3.6.2\"\n"
			   "      channels: [conda-forge]\n"
			   "      conda_packages: [python=3.6.2]\n"
			   "      pip_packages: [azureml-core==1.13.0, azureml-defaults==1.13.0]\n"
			   "    docker:\n"
			   "      base_image: mcr.microsoft.com/azureml/intelmpi2018.3-ubuntu16.04:20200821.v1\n"
			   "    environment_variables:\n"
			   "      EXAMPLE_ENV_VAR: EXAMPLE_VALUE\n";
	/* the same content as AzureML-Minimal@36 under another name and version: the same digest */
	char *d1 = digest_of(body);
	assert_string_equal(d1, MINIMAL_36_DIGEST);
	assert_int_equal(strlen(d1), strlen("sha256:") + 64);
	/* descriptions are labels too */
	char *with_desc = xasprintf("    description: another label\n%s", body);
	char *d2 = digest_of(with_desc);
	assert_string_equal(d1, d2);
	free(with_desc);
	free(d2);
	/* a package version changes it */
	char *changed = xstrdup(body);
	memcpy(strstr(changed, "1.13.0"), "1.14.0", 6);
	d2 = digest_of(changed);
	assert_string_not_equal(d1, d2);
	free(d2);
	free(changed);
	/* package order matters (solvers care) */
	d2 = digest_of("    python:\n      version: \"3.6.2\"\n      channels: [conda-forge]\n"
		       "      conda_packages: [python=3.6.2]\n"
		       "      pip_packages: [azureml-defaults==1.13.0, azureml-core==1.13.0]\n"
		       "    docker:\n      base_image: mcr.microsoft.com/azureml/intelmpi2018.3-ubuntu16.04:20200821.v1\n"
		       "    environment_variables:\n      EXAMPLE_ENV_VAR: EXAMPLE_VALUE\n");
	assert_string_not_equal(d1, d2);
	free(d2);
	free(d1);

	/* variable order does not */
	d1 = digest_of("    environment_variables: {A: \"1\", B: \"2\", C: \"3\"}\n");
	d2 = digest_of("    environment_variables: {C: \"3\", A: \"1\", B: \"2\"}\n");
	assert_string_equal(d1, d2);
	free(d2);
	/* but a value does */
	d2 = digest_of("    environment_variables: {A: \"1\", B: \"2\", C: \"4\"}\n");
	assert_string_not_equal(d1, d2);
	free(d2);
	free(d1);
	/* channel order matters; unset and false booleans are the same */
	d1 = digest_of("    python: {channels: [a, b]}\n");
	d2 = digest_of("    python: {channels: [b, a]}\n");
	assert_string_not_equal(d1, d2);
	free(d2);
	d2 = digest_of("    python: {channels: [a, b], user_managed_dependencies: false}\n    docker: {enabled: false}\n");
	assert_string_equal(d1, d2);
	free(d2);
	d2 = digest_of("    python: {channels: [a, b], user_managed_dependencies: true}\n");
	assert_string_not_equal(d1, d2);
	free(d2);
	free(d1);
}

static void test_canonical_json(void **state)
{
	(void)state;
	envdef e = ENVDEF_INIT;
	e.python_version = xstrdup("3.11");
	strlist_add(&e.pip_packages, "numpy==1.26.4");
	kvlist_set(&e.variables, "Z", "1");
	kvlist_set(&e.variables, "A", "/x/y");
	json_object *o = envdef_to_json(&e);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
			    "{\"python\":{\"version\":\"3.11\",\"user_managed_dependencies\":false,\"interpreter_path\":null,"
			    "\"channels\":[],\"conda_packages\":[],\"pip_packages\":[\"numpy==1.26.4\"]},\"docker\":{"
			    "\"enabled\":false,\"base_image\":null},\"environment_variables\":{\"A\":\"/x/y\",\"Z\":\"1\"}}");
	/* the JSON form reads back to the same digest */
	envdef back;
	assert_int_equal(envdef_from_json(&back, o), 0);
	char *d1 = envdef_digest(&e), *d2 = envdef_digest(&back);
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);
	json_object_put(o);
	/* a copy too */
	envdef copy = ENVDEF_INIT;
	envdef_copy(&copy, &e);
	d1 = envdef_digest(&e);
	d2 = envdef_digest(&copy);
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);
	envdef_free(&copy);
	envdef_free(&back);
	envdef_free(&e);
	json_object *bad = json_object_new_array();
	assert_int_equal(envdef_from_json(&back, bad), -1);
	json_object_put(bad);
	char hex[65];
	sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_package_name(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{ "numpy==1.26.4", "numpy" },       { "Scikit_Learn>=1.0", "scikit-learn" },
		{ "python=3.6.2", "python" },       { "zope.interface", "zope-interface" },
		{ "torch", "torch" },               { "azureml-core~=1.13", "azureml-core" },
		{ "pandas[excel]>=1", "pandas" },   { "pkg @ https://x/y.whl", "pkg" },
		{ "numpy ; python_version<'3.8'", "numpy" },
		/* options and URLs are not packages */
		{ "--extra-index-url https://x", "" }, { "-r requirements.txt", "" },
		{ "git+https://github.com/a/b.git", "" }, { "https://x/y-1.0.whl", "" },
		{ "file:///wheels/z.whl", "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *n = envdef_package_name(cases[i][0]);
		assert_string_equal(n, cases[i][1]);
		free(n);
	}
}

/* ---- extends ---- */

static void test_overlay(void **state)
{
	(void)state;
	envdef base = ENVDEF_INIT, over = ENVDEF_INIT, present = ENVDEF_INIT;
	base.python_version = xstrdup("3.8");
	strlist_add(&base.channels, "conda-forge");
	strlist_add(&base.conda_packages, "python=3.8");
	strlist_add(&base.pip_packages, "azureml-core==1.13.0");
	strlist_add(&base.pip_packages, "NumPy==1.19");
	strlist_add(&base.pip_packages, "pandas==1.1");
	base.base_image = xstrdup("img:1");
	kvlist_set(&base.variables, "A", "base");
	kvlist_set(&base.variables, "B", "base");

	strlist_add(&over.pip_packages, "numpy==1.26.4"); /* same package: replaced where it was */
	strlist_add(&over.pip_packages, "torch==2.1");    /* new: added at the end */
	strlist_add(&over.channels, "pytorch");
	strlist_add(&over.channels, "conda-forge");       /* already there: not repeated */
	kvlist_set(&over.variables, "B", "over");
	kvlist_set(&over.variables, "C", "over");
	over.docker_enabled = true;
	present.docker_enabled = true;
	/* user_managed is not present: the base's value stays even though over's is false */
	base.user_managed = true;

	envdef_overlay(&base, &over, &present);
	assert_string_equal(base.python_version, "3.8");
	assert_int_equal(base.pip_packages.count, 4);
	assert_string_equal(base.pip_packages.items[0], "azureml-core==1.13.0");
	assert_string_equal(base.pip_packages.items[1], "numpy==1.26.4");
	assert_string_equal(base.pip_packages.items[2], "pandas==1.1");
	assert_string_equal(base.pip_packages.items[3], "torch==2.1");
	assert_int_equal(base.channels.count, 2);
	assert_string_equal(base.channels.items[1], "pytorch");
	assert_string_equal(base.conda_packages.items[0], "python=3.8");
	assert_string_equal(kvlist_get(&base.variables, "A"), "base");
	assert_string_equal(kvlist_get(&base.variables, "B"), "over");
	assert_string_equal(kvlist_get(&base.variables, "C"), "over");
	assert_true(base.docker_enabled);
	assert_true(base.user_managed);
	assert_string_equal(base.base_image, "img:1");

	/* options and URLs are never 'the same package' as another one */
	envdef b2 = ENVDEF_INIT, o2 = ENVDEF_INIT;
	strlist_add(&b2.pip_packages, "--extra-index-url https://a");
	strlist_add(&b2.pip_packages, "git+https://github.com/a/x.git");
	strlist_add(&o2.pip_packages, "--extra-index-url https://b");
	strlist_add(&o2.pip_packages, "git+https://github.com/b/y.git");
	envdef_overlay(&b2, &o2, NULL);
	assert_int_equal(b2.pip_packages.count, 4);
	assert_string_equal(b2.pip_packages.items[0], "--extra-index-url https://a");
	assert_string_equal(b2.pip_packages.items[1], "git+https://github.com/a/x.git");
	assert_string_equal(b2.pip_packages.items[2], "--extra-index-url https://b");
	envdef_free(&b2);
	envdef_free(&o2);

	/* scalars replace */
	envdef over2 = ENVDEF_INIT, present2 = ENVDEF_INIT;
	over2.python_version = xstrdup("3.11");
	over2.base_image = xstrdup("img:2");
	over2.interpreter_path = xstrdup("/usr/bin/python3");
	present2.user_managed = true; /* written as false */
	envdef_overlay(&base, &over2, &present2);
	assert_string_equal(base.python_version, "3.11");
	assert_string_equal(base.base_image, "img:2");
	assert_string_equal(base.interpreter_path, "/usr/bin/python3");
	assert_false(base.user_managed);
	/* no `present`: booleans stay */
	over2.docker_enabled = false;
	envdef_overlay(&base, &over2, NULL);
	assert_true(base.docker_enabled);
	envdef_free(&over2);
	envdef_free(&present2);
	envdef_free(&base);
	envdef_free(&over);
	envdef_free(&present);
}

/* ---- resolution ---- */

static void test_resolve(void **state)
{
	(void)state;
	catalog c = CATALOG_INIT;
	diag_list d = DIAG_LIST_INIT;
	catalog_load_builtin(&c, &d);
	resolved_env r;

	assert_int_equal(env_resolve_ref(&r, "AzureML-Minimal@36", &c, &d), AML_OK);
	assert_string_equal(r.label, "AzureML-Minimal@36");
	assert_string_equal(r.curated_name, "AzureML-Minimal");
	assert_int_equal(r.curated_version, 36);
	assert_string_equal(r.digest, MINIMAL_36_DIGEST);
	json_object *o = resolved_env_to_json(&r);
	json_object *dg;
	assert_true(json_object_object_get_ex(o, "digest", &dg));
	assert_string_equal(json_object_get_string(dg), MINIMAL_36_DIGEST);
	json_object_put(o);
	resolved_env_free(&r);

	/* no version: the latest */
	assert_int_equal(env_resolve_ref(&r, "AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu", &c, &d), AML_OK);
	assert_string_equal(r.label, "AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu@11");
	resolved_env_free(&r);

	assert_int_equal(env_resolve_ref(&r, "Nope", &c, &d), AML_EINVALID);
	assert_string_equal(d.items[0].message, "unknown curated environment 'Nope'");
	diag_list_free(&d);
	/* an unknown version lists the ones there are */
	assert_int_equal(env_resolve_ref(&r, "AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu@2", &c, &d), AML_EINVALID);
	assert_string_equal(d.items[0].message, "curated environment 'AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu' has "
						"no version 2 (versions: 1, 11)");
	diag_list_free(&d);
	assert_int_equal(env_resolve_ref(&r, "AzureML-Minimal@0", &c, &d), AML_EINVALID);
	assert_string_equal(d.items[0].message, "curated environment 'AzureML-Minimal' has no version 0 (versions: 36)");
	diag_list_free(&d);

	/* the default environment */
	env_spec es = { 0 };
	es.kind = ENV_DEFAULT;
	assert_int_equal(env_resolve(&r, &es, &c, &d), AML_OK);
	assert_string_equal(r.label, "default (python3 as found, user-managed)");
	assert_true(r.def.user_managed);
	assert_null(r.curated_name);
	resolved_env_free(&r);

	/* inline, extending a curated entry: the overlay of the two */
	es.kind = ENV_INLINE;
	es.ref_name = xstrdup("AzureML-Minimal");
	strlist_add(&es.inline_def.pip_packages, "azureml-core==1.14.0");
	strlist_add(&es.inline_def.pip_packages, "numpy==1.19.5");
	assert_int_equal(env_resolve(&r, &es, &c, &d), AML_OK);
	assert_string_equal(r.label, "inline, extends AzureML-Minimal@36");
	assert_string_equal(r.def.pip_packages.items[0], "azureml-core==1.14.0");
	assert_string_equal(r.def.pip_packages.items[2], "numpy==1.19.5");
	assert_string_not_equal(r.digest, MINIMAL_36_DIGEST);
	/* the same content written out in full has the same digest */
	char *full = envdef_digest(&r.def);
	assert_string_equal(full, r.digest);
	free(full);
	resolved_env_free(&r);
	/* inline without extends */
	free(es.ref_name);
	es.ref_name = NULL;
	assert_int_equal(env_resolve(&r, &es, &c, &d), AML_OK);
	assert_string_equal(r.label, "inline");
	assert_int_equal(r.def.pip_packages.count, 2);
	resolved_env_free(&r);
	envdef_free(&es.inline_def);
	catalog_free(&c);
	diag_list_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin),
		cmocka_unit_test(test_builtin_schema),
		cmocka_unit_test(test_split_ref),
		cmocka_unit_test(test_catalog_file_errors),
		cmocka_unit_test(test_catalog_dir),
		cmocka_unit_test(test_digest_is_content),
		cmocka_unit_test(test_canonical_json),
		cmocka_unit_test(test_package_name),
		cmocka_unit_test(test_overlay),
		cmocka_unit_test(test_resolve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
