#include "target/target.h"

#include <string.h>

bool target_check_remote = true;

static const target_ops *const all_targets[] = {
	&target_local,
	&target_ssh,
	&target_slurm,
	&target_azureml,
};

const target_ops *target_by_type(const char *type)
{
	for (size_t i = 0; i < sizeof(all_targets) / sizeof(all_targets[0]); i++)
		if (!strcmp(all_targets[i]->type, type))
			return all_targets[i];
	return NULL;
}

const target_ops *target_for(const workspace *ws, const char *target_name, const target_config **cfg)
{
	*cfg = NULL;
	if (!strcmp(target_name, "local"))
		return &target_local;
	const target_config *c = workspace_target(ws, target_name);
	if (!c)
		return NULL;
	*cfg = c;
	return target_by_type(c->type);
}
