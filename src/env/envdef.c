#include "envdef.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/crypto_dyn.h"

void envdef_free(envdef *e)
{
	free(e->python_version);
	free(e->interpreter_path);
	free(e->base_image);
	strlist_free(&e->channels);
	strlist_free(&e->conda_packages);
	strlist_free(&e->pip_packages);
	kvlist_free(&e->variables);
	memset(e, 0, sizeof(*e));
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void envdef_copy(envdef *dst, const envdef *src)
{
	dst->python_version = dup_or_null(src->python_version);
	dst->user_managed = src->user_managed;
	dst->interpreter_path = dup_or_null(src->interpreter_path);
	strlist_copy(&dst->channels, &src->channels);
	strlist_copy(&dst->conda_packages, &src->conda_packages);
	strlist_copy(&dst->pip_packages, &src->pip_packages);
	dst->docker_enabled = src->docker_enabled;
	dst->base_image = dup_or_null(src->base_image);
	kvlist_copy(&dst->variables, &src->variables);
}

char *envdef_package_name(const char *req)
{
	size_t n = 0;
	while (req[n] && (isalnum((unsigned char)req[n]) || req[n] == '-' || req[n] == '_' || req[n] == '.'))
		n++;
	/* an option (--extra-index-url ..., -r file) or a URL (git+https://,
	 * https://, file://) names no package: "" (never the same as another) */
	if (!isalnum((unsigned char)req[0]) || req[n] == ':' || req[n] == '/' || req[n] == '+')
		n = 0;
	char *name = xstrndup(req, n);
	for (char *p = name; *p; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (*p == '_' || *p == '.')
			*p = '-';
	}
	return name;
}

static void overlay_packages(strlist *base, const strlist *add)
{
	for (size_t i = 0; i < add->count; i++) {
		char *name = envdef_package_name(add->items[i]);
		bool replaced = false;
		for (size_t j = 0; j < base->count && !replaced && *name; j++) {
			char *bn = envdef_package_name(base->items[j]);
			if (!strcmp(bn, name)) {
				free(base->items[j]);
				base->items[j] = xstrdup(add->items[i]);
				replaced = true;
			}
			free(bn);
		}
		if (!replaced)
			strlist_add(base, add->items[i]);
		free(name);
	}
}

static void replace_str(char **dst, const char *src)
{
	if (!src)
		return;
	free(*dst);
	*dst = xstrdup(src);
}

void envdef_overlay(envdef *e, const envdef *over, const envdef *present)
{
	/* `present` marks which booleans were written (non-zero = written) */
	replace_str(&e->python_version, over->python_version);
	if (present && present->user_managed)
		e->user_managed = over->user_managed;
	replace_str(&e->interpreter_path, over->interpreter_path);
	for (size_t i = 0; i < over->channels.count; i++)
		if (!strlist_contains(&e->channels, over->channels.items[i]))
			strlist_add(&e->channels, over->channels.items[i]);
	overlay_packages(&e->conda_packages, &over->conda_packages);
	overlay_packages(&e->pip_packages, &over->pip_packages);
	if (present && present->docker_enabled)
		e->docker_enabled = over->docker_enabled;
	replace_str(&e->base_image, over->base_image);
	kvlist_copy(&e->variables, &over->variables);
}

static json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *list_json(const strlist *l)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < l->count; i++)
		json_object_array_add(a, json_object_new_string(l->items[i]));
	return a;
}

json_object *envdef_to_json(const envdef *e)
{
	json_object *o = json_object_new_object();
	json_object *py = json_object_new_object();
	json_object_object_add(py, "version", str_or_null(e->python_version));
	json_object_object_add(py, "user_managed_dependencies", json_object_new_boolean(e->user_managed));
	json_object_object_add(py, "interpreter_path", str_or_null(e->interpreter_path));
	json_object_object_add(py, "channels", list_json(&e->channels));
	json_object_object_add(py, "conda_packages", list_json(&e->conda_packages));
	json_object_object_add(py, "pip_packages", list_json(&e->pip_packages));
	json_object_object_add(o, "python", py);
	json_object *dk = json_object_new_object();
	json_object_object_add(dk, "enabled", json_object_new_boolean(e->docker_enabled));
	json_object_object_add(dk, "base_image", str_or_null(e->base_image));
	json_object_object_add(o, "docker", dk);
	kvlist vars = KVLIST_INIT;
	kvlist_copy(&vars, &e->variables);
	kvlist_sort(&vars);
	json_object *vo = json_object_new_object();
	for (size_t i = 0; i < vars.count; i++)
		json_object_object_add(vo, vars.items[i].key, json_object_new_string(vars.items[i].value));
	kvlist_free(&vars);
	json_object_object_add(o, "environment_variables", vo);
	return o;
}

void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

char *envdef_digest(const envdef *e)
{
	json_object *o = envdef_to_json(e);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char hex[65];
	sha256_hex(text, strlen(text), hex);
	json_object_put(o);
	return xasprintf("sha256:%s", hex);
}

static char *json_str_dup(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return xstrdup(json_object_get_string(v));
}

static void json_list(strlist *l, json_object *o, const char *key)
{
	json_object *a;
	if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(a); i++)
		strlist_add(l, json_object_get_string(json_object_array_get_idx(a, i)));
}

int envdef_from_json(envdef *out, json_object *o)
{
	json_object *py, *dk, *vo, *b;
	memset(out, 0, sizeof(*out));
	if (!json_object_is_type(o, json_type_object))
		return -1;
	if (json_object_object_get_ex(o, "python", &py)) {
		out->python_version = json_str_dup(py, "version");
		out->interpreter_path = json_str_dup(py, "interpreter_path");
		if (json_object_object_get_ex(py, "user_managed_dependencies", &b))
			out->user_managed = json_object_get_boolean(b);
		json_list(&out->channels, py, "channels");
		json_list(&out->conda_packages, py, "conda_packages");
		json_list(&out->pip_packages, py, "pip_packages");
	}
	if (json_object_object_get_ex(o, "docker", &dk)) {
		if (json_object_object_get_ex(dk, "enabled", &b))
			out->docker_enabled = json_object_get_boolean(b);
		out->base_image = json_str_dup(dk, "base_image");
	}
	if (json_object_object_get_ex(o, "environment_variables", &vo) && json_object_is_type(vo, json_type_object)) {
		json_object_object_foreach(vo, k, v) {
			kvlist_set(&out->variables, k, json_object_get_string(v));
		}
	}
	return 0;
}
