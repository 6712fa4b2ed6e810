/*
 * graph.h - a small directed graph over named nodes: dependency edges,
 * cycle detection with the cycle's path, topological order, DOT output.
 *
 * Used for the stack's resources (an edge a -> b means "a depends on b",
 * from ${b.attr} references and depends_on). Nodes are indices 0..n-1 with a
 * name and a position for error messages.
 */
#ifndef CAIRN_GRAPH_H
#define CAIRN_GRAPH_H

#include "base/buf.h"
#include "base/error.h"

#include <stddef.h>

typedef struct cairn_graph cairn_graph;

/* A graph of n nodes; names and positions are borrowed (must outlive it). */
int cairn_graph_new(cairn_graph **out, size_t n, const char *const *names, const cairn_pos *pos);
void cairn_graph_free(cairn_graph *g);
/* from depends on to; duplicates are ignored. */
int cairn_graph_add_edge(cairn_graph *g, size_t from, size_t to);
size_t cairn_graph_size(const cairn_graph *g);
/* Dependencies of a node (borrowed array). */
const size_t *cairn_graph_deps(const cairn_graph *g, size_t node, size_t *n);
/* Order such that every node comes after its dependencies (stable: ties in
 * index order). order must hold cairn_graph_size() entries. A cycle is
 * CAIRN_EINVAL "dependency cycle: a -> b -> a" at the first node's position. */
int cairn_graph_toposort(const cairn_graph *g, size_t *order);
/* Mark in `mark` (n bytes, set to 1) every node reachable from `node`
 * following dependencies (deps = 1) or dependents (deps = 0). */
void cairn_graph_reach(const cairn_graph *g, size_t node, int deps, unsigned char *mark);
/* DOT: digraph with one node per name, edges from dependent to dependency. */
int cairn_graph_dot(const cairn_graph *g, const char *title, cairn_buf *out);

#endif
