/* cli: what every verb shares: the global options, output format, colour,
 * printing diagnostics and the JSON envelope. Verbs live in src/cmd/<verb>.c
 * and are listed in src/main.c. */
#ifndef AMLSPEC_CLI_H
#define AMLSPEC_CLI_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

#include "util/diag.h"

/* Documented exit codes (docs/exit-codes.md). */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,      /* error, invalid input, or a run failed */
	EXIT_CHANGES = 2,   /* plan / diff: there are changes */
	EXIT_FMT = 3,       /* fmt --check: a file would change */
	EXIT_USAGE = 64,    /* bad command line */
};

typedef enum { OUT_TEXT, OUT_JSON, OUT_MARKDOWN } output_format;

typedef struct cli {
	const char *verb;
	output_format output;
	bool color;
	const char *workspace_dir;  /* --workspace */
	double lock_timeout;        /* --lock-timeout seconds */
	bool verbose;
} cli;

typedef int (*cmd_fn)(int argc, char **argv, cli *ctx);

int cmd_validate(int argc, char **argv, cli *ctx);
int cmd_diff(int argc, char **argv, cli *ctx);
int cmd_envs(int argc, char **argv, cli *ctx);
int cmd_export(int argc, char **argv, cli *ctx);
int cmd_fmt(int argc, char **argv, cli *ctx);
int cmd_import(int argc, char **argv, cli *ctx);
int cmd_plan(int argc, char **argv, cli *ctx);
int cmd_apply(int argc, char **argv, cli *ctx);
int cmd_status(int argc, char **argv, cli *ctx);
int cmd_lock(int argc, char **argv, cli *ctx);
int cmd_logs(int argc, char **argv, cli *ctx);
int cmd_cancel(int argc, char **argv, cli *ctx);
int cmd_supervise(int argc, char **argv, cli *ctx);

/* Prints to stderr "amlspec <verb>: error: ..." and returns EXIT_FAIL. */
int cli_error(const cli *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage(const cli *ctx, const char *usage);

/* One option of a verb: a flag (sets *flag) or, with value, an option that
 * takes one ("NAME V" or "NAME=V"). name may list aliases: "-out|--out". */
typedef struct cli_opt {
	const char *name;
	bool *flag;
	const char **value;
} cli_opt;

/* A verb's arguments: -h/--help prints usage; the options in opts (ending
 * with a NULL name) are set; anything else starting with '-' is an error
 * followed by the usage; the rest are paths, in a new array (*paths, freed
 * by the caller, NULL when an exit code is returned). Returns -1 when the
 * verb goes on, else the exit code to return. */
int cli_parse(cli *ctx, int argc, char **argv, const char *usage, const cli_opt *opts, char ***paths, int *npaths);
/* Prints diagnostics as text (stderr) with colour when enabled. */
void cli_print_diags(const cli *ctx, const diag_list *diags, FILE *out);
json_object *cli_diags_json(const diag_list *diags);
/* A new envelope {"format_version": "1.0", "command": verb}. */
json_object *cli_envelope(const cli *ctx);
/* Writes JSON to stdout, pretty, with a final newline; consumes o. */
void cli_print_json(json_object *o);
/* Colour helpers: return "" when colour is off. */
const char *cli_c(const cli *ctx, const char *code);
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RESET "\033[0m"

/* Option helper: returns the value of --name=value / --name value at argv[*i]
 * (advancing *i), or NULL when argv[*i] is not that option. */
const char *cli_opt_value(int argc, char **argv, int *i, const char *name, bool *missing);

#endif
