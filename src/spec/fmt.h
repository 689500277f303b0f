/* fmt: canonical layout for spec files (run specs and amlspec.yaml) that
 * keeps every comment next to what it annotates. libyaml and libfyaml drop
 * comments, so the formatter works on the source text, guided by libyaml's
 * token and event positions; see the comment at the top of fmt.c for the rules
 * and for the layouts it leaves as written. */
#ifndef AMLSPEC_FMT_H
#define AMLSPEC_FMT_H

#include <stddef.h>

#include "spec/schema.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/strlist.h"

/* The format of a file, from its name: amlspec.yaml is the workspace file,
 * anything else a run spec. */
const schema *fmt_schema_for_path(const char *path);

/* Formats text (len bytes) of the file named file (used in diagnostics).
 * sch gives the canonical key order (NULL: keep every order as written).
 * Appends the result to out; it equals the input when nothing changes.
 * Returns
 *   AML_OK        formatted (or left as written, with a warning that says why);
 *   AML_EINVALID  the YAML does not load: diagnostics as validate reports them;
 *   AML_ERROR     the formatter's own checks refused its result (the tree,
 *                 a comment or idempotence would change): a diagnostic says
 *                 which. The caller must keep the file as it is.
 * On an error nothing is appended to out. */
int fmt_format(buf *out, const char *file, const char *text, size_t len, const schema *sch,
	       diag_list *diags);

/* The comments of text and what each one is attached to, one string per
 * comment, sorted: "KIND PATH\t# text" where KIND is header, lead (the lines
 * above an entry), trail (end of an entry's line), tail (after the last entry
 * of a mapping or sequence) or inside (within an entry left as written), and
 * PATH a key path such as environment.python.version or arguments[1].
 * Returns AML_OK, or AML_EINVALID when text does not load. */
int fmt_comment_attachments(strlist *out, const char *text, size_t len, const schema *sch);

/* Appends a unified diff of a -> b (3 lines of context, git's ---/+++ labels)
 * to out; appends nothing when they are equal. */
void fmt_unified_diff(buf *out, const char *a_label, const char *b_label, const char *a, size_t alen,
		      const char *b, size_t blen);

#endif
