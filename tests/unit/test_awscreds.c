/* placeholder: filled in by its owner */
#include "t.h"
static void test_awscreds__placeholder(void) { T_CHECK(1); }
static const t_case cases[] = { T_CASE(test_awscreds__placeholder), { 0 } };
int main(int argc, char **argv) { return t_main(cases, argc, argv); }
