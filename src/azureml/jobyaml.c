#include "azureml/jobyaml.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azureml/body.h"
#include "spec/ytree.h"
#include "util/fs.h"

/* ---------------------------------------------------------------- export */

static void put_key(buf *b, int indent, const char *key)
{
	buf_printf(b, "%*s", indent, "");
	azml_yaml_scalar(b, key);
	buf_puts(b, ":");
}

static void put_kv(buf *b, int indent, const char *key, const char *value)
{
	put_key(b, indent, key);
	buf_putc(b, ' ');
	azml_yaml_scalar(b, value);
	buf_putc(b, '\n');
}

static void put_map(buf *b, int indent, const char *key, const kvlist *l)
{
	if (!l->count)
		return;
	put_key(b, indent, key);
	buf_putc(b, '\n');
	for (size_t i = 0; i < l->count; i++)
		put_kv(b, indent + 2, l->items[i].key, l->items[i].value);
}

static void put_indented(buf *b, int indent, const char *text)
{
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n)
			buf_printf(b, "%*s%.*s\n", indent, "", (int)n, p);
		p += n + (nl ? 1 : 0);
	}
}

void azml_export_job_yaml(buf *out, const run_spec *spec, const resolved_env *env, const azml_target *t,
			  json_object *properties)
{
	buf_puts(out, "$schema: " AZML_JOB_SCHEMA_URL "\n");
	buf_puts(out, "type: command\n");
	put_kv(out, 0, "experiment_name", spec->experiment);
	put_kv(out, 0, "display_name", spec->name);
	if (spec->description)
		put_kv(out, 0, "description", spec->description);
	put_map(out, 0, "tags", &spec->tags);
	if (properties && json_object_object_length(properties)) {
		kvlist props = KVLIST_INIT;
		json_object_object_foreach(properties, k, v) {
			if (json_object_is_type(v, json_type_string))
				kvlist_set(&props, k, json_object_get_string(v));
		}
		put_map(out, 0, "properties", &props);
		kvlist_free(&props);
	}
	put_kv(out, 0, "code", spec->source_directory ? spec->source_directory : ".");
	char *cmd = azml_command_line(spec, &env->def);
	put_kv(out, 0, "command", cmd);
	free(cmd);
	if (azml_env_is_curated(spec, env)) {
		char *ref = t->curated_form == AZML_CURATED_WORKSPACE
				    ? xasprintf("azureml:%s:%ld", env->curated_name, env->curated_version)
				    : azml_curated_environment_id(t, env->curated_name, env->curated_version);
		put_kv(out, 0, "environment", ref);
		free(ref);
	} else {
		buf_puts(out, "environment:\n");
		put_kv(out, 2, "image", azml_env_image(&env->def));
		char *conda = azml_conda_yaml(&env->def);
		if (conda) {
			buf_puts(out, "  conda_file:\n");
			put_indented(out, 4, conda);
			free(conda);
		}
	}
	kvlist vars = KVLIST_INIT;
	azml_job_variables(&vars, spec, azml_env_is_curated(spec, env) ? NULL : &env->def);
	put_map(out, 0, "environment_variables", &vars);
	kvlist_free(&vars);
	char *compute = xasprintf("azureml:%s", t->compute);
	put_kv(out, 0, "compute", compute);
	free(compute);
	buf_printf(out, "resources:\n  instance_count: %ld\n", spec->node_count);
	if (t->instance_type)
		put_kv(out, 2, "instance_type", t->instance_type);
	switch (spec->framework) {
	case FW_MPI:
	case FW_PYTORCH:
		buf_printf(out, "distribution:\n  type: %s\n  process_count_per_instance: %ld\n",
			   spec->framework == FW_MPI ? "mpi" : "pytorch", spec->process_count_per_node);
		break;
	case FW_TENSORFLOW:
		buf_printf(out, "distribution:\n  type: tensorflow\n  worker_count: %ld\n  parameter_server_count: 0\n",
			   spec->node_count * spec->process_count_per_node);
		break;
	default:
		break;
	}
	buf_printf(out, "limits:\n  timeout: %lld\n", spec->timeout_seconds);
}

