#include "azureml/body.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool shell_safe_char(unsigned char c)
{
	return isalnum(c) || strchr("_./:,@%+-", c) != NULL;
}

char *azml_shell_quote(const char *word)
{
	bool safe = *word != '\0';
	for (const unsigned char *p = (const unsigned char *)word; *p && safe; p++)
		safe = shell_safe_char(*p);
	if (safe)
		return xstrdup(word);
	buf b = BUF_INIT;
	buf_putc(&b, '\'');
	for (const char *p = word; *p; p++) {
		if (*p == '\'')
			buf_puts(&b, "'\\''");
		else
			buf_putc(&b, *p);
	}
	buf_putc(&b, '\'');
	return buf_detach(&b);
}

static void put_word(buf *b, const char *w)
{
	char *q = azml_shell_quote(w);
	if (b->len)
		buf_putc(b, ' ');
	buf_puts(b, q);
	free(q);
}

char *azml_command_line(const run_spec *spec, const envdef *env)
{
	buf b = BUF_INIT;
	if (spec->script) {
		const char *py = env && env->user_managed && env->interpreter_path ? env->interpreter_path : "python";
		put_word(&b, py);
		put_word(&b, spec->script);
		for (size_t i = 0; i < spec->arguments.count; i++)
			put_word(&b, spec->arguments.items[i]);
	} else {
		for (size_t i = 0; i < spec->command.count; i++)
			put_word(&b, spec->command.items[i]);
	}
	return buf_detach(&b);
}

char *azml_iso8601_duration(long long seconds)
{
	if (seconds <= 0)
		return xstrdup("PT0S");
	long long d = seconds / 86400, h = seconds % 86400 / 3600, m = seconds % 3600 / 60, s = seconds % 60;
	buf b = BUF_INIT;
	buf_putc(&b, 'P');
	if (d)
		buf_printf(&b, "%lldD", d);
	if (h || m || s) {
		buf_putc(&b, 'T');
		if (h)
			buf_printf(&b, "%lldH", h);
		if (m)
			buf_printf(&b, "%lldM", m);
		if (s)
			buf_printf(&b, "%lldS", s);
	}
	return buf_detach(&b);
}

long long azml_parse_iso8601_duration(const char *s)
{
	if (!s || *s != 'P')
		return -1;
	const char *p = s + 1;
	bool time_part = false, any = false;
	long long total = 0;
	while (*p) {
		if (*p == 'T') {
			if (time_part)
				return -1;
			time_part = true;
			p++;
			continue;
		}
		char *end;
		double v = strtod(p, &end);
		if (end == p || v < 0)
			return -1;
		long long unit;
		switch (*end) {
		case 'W': unit = time_part ? -1 : 7 * 86400; break;
		case 'D': unit = time_part ? -1 : 86400; break;
		case 'H': unit = time_part ? 3600 : -1; break;
		case 'M': unit = time_part ? 60 : -1; break;
		case 'S': unit = time_part ? 1 : -1; break;
		default: unit = -1;
		}
		if (unit < 0)
			return -1;
		total += (long long)(v * (double)unit);
		any = true;
		p = end + 1;
	}
	return any ? total : -1;
}

static bool has_package(const strlist *l, const char *name)
{
	for (size_t i = 0; i < l->count; i++) {
		char *n = envdef_package_name(l->items[i]);
		bool eq = !strcmp(n, name);
		free(n);
		if (eq)
			return true;
	}
	return false;
}

static bool yaml_reserved(const char *s)
{
	static const char *const words[] = { "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", NULL };
	for (size_t i = 0; words[i]; i++)
		if (!strcasecmp(s, words[i]))
			return true;
	return false;
}

static bool looks_numeric(const char *s)
{
	const char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	if (*p == '.')
		p++;
	if (isdigit((unsigned char)*p))
		return true;
	/* .inf, .nan and friends */
	return !strcasecmp(s, ".inf") || !strcasecmp(s, "-.inf") || !strcasecmp(s, "+.inf") || !strcasecmp(s, ".nan");
}

