/*
 * fuzz_query.c - the sim's Query request parsing (sim/query.c): the input
 * is a form-encoded body as a client POSTs it. The form is parsed, read
 * the way actions read it (Action, Version, lists VpcId.N, tags Tag.N.Key,
 * filters Filter.N.Name / Filter.N.Value.M, and the same for the first
 * key's own prefix), filter values are matched against every value as
 * DescribeX does, and every value is written into an XML answer, which
 * must then be well-formed: expat (what clients parse answers with)
 * must accept it.
 *
 * Seeds: tests/fuzz/seeds/query/ (bodies as cairn's modules send them).
 */
#include "fuzz.h"
#include "sim/sim_internal.h"

#include <expat.h>

static void read_like_actions(const cairn_sim_form *f, const char *prefix)
{
	cairn_sim_strs list = { 0 };
	cairn_sim_tag *tags = NULL;
	cairn_sim_filters fl = { 0 };
	size_t ntags = 0, i, j, k;

	cairn_sim_form_list(f, prefix, &list);
	cairn_sim_strs_release(&list);
	if (cairn_sim_form_tags(f, prefix, &tags, &ntags) == 0)
		free(tags);
	if (cairn_sim_form_filters(f, prefix, &fl) == 0) {
		for (i = 0; i < fl.n; i++)
			for (j = 0; j < fl.v[i].values.n; j++)
				for (k = 0; k < f->n && k < 16; k++)
					cairn_sim_glob_match(fl.v[i].values.v[j], f->pairs[k].value);
		cairn_sim_filters_release(&fl);
	}
	cairn_error_clear();
}

static void check_xml(const cairn_sim_form *f)
{
	cairn_sim_xml x;
	XML_Parser p;
	size_t i;
	long long n;

	cairn_sim_xml_init(&x);
	cairn_sim_xml_raw(&x, "<DescribeTagsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">");
	cairn_sim_xml_open(&x, "tagSet");
	for (i = 0; i < f->n; i++) {
		cairn_sim_xml_open(&x, "item");
		cairn_sim_xml_elem(&x, "key", f->pairs[i].key);
		cairn_sim_xml_elem(&x, "value", f->pairs[i].value);
		if (cairn_sim_parse_integer(f->pairs[i].value, &n) == 0)
			cairn_sim_xml_elemf(&x, "number", "%lld", n);
		cairn_sim_xml_close(&x, "item");
	}
	cairn_sim_xml_close(&x, "tagSet");
	cairn_sim_xml_raw(&x, "</DescribeTagsResponse>");
	if (x.err)
		abort();
	if (!(p = XML_ParserCreate("UTF-8")))
		abort();
	if (XML_Parse(p, x.buf.ptr, (int)x.buf.len, XML_TRUE) != XML_STATUS_OK) {
		fprintf(stderr, "the sim wrote XML that expat refuses (%s at line %lu col %lu):\n%.*s\n",
			XML_ErrorString(XML_GetErrorCode(p)), (unsigned long)XML_GetCurrentLineNumber(p),
			(unsigned long)XML_GetCurrentColumnNumber(p), (int)x.buf.len, x.buf.ptr);
		abort();
	}
	XML_ParserFree(p);
	cairn_sim_xml_release(&x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const prefixes[] = { "VpcId", "SubnetId", "Tag", "Filter", "TagSpecification.1.Tag",
						"ResourceId", NULL };
	cairn_sim_form *f = NULL;
	size_t i;

	if (cairn_sim_form_parse(&f, (const char *)data, size) != 0) {
		cairn_error_clear();
		return 0;
	}
	cairn_sim_form_get(f, "Action");
	cairn_sim_form_getf(f, "%s.%d", "VpcId", 1);
	for (i = 0; prefixes[i]; i++)
		read_like_actions(f, prefixes[i]);
	if (f->n) {
		char prefix[128];
		size_t n = strcspn(f->pairs[0].key, ".");

		if (n < sizeof(prefix)) {
			memcpy(prefix, f->pairs[0].key, n);
			prefix[n] = '\0';
			read_like_actions(f, prefix);
		}
	}
	check_xml(f);
	cairn_sim_form_free(f);
	return 0;
}
