/* placeholder: filled in by its owner */
typedef int cairn_placeholder_provisioner_expr_c;