void azml_yaml_scalar(buf *b, const char *s)
{
	bool plain = *s && !yaml_reserved(s) && !looks_numeric(s) && !strchr(",[]{}#&*!|>'\"%@` ", s[0]);
	/* "-", "?" and ":" may start a plain scalar when a non-blank follows */
	if (plain && strchr("-?:", s[0]) && (s[1] == '\0' || s[1] == ' '))
		plain = false;
	size_t n = strlen(s);
	if (plain && (s[n - 1] == ' ' || s[n - 1] == ':'))
		plain = false;
	for (const unsigned char *p = (const unsigned char *)s; *p && plain; p++) {
		if (*p < 0x20 || *p == 0x7f)
			plain = false;
		else if (*p == ':' && p[1] == ' ')
			plain = false;
		else if (*p == '#' && p > (const unsigned char *)s && p[-1] == ' ')
			plain = false;
	}
	if (plain)
		buf_puts(b, s);
	else
		buf_put_json_string(b, s);
}

char *azml_conda_yaml(const envdef *e)
{
	if (e->user_managed)
		return NULL;
	buf b = BUF_INIT;
	buf_puts(&b, "name: amlspec\n");
	if (e->channels.count) {
		buf_puts(&b, "channels:\n");
		for (size_t i = 0; i < e->channels.count; i++) {
			buf_puts(&b, "  - ");
			azml_yaml_scalar(&b, e->channels.items[i]);
			buf_putc(&b, '\n');
		}
	}
	buf_puts(&b, "dependencies:\n");
	if (e->python_version && !has_package(&e->conda_packages, "python")) {
		char *py = xasprintf("python=%s", e->python_version);
		buf_puts(&b, "  - ");
		azml_yaml_scalar(&b, py);
		buf_putc(&b, '\n');
		free(py);
	}
	for (size_t i = 0; i < e->conda_packages.count; i++) {
		buf_puts(&b, "  - ");
		azml_yaml_scalar(&b, e->conda_packages.items[i]);
		buf_putc(&b, '\n');
	}
	if (e->pip_packages.count) {
		if (!has_package(&e->conda_packages, "pip"))
			buf_puts(&b, "  - pip\n");
		buf_puts(&b, "  - pip:\n");
		for (size_t i = 0; i < e->pip_packages.count; i++) {
			buf_puts(&b, "      - ");
			azml_yaml_scalar(&b, e->pip_packages.items[i]);
			buf_putc(&b, '\n');
		}
	}
	if (!e->python_version && !e->conda_packages.count && !e->pip_packages.count)
		buf_puts(&b, "  - python\n");
	return buf_detach(&b);
}

const char *azml_env_image(const envdef *e)
{
	return e->base_image && *e->base_image ? e->base_image : AZML_DEFAULT_IMAGE;
}

char *azml_environment_version(const char *digest)
{
	const char *hex = strncmp(digest, "sha256:", 7) ? digest : digest + 7;
	return xstrndup(hex, 32);
}

json_object *azml_environment_body(const resolved_env *env)
{
	json_object *props = json_object_new_object();
	json_object_object_add(props, "description",
			       json_object_new_string_len(env->label, (int)strlen(env->label)));
	json_object *tags = json_object_new_object();
	json_object_object_add(tags, "amlspec.digest", json_object_new_string(env->digest));
	json_object_object_add(tags, "amlspec.label", json_object_new_string(env->label));
	json_object_object_add(props, "tags", tags);
	json_object_object_add(props, "image", json_object_new_string(azml_env_image(&env->def)));
	char *conda = azml_conda_yaml(&env->def);
	if (conda) {
		json_object_object_add(props, "condaFile", json_object_new_string(conda));
		free(conda);
	}
	json_object_object_add(props, "osType", json_object_new_string("Linux"));
	json_object_object_add(props, "isAnonymous", json_object_new_boolean(0));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "properties", props);
	return o;
}