/* ---------------------------------------------------------------- import */

typedef struct importer {
	const char *display;
	const char *job_dir;
	workspace *ws;
	diag_list *diags;
	ydoc *doc;
	int errors;
} importer;

static void warn(importer *im, const ynode *n, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void warn(importer *im, const ynode *n, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_addv(im->diags, DIAG_WARNING, im->display, n ? n->line : 0, n ? n->col : 0, path, fmt, ap);
	va_end(ap);
}

static int fail(importer *im, const ynode *n, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(importer *im, const ynode *n, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_addv(im->diags, DIAG_ERROR, im->display, n ? n->line : 0, n ? n->col : 0, path, fmt, ap);
	va_end(ap);
	im->errors++;
	return AML_EINVALID;
}

static const char *scalar(const ynode *n)
{
	return n && n->kind == YN_SCALAR && n->stype != YS_NULL ? n->value : NULL;
}

/* Names in a spec: ^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$ */
static char *sanitize_name(const char *s)
{
	buf b = BUF_INIT;
	for (const char *p = s; *p && b.len < 255; p++) {
		char c = *p;
		if (isalnum((unsigned char)c) || ((c == '_' || c == '-') && b.len))
			buf_putc(&b, c);
		else if (b.len && b.ptr[b.len - 1] != '-')
			buf_putc(&b, '-');
	}
	while (b.len && b.ptr[b.len - 1] == '-')
		b.len--, b.ptr[b.len] = '\0';
	if (!b.len)
		buf_puts(&b, "job");
	return buf_detach(&b);
}

typedef struct spec_out {
	char *experiment, *name, *description;
	kvlist tags;
	char *source_directory;
	char *script;
	strlist arguments;
	strlist command;
	/* environment */
	char *env_ref;            /* curated NAME[@VER] */
	bool env_inline;
	char *python_version;
	bool user_managed;
	strlist channels, conda_packages, pip_packages;
	char *base_image;
	kvlist env_vars_inline;
	kvlist variables;
	char *target;
	char *framework;
	long node_count, per_node;
	long long timeout;
} spec_out;

static void spec_out_free(spec_out *s)
{
	free(s->experiment);
	free(s->name);
	free(s->description);
	kvlist_free(&s->tags);
	free(s->source_directory);
	free(s->script);
	strlist_free(&s->arguments);
	strlist_free(&s->command);
	free(s->env_ref);
	free(s->python_version);
	strlist_free(&s->channels);
	strlist_free(&s->conda_packages);
	strlist_free(&s->pip_packages);
	free(s->base_image);
	kvlist_free(&s->env_vars_inline);
	kvlist_free(&s->variables);
	free(s->target);
	free(s->framework);
}

static void string_map(importer *im, const ynode *n, const char *key, kvlist *out)
{
	if (!n)
		return;
	if (n->kind != YN_MAP) {
		warn(im, n, key, "%s: not a mapping; not carried over", key);
		return;
	}
	for (size_t i = 0; i < n->count; i++) {
		const ynode *k = ynode_map_key(n, i), *v = ynode_map_value(n, i);
		if (v->kind != YN_SCALAR) {
			warn(im, v, key, "%s.%s: not a scalar; not carried over", key, k->value);
			continue;
		}
		kvlist_set(out, k->value, v->stype == YS_NULL ? "" : v->value);
	}
}

/* ${{inputs.x}} and ${{outputs.y}} in the command, replaced by what the run
 * will see: literal inputs by their value, data inputs by their path (with a
 * warning: amlspec does not mount or download them). */
static int substitute(importer *im, const ynode *cmd, const ynode *inputs, strlist *used, buf *out)
{
	const char *s = cmd->value;
	for (const char *p = s; *p;) {
		const char *open = strstr(p, "${{");
		if (!open) {
			buf_puts(out, p);
			break;
		}
		buf_add(out, p, (size_t)(open - p));
		const char *close = strstr(open + 3, "}}");
		if (!close)
			return fail(im, cmd, "command", "command: '${{' without its '}}'");
		char *inner = xstrndup(open + 3, (size_t)(close - open - 3));
		char *t = inner;
		while (isspace((unsigned char)*t))
			t++;
		size_t tl = strlen(t);
		while (tl && isspace((unsigned char)t[tl - 1]))
			t[--tl] = '\0';
		if (!strncmp(t, "inputs.", 7)) {
			const char *name = t + 7;
			const ynode *in = inputs && inputs->kind == YN_MAP ? ynode_map_get(inputs, name) : NULL;
			if (!in) {
				free(inner);
				return fail(im, cmd, "command", "command: ${{inputs.%s}} names an input that inputs: does not define",
					    name);
			}
			if (!strlist_contains(used, name))
				strlist_add(used, name);
			if (in->kind == YN_SCALAR && in->stype == YS_STRING && !strncmp(in->value, "azureml:", 8)) {
				/* a registered data asset, not a literal */
				warn(im, in, "inputs",
				     "inputs.%s: the data asset %s is passed to the script as that text; amlspec does not "
				     "resolve, mount or download data assets",
				     name, in->value);
				buf_puts(out, in->value);
			} else if (in->kind == YN_SCALAR) {
				buf_puts(out, in->stype == YS_NULL ? "" : in->value);
			} else if (in->kind == YN_MAP && scalar(ynode_map_get(in, "value"))) {
				buf_puts(out, scalar(ynode_map_get(in, "value")));
			} else if (in->kind == YN_MAP && scalar(ynode_map_get(in, "path"))) {
				const char *path = scalar(ynode_map_get(in, "path"));
				const char *type = scalar(ynode_map_get(in, "type"));
				const char *mode = scalar(ynode_map_get(in, "mode"));
				warn(im, in, "inputs",
				     "inputs.%s (%s%s%s): passed to the script as its path '%s'; amlspec does not mount or "
				     "download inputs, so the script must read that location itself",
				     name, type ? type : "uri_folder", mode ? ", mode " : "", mode ? mode : "", path);
				buf_puts(out, path);
			} else {
				warn(im, in, "inputs", "inputs.%s: neither a literal value nor a path; left as it is", name);
				buf_add(out, open, (size_t)(close + 2 - open));
			}
		} else if (!strncmp(t, "outputs.", 8)) {
			warn(im, cmd, "command",
			     "command: ${{%s}} becomes outputs/%s (a folder under the run's outputs/, which Azure ML uploads "
			     "at the end of the job); named outputs are not carried over",
			     t, t + 8);
			buf_printf(out, "outputs/%s", t + 8);
		} else {
			warn(im, cmd, "command", "command: ${{%s}} cannot be resolved outside Azure ML; left as it is", t);
			buf_add(out, open, (size_t)(close + 2 - open));
		}
		free(inner);
		p = close + 2;
	}
	return AML_OK;
}

static int import_command(importer *im, const ynode *root, spec_out *so)
{
	const ynode *cmd = ynode_map_get(root, "command");
	if (!cmd || !scalar(cmd))
		return fail(im, cmd ? cmd : root, "command",
			    "command: required (a component-based job, `component:`, is not imported)");
	const ynode *inputs = ynode_map_get(root, "inputs");
	strlist used = STRLIST_INIT;
	buf line = BUF_INIT;
	int rc = substitute(im, cmd, inputs, &used, &line);
	if (!rc && inputs && inputs->kind == YN_MAP)
		for (size_t i = 0; i < inputs->count; i++)
			if (!strlist_contains(&used, ynode_map_key(inputs, i)->value))
				warn(im, ynode_map_key(inputs, i), "inputs",
				     "inputs.%s is not used in the command; not carried over", ynode_map_key(inputs, i)->value);
	if (!rc && strstr(line.ptr, "$[[")) {
		warn(im, cmd, "command", "command: optional $[[...]] parts are kept as they are; amlspec does not resolve them");
	}
	strlist words = STRLIST_INIT;
	int sr = rc ? -2 : azml_shell_split(line.ptr, &words);
	if (sr == -1) {
		rc = fail(im, cmd, "command", "command: a quote is not closed");
	} else if (sr == 1) {
		/* operators, redirections, variables: only a shell runs this */
		char *trimmed = line.ptr;
		while (isspace((unsigned char)*trimmed))
			trimmed++;
		size_t n = strlen(trimmed);
		while (n && isspace((unsigned char)trimmed[n - 1]))
			trimmed[--n] = '\0';
		strlist_add(&so->command, "bash");
		strlist_add(&so->command, "-c");
		strlist_add(&so->command, trimmed);
	} else if (sr == 0) {
		if (!words.count) {
			rc = fail(im, cmd, "command", "command: empty");
		} else if (words.count >= 2 && (!strcmp(words.items[0], "python") || !strcmp(words.items[0], "python3")) &&
			   words.items[1][0] != '-' && strlen(words.items[1]) > 3 &&
			   !strcmp(words.items[1] + strlen(words.items[1]) - 3, ".py")) {
			so->script = xstrdup(words.items[1]);
			for (size_t i = 2; i < words.count; i++)
				strlist_add(&so->arguments, words.items[i]);
		} else {
			strlist_copy(&so->command, &words);
		}
	}
	strlist_free(&words);
	strlist_free(&used);
	buf_free(&line);
	return rc;
}

static void add_conda_dependencies(importer *im, const ynode *deps, spec_out *so)
{
	for (size_t i = 0; deps && deps->kind == YN_SEQ && i < deps->count; i++) {
		const ynode *d = deps->items[i];
		if (scalar(d)) {
			char *name = envdef_package_name(d->value);
			if (!strcmp(name, "python") && !so->python_version) {
				const char *v = d->value + strlen("python");
				while (*v == '=' || *v == ' ')
					v++;
				if (*v && (isdigit((unsigned char)*v)))
					so->python_version = xstrdup(v);
			}
			free(name);
			strlist_add(&so->conda_packages, d->value);
		} else if (d->kind == YN_MAP && ynode_map_get(d, "pip")) {
			const ynode *pip = ynode_map_get(d, "pip");
			for (size_t k = 0; pip->kind == YN_SEQ && k < pip->count; k++)
				if (scalar(pip->items[k]))
					strlist_add(&so->pip_packages, pip->items[k]->value);
		} else {
			warn(im, d, "conda_file", "conda dependency not understood; not carried over");
		}
	}
}

static void import_conda(importer *im, const ynode *cf, spec_out *so)
{
	ydoc *cdoc = NULL;
	const ynode *root = cf;
	if (scalar(cf)) {
		char *path = fs_join(im->job_dir, cf->value);
		diag_list cd = DIAG_LIST_INIT;
		ydoc_limits lim = YDOC_LIMITS_DEFAULT;
		if (ydoc_load_file(&cdoc, path, cf->value, &lim, &cd) != AML_OK) {
			diag_list_move(im->diags, &cd);
			fail(im, cf, "environment.conda_file", "environment.conda_file: cannot read %s", cf->value);
			free(path);
			return;
		}
		diag_list_free(&cd);
		free(path);
		root = cdoc->root;
	}
	if (!root || root->kind != YN_MAP) {
		fail(im, cf, "environment.conda_file", "environment.conda_file: not a conda environment (a mapping)");
		ydoc_free(cdoc);
		return;
	}
	for (size_t i = 0; i < root->count; i++) {
		const ynode *k = ynode_map_key(root, i), *v = ynode_map_value(root, i);
		if (!strcmp(k->value, "channels")) {
			for (size_t c = 0; v->kind == YN_SEQ && c < v->count; c++)
				if (scalar(v->items[c]))
					strlist_add(&so->channels, v->items[c]->value);
		} else if (!strcmp(k->value, "dependencies")) {
			add_conda_dependencies(im, v, so);
		} else if (!strcmp(k->value, "variables")) {
			string_map(im, v, "conda_file.variables", &so->env_vars_inline);
		} else if (strcmp(k->value, "name") && strcmp(k->value, "prefix")) {
			warn(im, k, "environment.conda_file", "conda file key %s: not carried over", k->value);
		}
	}
	ydoc_free(cdoc);
}

/* azureml:NAME:VER, azureml:NAME@latest, azureml://registries/R/environments/NAME/versions/V|labels/L,
 * azureml:/subscriptions/.../environments/NAME/versions/V */
static char *curated_ref(const char *s)
{
	const char *p = s;
	if (!strncmp(p, "azureml:", 8))
		p += 8;
	const char *envs = strstr(p, "/environments/");
	if (envs) {
		const char *name = envs + 14;
		const char *slash = strchr(name, '/');
		char *n = slash ? xstrndup(name, (size_t)(slash - name)) : xstrdup(name);
		char *out = NULL;
		if (slash && !strncmp(slash, "/versions/", 10))
			out = xasprintf("%s@%s", n, slash + 10);
		else
			out = xstrdup(n);
		free(n);
		return out;
	}
	const char *at = strchr(p, '@');
	if (at)
		return xstrndup(p, (size_t)(at - p)); /* @latest and other labels: the catalog's latest */
	const char *colon = strrchr(p, ':');
	if (colon)
		return xasprintf("%.*s@%s", (int)(colon - p), p, colon + 1);
	return xstrdup(p);
}

static void import_environment(importer *im, const ynode *env, spec_out *so)
{
	if (!env) {
		fail(im, NULL, "environment", "environment: required");
		return;
	}
	if (scalar(env)) {
		char *ref = curated_ref(env->value);
		char *at = strchr(ref, '@');
		if (at) {
			char *end;
			strtol(at + 1, &end, 10);
			if (end == at + 1 || *end) {
				warn(im, env, "environment",
				     "environment: version '%s' is not a number; the catalog's latest version is used", at + 1);
				*at = '\0';
			}
		}
		so->env_ref = ref;
		if (im->ws) {
			diag_list cd = DIAG_LIST_INIT;
			const catalog *cat = workspace_catalog(im->ws, &cd);
			diag_list_free(&cd);
			long version = 0;
			char *name = catalog_split_ref(ref, &version);
			const catalog_entry *e = cat ? catalog_find(cat, name) : NULL;
			if (!e)
				warn(im, env, "environment",
				     "environment: %s is not in amlspec's catalog (built in or the workspace's catalogs:); add "
				     "its definition to a team catalog before running it",
				     name);
			else if (version && !catalog_entry_version(e, version))
				warn(im, env, "environment", "environment: %s has no version %ld in amlspec's catalog", name,
				     version);
			free(name);
		}
		return;
	}
	if (env->kind != YN_MAP) {
		fail(im, env, "environment", "environment: a reference or a mapping");
		return;
	}
	so->env_inline = true;
	const ynode *image = ynode_map_get(env, "image"), *conda = ynode_map_get(env, "conda_file");
	for (size_t i = 0; i < env->count; i++) {
		const ynode *k = ynode_map_key(env, i), *v = ynode_map_value(env, i);
		if (!strcmp(k->value, "image") || !strcmp(k->value, "conda_file"))
			continue;
		if (!strcmp(k->value, "build"))
			warn(im, k, "environment.build",
			     "environment.build: a Docker build context is not carried over; amlspec environments are "
			     "an image plus Python packages");
		else if (!strcmp(k->value, "os_type") && scalar(v) && !strcmp(v->value, "linux"))
			;
		else if (!strcmp(k->value, "name") || !strcmp(k->value, "version"))
			warn(im, k, "environment", "environment.%s: ignored for an inline environment (Azure ML ignores it "
						   "too); amlspec names it by its digest", k->value);
		else if (strcmp(k->value, "description"))
			warn(im, k, "environment", "environment.%s: not carried over", k->value);
	}
	if (scalar(image))
		so->base_image = xstrdup(image->value);
	if (conda)
		import_conda(im, conda, so);
	else
		so->user_managed = true;
}

static void import_distribution(importer *im, const ynode *root, spec_out *so)
{
	const ynode *res = ynode_map_get(root, "resources"), *dist = ynode_map_get(root, "distribution");
	so->node_count = 1;
	so->per_node = 1;
	if (res && res->kind == YN_MAP) {
		for (size_t i = 0; i < res->count; i++) {
			const ynode *k = ynode_map_key(res, i), *v = ynode_map_value(res, i);
			if (!strcmp(k->value, "instance_count") && scalar(v)) {
				so->node_count = strtol(v->value, NULL, 10);
				if (so->node_count < 1)
					so->node_count = 1;
			} else if (!strcmp(k->value, "instance_type")) {
				warn(im, k, "resources.instance_type",
				     "resources.instance_type: a property of the target in amlspec (instance_type: in "
				     "amlspec.yaml), not of the spec; not carried over");
			} else {
				warn(im, k, "resources", "resources.%s: not carried over", k->value);
			}
		}
	}
	const char *type = dist && dist->kind == YN_MAP ? scalar(ynode_map_get(dist, "type")) : NULL;
	if (!type) {
		so->framework = xstrdup("python");
		if (so->node_count > 1) {
			warn(im, res, "resources.instance_count",
			     "resources.instance_count %ld without a distribution: amlspec runs a python script on one node",
			     so->node_count);
			so->node_count = 1;
		}
		return;
	}
	const ynode *pc = ynode_map_get(dist, "process_count_per_instance");
	if (!strcmp(type, "pytorch") || !strcmp(type, "mpi")) {
		so->framework = xstrdup(type);
		if (scalar(pc))
			so->per_node = strtol(pc->value, NULL, 10);
	} else if (!strcmp(type, "tensorflow")) {
		so->framework = xstrdup("tensorflow");
		const ynode *wc = ynode_map_get(dist, "worker_count"), *ps = ynode_map_get(dist, "parameter_server_count");
		if (scalar(wc)) {
			long workers = strtol(wc->value, NULL, 10);
			so->per_node = (workers + so->node_count - 1) / so->node_count;
			if (so->per_node * so->node_count != workers)
				warn(im, wc, "distribution.worker_count",
				     "distribution.worker_count %ld is not a multiple of instance_count %ld; %ld per node", workers,
				     so->node_count, so->per_node);
		}
		if (scalar(ps) && strtol(ps->value, NULL, 10) > 0)
			warn(im, ps, "distribution.parameter_server_count",
			     "distribution.parameter_server_count: parameter servers are not carried over");
	} else {
		warn(im, dist, "distribution", "distribution type %s: not carried over; the command runs as framework python",
		     type);
		so->framework = xstrdup("python");
	}
	if (so->per_node < 1)
		so->per_node = 1;
}

static char *find_target(importer *im, const ynode *compute)
{
	const char *c = scalar(compute);
	if (!c)
		return xstrdup("local");
	const char *name = !strncmp(c, "azureml:", 8) ? c + 8 : c;
	if (!strcmp(name, "local"))
		return xstrdup("local");
	for (size_t i = 0; im->ws && i < im->ws->ntargets; i++) {
		const target_config *t = &im->ws->targets[i];
		const char *tc = kvlist_get(&t->options, "compute");
		if (!strcmp(t->type, "azureml") && tc && !strcmp(tc, name))
			return xstrdup(t->name);
	}
	warn(im, compute, "compute",
	     "compute: no azureml target in %s has compute: %s; declare one (targets: {%s: {type: azureml, "
	     "subscription_id: ..., resource_group: ..., workspace_name: ..., compute: %s}}) before using this spec",
	     im->ws && im->ws->config_display ? im->ws->config_display : "amlspec.yaml", name, name, name);
	return xstrdup(name);
}

static void emit_list(buf *b, int indent, const char *key, const strlist *l)
{
	if (!l->count)
		return;
	put_key(b, indent, key);
	buf_putc(b, '\n');
	for (size_t i = 0; i < l->count; i++) {
		buf_printf(b, "%*s- ", indent + 2, "");
		azml_yaml_scalar(b, l->items[i]);
		buf_putc(b, '\n');
	}
}

static void emit(buf *b, const spec_out *s, const char *display)
{
	buf_printf(b, "# Imported by `amlspec import` from %s. Paths are relative to that file's\n"
		      "# folder: save this beside it (as run.yaml or NAME.run.yaml).\n",
		   display);
	put_kv(b, 0, "experiment", s->experiment);
	put_kv(b, 0, "name", s->name);
	if (s->description)
		put_kv(b, 0, "description", s->description);
	put_map(b, 0, "tags", &s->tags);
	put_kv(b, 0, "source_directory", s->source_directory);
	if (s->script) {
		put_kv(b, 0, "script", s->script);
		emit_list(b, 0, "arguments", &s->arguments);
	} else {
		emit_list(b, 0, "command", &s->command);
	}
	if (s->env_ref) {
		put_kv(b, 0, "environment", s->env_ref);
	} else if (s->env_inline) {
		buf_puts(b, "environment:\n  python:\n");
		if (s->user_managed) {
			buf_puts(b, "    user_managed_dependencies: true\n");
		} else {
			if (s->python_version)
				put_kv(b, 4, "version", s->python_version);
			emit_list(b, 4, "channels", &s->channels);
			emit_list(b, 4, "conda_packages", &s->conda_packages);
			emit_list(b, 4, "pip_packages", &s->pip_packages);
		}
		if (s->base_image) {
			buf_puts(b, "  docker:\n");
			put_kv(b, 4, "base_image", s->base_image);
		}
		put_map(b, 2, "environment_variables", &s->env_vars_inline);
	}
	put_map(b, 0, "environment_variables", &s->variables);
	put_kv(b, 0, "target", s->target);
	if (strcmp(s->framework, "python"))
		put_kv(b, 0, "framework", s->framework);
	if (s->node_count > 1 || s->per_node > 1)
		buf_printf(b, "distribution:\n  node_count: %ld\n  process_count_per_node: %ld\n", s->node_count, s->per_node);
	if (s->timeout > 0)
		buf_printf(b, "limits:\n  timeout: %lld\n", s->timeout);
}

static const char *const known_keys[] = { "$schema", "type", "name", "display_name", "experiment_name", "description",
					  "tags", "command", "code", "inputs", "environment", "environment_variables",
					  "compute", "resources", "distribution", "limits", NULL };

static bool is_known(const char *k)
{
	for (size_t i = 0; known_keys[i]; i++)
		if (!strcmp(known_keys[i], k))
			return true;
	return false;
}

int azml_import_job_yaml(buf *out, const char *path, const char *display, workspace *ws, diag_list *diags)
{
	ydoc *doc = NULL;
	ydoc_limits lim = YDOC_LIMITS_DEFAULT;
	int rc = ydoc_load_file(&doc, path, display, &lim, diags);
	if (rc)
		return rc;
	char *abs = fs_absolute(path);
	char *dir = fs_dirname(abs);
	importer im = { display, dir, ws, diags, doc, 0 };
	spec_out so = { 0 };
	const ynode *root = doc->root;
	if (!root || root->kind != YN_MAP) {
		rc = fail(&im, root, NULL, "not a command job (a mapping)");
		goto done;
	}
	const char *type = scalar(ynode_map_get(root, "type"));
	if (type && strcmp(type, "command")) {
		rc = fail(&im, ynode_map_get(root, "type"), "type",
			  "type: %s jobs are not imported; only command jobs (type: command) have an amlspec equivalent",
			  type);
		goto done;
	}
	for (size_t i = 0; i < root->count; i++) {
		const ynode *k = ynode_map_key(root, i);
		if (is_known(k->value))
			continue;
		if (!strcmp(k->value, "outputs"))
			warn(&im, k, "outputs",
			     "outputs: named outputs are not carried over; write results under $AMLSPEC_OUTPUTS_DIR (outputs/, "
			     "which Azure ML uploads)");
		else if (!strcmp(k->value, "identity"))
			warn(&im, k, "identity",
			     "identity: not carried over; jobs amlspec submits use Azure ML's default identity (AMLToken)");
		else if (!strcmp(k->value, "services"))
			warn(&im, k, "services", "services: interactive services (Jupyter, SSH, ...) are not carried over");
		else if (!strcmp(k->value, "properties"))
			warn(&im, k, "properties",
			     "properties: not carried over; amlspec records git provenance and the snapshot id itself");
		else
			warn(&im, k, k->value, "%s: not carried over", k->value);
	}
	const ynode *n;
	if ((n = ynode_map_get(root, "name")) && scalar(n))
		warn(&im, n, "name", "name: job names are given per run by amlspec (the run id); not carried over");
	const char *exp = scalar(ynode_map_get(root, "experiment_name"));
	if (exp) {
		so.experiment = sanitize_name(exp);
	} else {
		/* the CLI's default: the folder the job is created from */
		so.experiment = sanitize_name(fs_basename(dir));
		warn(&im, root, "experiment_name", "experiment_name: not given; using the folder's name, %s", so.experiment);
	}
	const char *disp = scalar(ynode_map_get(root, "display_name"));
	if (disp) {
		so.name = sanitize_name(disp);
	} else {
		const char *base = fs_basename(abs);
		char *stem = xstrdup(base);
		char *dot = strrchr(stem, '.');
		if (dot)
			*dot = '\0';
		so.name = sanitize_name(!strcmp(stem, "job") ? fs_basename(dir) : stem);
		free(stem);
	}
	if ((n = ynode_map_get(root, "description")) && scalar(n))
		so.description = xstrdup(n->value);
	string_map(&im, ynode_map_get(root, "tags"), "tags", &so.tags);
	string_map(&im, ynode_map_get(root, "environment_variables"), "environment_variables", &so.variables);
	const ynode *code = ynode_map_get(root, "code");
	const char *code_path = scalar(code);
	if (code && code->kind == YN_MAP)
		code_path = scalar(ynode_map_get(code, "local_path")) ? scalar(ynode_map_get(code, "local_path"))
								     : scalar(ynode_map_get(code, "path"));
	if (code_path && (!strncmp(code_path, "azureml:", 8) || strstr(code_path, "://"))) {
		warn(&im, code, "code", "code: %s is not a local folder; the spec uses the folder beside the job file",
		     code_path);
		code_path = NULL;
	}
	if (code_path && !strncmp(code_path, "file:", 5))
		code_path += 5;
	so.source_directory = xstrdup(code_path ? code_path : ".");
	rc = import_command(&im, root, &so);
	import_environment(&im, ynode_map_get(root, "environment"), &so);
	so.target = find_target(&im, ynode_map_get(root, "compute"));
	import_distribution(&im, root, &so);
	const ynode *limits = ynode_map_get(root, "limits");
	if (limits && limits->kind == YN_MAP) {
		for (size_t i = 0; i < limits->count; i++) {
			const ynode *k = ynode_map_key(limits, i), *v = ynode_map_value(limits, i);
			if (!strcmp(k->value, "timeout") && scalar(v) && v->stype == YS_INT)
				so.timeout = strtoll(v->value, NULL, 10);
			else
				warn(&im, k, "limits", "limits.%s: not carried over", k->value);
		}
	}
	if (so.script) {
		char *src = fs_join(dir, so.source_directory);
		char *script = fs_join(src, so.script);
		if (!fs_is_file(script))
			warn(&im, code, "code", "script %s is not in %s: amlspec validate will say so until it is",
			     so.script, so.source_directory);
		free(script);
		free(src);
	}
	if (im.errors)
		rc = AML_EINVALID;
	if (!rc)
		emit(out, &so, display);
done:
	spec_out_free(&so);
	free(dir);
	free(abs);
	ydoc_free(doc);
	return rc;
}
