#include "util/dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

bool dynlib_load(dynlib *lib)
{
	int state = atomic_load_explicit(&lib->state, memory_order_acquire);
	if (state)
		return state > 0;
	pthread_mutex_lock(&lib->lock);
	if (!(state = atomic_load_explicit(&lib->state, memory_order_relaxed))) {
		/* never closed: the pointers stay valid until the program ends */
		void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			snprintf(lib->why, sizeof(lib->why), "cannot load %s: %s (install or reinstall the %s package)",
				 lib->soname, dlerror(), lib->package);
			state = -1;
		} else if (!lib->resolve(h, lib->why, sizeof(lib->why))) {
			state = -1;
		} else {
			state = 1;
		}
		atomic_store_explicit(&lib->state, state, memory_order_release);
	}
	pthread_mutex_unlock(&lib->lock);
	return state > 0;
}

void dynlib_require(dynlib *lib)
{
	if (dynlib_load(lib))
		return;
	fprintf(stderr, "amlspec: %s\n", lib->why);
	exit(1);
}