bool azml_env_is_curated(const run_spec *spec, const resolved_env *env)
{
	return spec->environment.kind == ENV_CURATED && env->curated_name;
}

char *azml_curated_environment_id(const azml_target *t, const char *name, long version)
{
	if (t->curated_form == AZML_CURATED_WORKSPACE) {
		char *ws = azml_workspace_id(t);
		char *id = xasprintf("%s/environments/%s/versions/%ld", ws, name, version);
		free(ws);
		return id;
	}
	return xasprintf("azureml://registries/azureml/environments/%s/versions/%ld", name, version);
}

char *azml_registered_environment_id(const azml_target *t, const resolved_env *env)
{
	char *ws = azml_workspace_id(t);
	char *ver = azml_environment_version(env->digest);
	char *id = xasprintf("%s/environments/%s/versions/%s", ws, AZML_ENV_NAME, ver);
	free(ver);
	free(ws);
	return id;
}

char *azml_code_name(const char *experiment)
{
	/* container names: ^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$; experiments already fit */
	return xasprintf("amlspec-%.246s", experiment);
}

void azml_job_variables(kvlist *out, const run_spec *spec, const envdef *env)
{
	if (env)
		for (size_t i = 0; i < env->variables.count; i++)
			kvlist_set(out, env->variables.items[i].key, env->variables.items[i].value);
	for (size_t i = 0; i < spec->environment_variables.count; i++)
		kvlist_set(out, spec->environment_variables.items[i].key, spec->environment_variables.items[i].value);
}

static json_object *str_map(const kvlist *l)
{
	json_object *o = json_object_new_object();
	for (size_t i = 0; i < l->count; i++)
		json_object_object_add(o, l->items[i].key, json_object_new_string(l->items[i].value));
	return o;
}

static void add_str(json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

json_object *azml_job_body(const azml_job_params *p)
{
	const run_spec *s = p->spec;
	json_object *props = json_object_new_object();
	add_str(props, "jobType", "Command");
	add_str(props, "displayName", s->name);
	add_str(props, "experimentName", s->experiment);
	add_str(props, "description", s->description);
	json_object_object_add(props, "tags", str_map(&s->tags));
	json_object *jp = json_object_new_object();
	if (p->properties) {
		json_object_object_foreach(p->properties, k, v) {
			if (json_object_is_type(v, json_type_string))
				json_object_object_add(jp, k, json_object_get(v));
		}
	}
	json_object_object_add(props, "properties", jp);
	char *cmd = azml_command_line(s, &p->env->def);
	add_str(props, "command", cmd);
	free(cmd);
	add_str(props, "codeId", p->code_id);
	add_str(props, "environmentId", p->environment_id);
	add_str(props, "computeId", p->compute_id);
	kvlist vars = KVLIST_INIT;
	/* a curated environment carries its own variables on Azure ML */
	azml_job_variables(&vars, s, azml_env_is_curated(s, p->env) ? NULL : &p->env->def);
	if (p->extra_variables)
		for (size_t i = 0; i < p->extra_variables->count; i++)
			kvlist_set(&vars, p->extra_variables->items[i].key, p->extra_variables->items[i].value);
	json_object_object_add(props, "environmentVariables", str_map(&vars));
	kvlist_free(&vars);
	json_object *res = json_object_new_object();
	json_object_object_add(res, "instanceCount", json_object_new_int((int)s->node_count));
	add_str(res, "instanceType", p->instance_type);
	json_object_object_add(props, "resources", res);
	json_object *dist = NULL;
	switch (s->framework) {
	case FW_MPI:
	case FW_PYTORCH:
		dist = json_object_new_object();
		add_str(dist, "distributionType", s->framework == FW_MPI ? "Mpi" : "PyTorch");
		json_object_object_add(dist, "processCountPerInstance", json_object_new_int((int)s->process_count_per_node));
		break;
	case FW_TENSORFLOW:
		dist = json_object_new_object();
		add_str(dist, "distributionType", "TensorFlow");
		json_object_object_add(dist, "workerCount",
				       json_object_new_int((int)(s->node_count * s->process_count_per_node)));
		json_object_object_add(dist, "parameterServerCount", json_object_new_int(0));
		break;
	default:
		break;
	}
	if (dist)
		json_object_object_add(props, "distribution", dist);
	json_object *lim = json_object_new_object();
	add_str(lim, "jobLimitsType", "Command");
	char *iso = azml_iso8601_duration(s->timeout_seconds);
	add_str(lim, "timeout", iso);
	free(iso);
	json_object_object_add(props, "limits", lim);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "properties", props);
	return o;
}

