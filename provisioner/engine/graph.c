/*
 * graph.c - dependency graph, cycle detection and DOT (see graph.h).
 */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

typedef struct node {
	size_t *deps;
	size_t ndeps, adeps;
} node;

struct cairn_graph {
	size_t n;
	const char *const *names;
	const cairn_pos *pos;
	node *nodes;
};

int cairn_graph_new(cairn_graph **out, size_t n, const char *const *names, const cairn_pos *pos)
{
	cairn_graph *g = calloc(1, sizeof(*g));

	if (!g || (n && !(g->nodes = calloc(n, sizeof(node))))) {
		free(g);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	g->n = n;
	g->names = names;
	g->pos = pos;
	*out = g;
	return 0;
}

void cairn_graph_free(cairn_graph *g)
{
	size_t i;

	if (!g)
		return;
	for (i = 0; i < g->n; i++)
		free(g->nodes[i].deps);
	free(g->nodes);
	free(g);
}

int cairn_graph_add_edge(cairn_graph *g, size_t from, size_t to)
{
	node *nd = &g->nodes[from];
	size_t i;

	for (i = 0; i < nd->ndeps; i++)
		if (nd->deps[i] == to)
			return 0;
	if (nd->ndeps == nd->adeps) {
		size_t a = nd->adeps ? nd->adeps * 2 : 4;
		size_t *p = realloc(nd->deps, a * sizeof(*p));

		if (!p)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		nd->deps = p;
		nd->adeps = a;
	}
	nd->deps[nd->ndeps++] = to;
	return 0;
}

size_t cairn_graph_size(const cairn_graph *g)
{
	return g->n;
}

const size_t *cairn_graph_deps(const cairn_graph *g, size_t n, size_t *count)
{
	*count = g->nodes[n].ndeps;
	return g->nodes[n].deps;
}

enum { WHITE, GREY, BLACK };

/* Iterative DFS (a 10,000-node chain must not blow the stack). */
static int visit(const cairn_graph *g, size_t start, unsigned char *color, size_t *order,
		 size_t *norder, size_t *stack, size_t *iter)
{
	size_t sp = 0;

	stack[sp] = start;
	iter[sp] = 0;
	sp++;
	color[start] = GREY;
	while (sp) {
		size_t v = stack[sp - 1];
		node *nd = &g->nodes[v];

		if (iter[sp - 1] < nd->ndeps) {
			size_t w = nd->deps[iter[sp - 1]++];

			if (color[w] == GREY) {
				cairn_buf b = CAIRN_BUF_INIT;
				size_t i = 0, j;

				while (stack[i] != w)
					i++;
				cairn_buf_puts(&b, "dependency cycle: ");
				for (j = i; j < sp; j++)
					cairn_buf_printf(&b, "%s -> ", g->names[stack[j]]);
				cairn_buf_puts(&b, g->names[w]);
				cairn_error_set_at(CAIRN_EINVAL, g->pos ? &g->pos[w] : NULL, "%s", cairn_buf_cstr(&b));
				cairn_buf_release(&b);
				return CAIRN_EINVAL;
			}
			if (color[w] == WHITE) {
				color[w] = GREY;
				stack[sp] = w;
				iter[sp] = 0;
				sp++;
			}
		} else {
			color[v] = BLACK;
			order[(*norder)++] = v;
			sp--;
		}
	}
	return 0;
}

int cairn_graph_toposort(const cairn_graph *g, size_t *order)
{
	unsigned char *color = calloc(g->n ? g->n : 1, 1);
	size_t *stack = malloc((g->n + 1) * sizeof(size_t));
	size_t *iter = malloc((g->n + 1) * sizeof(size_t));
	size_t norder = 0, i;
	int rc = 0;

	if (!color || !stack || !iter) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < g->n && !rc; i++)
		if (color[i] == WHITE)
			rc = visit(g, i, color, order, &norder, stack, iter);
cleanup:
	free(color);
	free(stack);
	free(iter);
	return rc;
}

void cairn_graph_reach(const cairn_graph *g, size_t start, int deps, unsigned char *mark)
{
	size_t *queue = malloc((g->n + 1) * sizeof(size_t));
	size_t head = 0, tail = 0, i, j;

	if (!queue)
		return;
	mark[start] = 1;
	queue[tail++] = start;
	while (head < tail) {
		size_t v = queue[head++];

		if (deps) {
			for (j = 0; j < g->nodes[v].ndeps; j++) {
				size_t w = g->nodes[v].deps[j];

				if (!mark[w]) {
					mark[w] = 1;
					queue[tail++] = w;
				}
			}
		} else {
			for (i = 0; i < g->n; i++) {
				if (mark[i])
					continue;
				for (j = 0; j < g->nodes[i].ndeps; j++)
					if (g->nodes[i].deps[j] == v) {
						mark[i] = 1;
						queue[tail++] = i;
						break;
					}
			}
		}
	}
	free(queue);
}

static void dot_id(cairn_buf *out, const char *s)
{
	cairn_buf_putc(out, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			cairn_buf_putc(out, '\\');
		cairn_buf_putc(out, *s);
	}
	cairn_buf_putc(out, '"');
}

int cairn_graph_dot(const cairn_graph *g, const char *title, cairn_buf *out)
{
	size_t i, j;

	cairn_buf_puts(out, "digraph ");
	dot_id(out, title ? title : "cairn");
	cairn_buf_puts(out, " {\n  rankdir = \"RL\";\n  node [shape = \"box\"];\n");
	for (i = 0; i < g->n; i++) {
		cairn_buf_puts(out, "  ");
		dot_id(out, g->names[i]);
		cairn_buf_puts(out, ";\n");
	}
	for (i = 0; i < g->n; i++)
		for (j = 0; j < g->nodes[i].ndeps; j++) {
			cairn_buf_puts(out, "  ");
			dot_id(out, g->names[i]);
			cairn_buf_puts(out, " -> ");
			dot_id(out, g->names[g->nodes[i].deps[j]]);
			cairn_buf_puts(out, ";\n");
		}
	return cairn_buf_puts(out, "}\n");
}
