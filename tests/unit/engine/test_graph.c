/*
 * test_graph.c - dependency graph: order, cycles with their path, DOT.
 */
#include "t.h"
#include "engine/graph.h"

static const char *names[] = { "vpc", "subnet", "db", "app" };
static cairn_pos pos[] = { { "s.yaml", 2, 3 }, { "s.yaml", 5, 3 }, { "s.yaml", 9, 3 }, { "s.yaml", 12, 3 } };

static size_t where(const size_t *order, size_t n, size_t v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (order[i] == v)
			return i;
	return n;
}

static void test_graph__order(void)
{
	cairn_graph *g = NULL;
	size_t order[4];

	T_OK(cairn_graph_new(&g, 4, names, pos));
	T_OK(cairn_graph_add_edge(g, 1, 0)); /* subnet -> vpc */
	T_OK(cairn_graph_add_edge(g, 2, 1)); /* db -> subnet */
	T_OK(cairn_graph_add_edge(g, 3, 2)); /* app -> db */
	T_OK(cairn_graph_add_edge(g, 3, 0));
	T_OK(cairn_graph_add_edge(g, 3, 0)); /* duplicate ignored */
	T_OK(cairn_graph_toposort(g, order));
	T_CHECK(where(order, 4, 0) < where(order, 4, 1));
	T_CHECK(where(order, 4, 1) < where(order, 4, 2));
	T_CHECK(where(order, 4, 2) < where(order, 4, 3));
	{
		size_t n;

		cairn_graph_deps(g, 3, &n);
		T_EQ_INT(n, 2);
	}
	cairn_graph_free(g);
}

static void test_graph__cycle_path(void)
{
	cairn_graph *g = NULL;
	size_t order[4];
	const cairn_error *e;

	T_OK(cairn_graph_new(&g, 4, names, pos));
	T_OK(cairn_graph_add_edge(g, 0, 1));
	T_OK(cairn_graph_add_edge(g, 1, 2));
	T_OK(cairn_graph_add_edge(g, 2, 0));
	T_EQ_INT(cairn_graph_toposort(g, order), CAIRN_EINVAL);
	e = cairn_error_last();
	T_EQ_STR(e->message, "dependency cycle: vpc -> subnet -> db -> vpc");
	T_EQ_STR(e->file, "s.yaml");
	T_EQ_INT(e->line, 2);
	cairn_graph_free(g);
}

static void test_graph__self_cycle(void)
{
	cairn_graph *g = NULL;
	size_t order[4];

	T_OK(cairn_graph_new(&g, 4, names, pos));
	T_OK(cairn_graph_add_edge(g, 3, 3));
	T_EQ_INT(cairn_graph_toposort(g, order), CAIRN_EINVAL);
	T_EQ_STR(cairn_error_last()->message, "dependency cycle: app -> app");
	cairn_graph_free(g);
}

static void test_graph__long_chain(void)
{
	enum { N = 20000 };
	static const char *nm[N];
	static size_t order[N];
	cairn_graph *g = NULL;
	size_t i;

	for (i = 0; i < N; i++)
		nm[i] = "r";
	T_OK(cairn_graph_new(&g, N, nm, NULL));
	for (i = 1; i < N; i++)
		T_OK(cairn_graph_add_edge(g, i - 1, i)); /* deep chain: no recursion overflow */
	T_OK(cairn_graph_toposort(g, order));
	T_EQ_INT(order[0], N - 1);
	T_EQ_INT(order[N - 1], 0);
	cairn_graph_free(g);
}

static void test_graph__reach_and_dot(void)
{
	cairn_graph *g = NULL;
	unsigned char mark[4] = { 0 };
	cairn_buf b = CAIRN_BUF_INIT;

	T_OK(cairn_graph_new(&g, 4, names, pos));
	T_OK(cairn_graph_add_edge(g, 1, 0));
	T_OK(cairn_graph_add_edge(g, 2, 1));
	cairn_graph_reach(g, 2, 1, mark);
	T_CHECK(mark[0] && mark[1] && mark[2] && !mark[3]);
	memset(mark, 0, sizeof(mark));
	cairn_graph_reach(g, 0, 0, mark);
	T_CHECK(mark[0] && mark[1] && mark[2] && !mark[3]);
	T_OK(cairn_graph_dot(g, "demo", &b));
	T_CONTAINS(cairn_buf_cstr(&b), "digraph \"demo\" {");
	T_CONTAINS(cairn_buf_cstr(&b), "\"subnet\" -> \"vpc\";");
	T_CONTAINS(cairn_buf_cstr(&b), "\"app\";");
	cairn_buf_release(&b);
	cairn_graph_free(g);
}

static const t_case cases[] = {
	T_CASE(test_graph__order),
	T_CASE(test_graph__cycle_path),
	T_CASE(test_graph__self_cycle),
	T_CASE(test_graph__long_chain),
	T_CASE(test_graph__reach_and_dot),
	{ 0 }
};

int main(int argc, char **argv) { return t_main(cases, argc, argv); }
