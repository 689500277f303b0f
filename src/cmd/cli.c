#include "cmd/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

int cli_error(const cli *ctx, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "amlspec %s: %serror:%s ", ctx->verb, cli_c(ctx, C_RED), cli_c(ctx, C_RESET));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

int cli_usage(const cli *ctx, const char *usage)
{
	(void)ctx;
	fprintf(stderr, "%s", usage);
	return EXIT_USAGE;
}

/* arg is NAME or NAME=...: returns the text after '=' (or "" for NAME). */
static const char *opt_matches(const char *names, const char *arg)
{
	size_t alen = strcspn(arg, "=");
	for (const char *p = names; *p;) {
		size_t n = strcspn(p, "|");
		if (n == alen && !strncmp(p, arg, n))
			return arg + alen + (arg[alen] == '=');
		p += n + (p[n] == '|');
	}
	return NULL;
}

int cli_parse(cli *ctx, int argc, char **argv, const char *usage, const cli_opt *opts, char ***paths, int *npaths)
{
	*paths = xcalloc((size_t)argc + 1, sizeof(char *));
	*npaths = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const cli_opt *o = NULL;
		const char *rest = NULL;
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			free(*paths);
			*paths = NULL;
			fputs(usage, stdout);
			return EXIT_OK;
		}
		if (arg[0] != '-') {
			(*paths)[(*npaths)++] = argv[i];
			continue;
		}
		for (const cli_opt *k = opts; k && k->name && !o; k++)
			if ((rest = opt_matches(k->name, arg)) && (k->value || !*rest))
				o = k;
		if (o && o->flag) {
			*o->flag = true;
		} else if (o && arg[strcspn(arg, "=")] == '=') {
			*o->value = rest;
		} else if (o && i + 1 < argc) {
			*o->value = argv[++i];
		} else {
			free(*paths);
			*paths = NULL;
			if (o)
				cli_error(ctx, "option '%s' needs a value", arg);
			else
				cli_error(ctx, "unknown option '%s'", arg);
			return cli_usage(ctx, usage);
		}
	}
	return -1;
}

const char *cli_c(const cli *ctx, const char *code)
{
	return ctx->color ? code : "";
}

void cli_print_diags(const cli *ctx, const diag_list *diags, FILE *out)
{
	buf line = BUF_INIT;
	for (size_t i = 0; i < diags->count; i++) {
		const diag *d = &diags->items[i];
		buf_clear(&line);
		if (d->file) {
			buf_puts(&line, cli_c(ctx, C_BOLD));
			buf_puts(&line, d->file);
			if (d->line)
				buf_printf(&line, ":%u:%u", d->line, d->col);
			buf_printf(&line, ":%s ", cli_c(ctx, C_RESET));
		}
		const char *col = d->severity == DIAG_ERROR ? C_RED : d->severity == DIAG_WARNING ? C_YELLOW : C_DIM;
		buf_printf(&line, "%s%s:%s %s\n", cli_c(ctx, col), diag_severity_name(d->severity), cli_c(ctx, C_RESET),
			   d->message);
		fputs(line.ptr, out);
	}
	buf_free(&line);
}

json_object *cli_diags_json(const diag_list *diags)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < diags->count; i++) {
		const diag *d = &diags->items[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "severity", json_object_new_string(diag_severity_name(d->severity)));
		json_object_object_add(o, "message", json_object_new_string(d->message));
		json_object_object_add(o, "file", d->file ? json_object_new_string(d->file) : NULL);
		json_object_object_add(o, "line", d->line ? json_object_new_int((int)d->line) : NULL);
		json_object_object_add(o, "column", d->line ? json_object_new_int((int)d->col) : NULL);
		json_object_object_add(o, "path", d->path ? json_object_new_string(d->path) : NULL);
		json_object_array_add(a, o);
	}
	return a;
}

json_object *cli_envelope(const cli *ctx)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "format_version", json_object_new_string("1.0"));
	json_object_object_add(o, "command", json_object_new_string(ctx->verb));
	return o;
}

void cli_print_json(json_object *o)
{
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							JSON_C_TO_STRING_NOSLASHESCAPE),
	      stdout);
	fputc('\n', stdout);
	json_object_put(o);
}

const char *cli_opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
	const char *a = argv[*i];
	size_t l = strlen(name);
	*missing = false;
	if (strncmp(a, name, l))
		return NULL;
	if (a[l] == '=')
		return a + l + 1;
	if (a[l] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}
