/* placeholder: filled in by its owner */
typedef int cairn_placeholder_lua_runtime_c;
