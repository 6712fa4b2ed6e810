/*
 * fuzz_plan.c - the saved-plan reader: the input is a plan file.
 *
 *  1. `cairn apply FILE` as a user runs it, in-process (cli/cli.c: the
 *     plan file's parsing, its environment and stack, the engine opened on
 *     a small stack in a private directory, the staleness checks), output
 *     thrown away. Seeds carry a config_hash that does not match, so no
 *     input gets as far as applying anything.
 *  2. cairn_plan_load_saved (engine/plan.c) on an engine whose config_hash
 *     and serial are those of the seeds (HASH below, serial 0), so that the
 *     fuzzer gets past the staleness checks into the inputs and the
 *     resource changes, then cairn_plan_verify_saved.
 *
 * Seeds: tests/fuzz/seeds/plan/ (plans written by `cairn plan -out`).
 */
#include "fuzz.h"
#include "cli/cli.h"
#include "engine/engine.h"

#include <fcntl.h>
#include <getopt.h>
#include <sanitizer/common_interface_defs.h>

#define HASH "0f3c9e7d5b1a2c4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"

static char stack_dir[300], stack_path[512], plan_path[512];
static int devnull = -1, real_stderr = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[512];
	static const char stack[] =
		"stack: fuzz\n"
		"variables:\n  name: {type: string, default: web}\n"
		"resources:\n  r:\n    type: null.resource\n    triggers: {name: \"${var.name}\"}\n"
		"outputs:\n  name: {value: \"${var.name}\"}\n";

	unsetenv("CAIRN_ENV");
	snprintf(stack_dir, sizeof(stack_dir), "%s", fuzz_dir());
	fuzz_write(stack_path, sizeof(stack_path), "stack.yaml", stack, sizeof(stack) - 1);
	fuzz_write(path, sizeof(path), "dev.yaml", "variables: {name: api}\n", 23);
	/* the CLI prints: plans to stdout, errors to stderr. Sanitizer reports
	 * keep the real stderr (a copy of it), the CLI's lines go nowhere. */
	devnull = open("/dev/null", O_WRONLY);
	real_stderr = dup(2);
	if (devnull < 0 || real_stderr < 0 || dup2(devnull, 1) < 0)
		abort();
	__sanitizer_set_report_fd((void *)(intptr_t)real_stderr);
	return 0;
}

static void run_cli(void)
{
	/* --stack: the plan's own stack_file must not lead it elsewhere */
	char *argv[] = { "cairn", "apply", plan_path, "-C", stack_dir, "--stack", stack_path,
			 "--lock-timeout", "0", NULL };

	optind = 0; /* getopt_long starts afresh */
	fflush(stderr);
	dup2(devnull, 2);
	cairn_cli_main(9, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(real_stderr, 2);
	cairn_error_clear();
}

static void load_saved(const uint8_t *data, size_t size)
{
	cairn_engine e;
	json_t *doc, *forced = NULL;
	char state[sizeof(stack_dir) + 32];

	if (!(doc = json_loadb((const char *)data, size, 0, NULL)))
		return;
	memset(&e, 0, sizeof(e));
	e.opts.env = "dev";
	memcpy(e.config_hash, HASH, sizeof(e.config_hash));
	e.serial = 0;
	/* no key beside it: a plan that parses stops at its MAC, as an edited one does */
	snprintf(state, sizeof(state), "%s/.cairn/state.db", stack_dir);
	e.state_path = state;
	if (cairn_plan_load_saved(&e, doc, plan_path, &forced) == 0)
		cairn_plan_verify_saved(&e, forced);
	json_decref(forced);
	json_decref(doc);
	cairn_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write(plan_path, sizeof(plan_path), "plan.json", data, size);
	run_cli();
	load_saved(data, size);
	return 0;
}
