/* placeholder: filled in by its owner */
typedef int cairn_placeholder_state_secret_c;
