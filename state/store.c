/* placeholder: filled in by its owner */
typedef int cairn_placeholder_state_store_c;
