/* placeholder: filled in by its owner */
typedef int cairn_placeholder_provisioner_awscreds_c;
