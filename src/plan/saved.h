/* saved: plan -out FILE / apply FILE. A saved plan records the state serial,
 * the lock file and every input's digest it was made against, so that apply
 * does exactly that plan or refuses, naming what moved. */
#ifndef AMLSPEC_SAVED_PLAN_H
#define AMLSPEC_SAVED_PLAN_H

#include "plan/plan.h"

/* The saved form of p (includes the rendered JSON plan). */
json_object *saved_plan_new(const plan *p, const workspace *ws, const cli *ctx);
int saved_plan_write(json_object *saved, const char *path, diag_list *diags);
/* Loads path if it is a saved plan: 1 yes (*out set), 0 not a saved plan, <0 error. */
int saved_plan_load(json_object **out, const char *path, diag_list *diags);
/* The spec files the saved plan covers (absolute paths). */
void saved_plan_files(const json_object *saved, strlist *files);
/* AML_OK when p (made now, under the workspace lock) is the saved plan;
 * otherwise AML_ECONFLICT with one diagnostic per thing that moved. */
int saved_plan_check(const json_object *saved, const plan *p, const workspace *ws, diag_list *diags);

#endif
