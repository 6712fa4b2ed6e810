/*
 * fuzz_config.c - the stack loader (lang/config*.c): a stack.yaml and a
 * dev.yaml overlay taken from the input, split on FUZZ_SEP, written to a
 * private directory and loaded as `cairn validate -e dev` does (stack,
 * overlay, variables with their validations), then every resource's
 * count / for_each / properties and every output evaluated against the
 * variables, as the planner would with no resource known yet.
 *
 * Seeds: tests/fuzz/seeds/config/ and the stack corpus (tests/corpus),
 * each case joined by tests/fuzz/run.sh into one input.
 */
#include "fuzz.h"
#include "lang/config.h"

static void eval_quietly(const cairn_expr *e, const cairn_eval_ctx *ctx)
{
	json_t *v = NULL;

	if (e && cairn_expr_eval(&v, e, ctx) == 0)
		json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_part parts[2];
	char stack_path[512], env_path[512];
	cairn_stack *s = NULL;
	cairn_env_cfg *env = NULL;
	json_t *vars = NULL, *root = NULL;
	cairn_eval_ctx ctx;
	size_t i;

	fuzz_split(parts, 2, data, size);
	fuzz_write(stack_path, sizeof(stack_path), "stack.yaml", parts[0].ptr, parts[0].len);
	fuzz_write(env_path, sizeof(env_path), "dev.yaml", parts[1].ptr, parts[1].len);
	if (cairn_stack_load(&s, stack_path) != 0)
		goto cleanup;
	if (cairn_env_load(&env, s, "dev") != 0 || cairn_vars_resolve(&vars, s, env, NULL) != 0)
		goto cleanup;
	root = json_pack("{s:O,s:{s:s,s:s},s:{s:s}}", "var", vars, "env", "name", "dev", "stack", s->name,
			 "path", "stack", s->dir);
	if (!root)
		abort();
	memset(&ctx, 0, sizeof(ctx));
	ctx.root = root;
	ctx.base_dir = s->dir;
	for (i = 0; i < s->nresources; i++) {
		eval_quietly(s->resources[i].count, &ctx);
		eval_quietly(s->resources[i].for_each, &ctx);
		eval_quietly(s->resources[i].props, &ctx);
		eval_quietly(s->resources[i].prevent_destroy, &ctx);
	}
	for (i = 0; i < s->noutputs; i++)
		eval_quietly(s->outputs[i].value, &ctx);
cleanup:
	json_decref(root);
	json_decref(vars);
	cairn_env_free(env);
	cairn_stack_free(s);
	cairn_error_clear();
	return 0;
}