run_status azml_status_map(const char *s)
{
	static const struct {
		const char *azure;
		run_status ours;
	} map[] = {
		{ "NotStarted", RS_NOT_STARTED },  { "Starting", RS_PREPARING },	  { "Provisioning", RS_PREPARING },
		{ "Preparing", RS_PREPARING },	   { "Queued", RS_QUEUED },		  { "Running", RS_RUNNING },
		{ "Finalizing", RS_FINALIZING },   { "CancelRequested", RS_CANCEL_REQUESTED }, { "Completed", RS_COMPLETED },
		{ "Failed", RS_FAILED },	   { "Canceled", RS_CANCELED },		  { "NotResponding", RS_RUNNING },
		{ "Paused", RS_RUNNING },	   { "Unknown", RS_UNKNOWN },
	};
	for (size_t i = 0; s && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i].azure, s))
			return map[i].ours;
	return RS_UNKNOWN;
}

int azml_shell_split(const char *line, strlist *words)
{
	buf w = BUF_INIT;
	bool in_word = false, needs_shell = false, quoted_part = false;
	const char *p = line;
	for (;;) {
		char c = *p;
		if (c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (in_word) {
				/* NAME=value as the first word is an assignment */
				if (!words->count && !quoted_part) {
					const char *eq = strchr(w.ptr, '=');
					if (eq && eq > w.ptr) {
						bool name = !isdigit((unsigned char)w.ptr[0]);
						for (const char *q = w.ptr; q < eq && name; q++)
							name = isalnum((unsigned char)*q) || *q == '_';
						if (name)
							needs_shell = true;
					}
				}
				strlist_add(words, w.ptr);
				buf_clear(&w);
				in_word = false;
				quoted_part = false;
			}
			if (c == '\0')
				break;
			p++;
			continue;
		}
		if (!in_word && (c == '#' || c == '~'))
			needs_shell = true;
		in_word = true;
		if (c == '\'') {
			const char *end = strchr(p + 1, '\'');
			if (!end) {
				buf_free(&w);
				return -1;
			}
			buf_add(&w, p + 1, (size_t)(end - p - 1));
			quoted_part = true;
			p = end + 1;
		} else if (c == '"') {
			p++;
			quoted_part = true;
			for (;;) {
				if (*p == '\0') {
					buf_free(&w);
					return -1;
				}
				if (*p == '"') {
					p++;
					break;
				}
				if (*p == '$' || *p == '`')
					needs_shell = true;
				if (*p == '\\' && p[1] && strchr("$`\"\\\n", p[1])) {
					if (p[1] != '\n')
						buf_putc(&w, p[1]);
					p += 2;
					continue;
				}
				buf_putc(&w, *p++);
			}
		} else if (c == '\\') {
			if (p[1] == '\0') {
				p++;
				continue;
			}
			if (p[1] != '\n')
				buf_putc(&w, p[1]);
			else if (!w.len && !quoted_part)
				in_word = false;
			p += 2;
		} else {
			if (strchr("|&;<>()`$*?[{}", c))
				needs_shell = true;
			buf_putc(&w, c);
			p++;
		}
	}
	buf_free(&w);
	return needs_shell ? 1 : 0;
}
