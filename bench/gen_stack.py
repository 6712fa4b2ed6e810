#!/usr/bin/env python3
"""Generate a benchmark stack: N null.resource instances with references.

Resource i depends on resource (i-1)//2 (a binary tree, depth log2 N), so the
graph has N-1 reference edges and apply can run wide.
usage: gen_stack.py DIR [N]
"""
import os
import sys

d = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "stack.yaml"), "w") as f:
    f.write("stack: bench\nvariables:\n  tag: { type: string, default: v1 }\nresources:\n")
    for i in range(n):
        f.write(f"  r{i}:\n    type: null.resource\n    triggers:\n      tag: \"${{var.tag}}\"\n")
        if i:
            f.write(f"      parent: \"${{r{(i - 1) // 2}.id}}\"\n")
    f.write("outputs:\n  root: { value: \"${r0.id}\" }\n")
with open(os.path.join(d, "dev.yaml"), "w") as f:
    f.write("provider: { region: us-east-1 }\n")
