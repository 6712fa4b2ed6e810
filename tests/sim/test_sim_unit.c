/*
 * test_sim_unit.c - unit tests of the sim's building blocks: form parsing
 * and the Query list conventions, filter wildcards, XML escaping, SigV4
 * verification against AWS's documented example, the store's lazy
 * status changes, engine version prefixes. TAP output.
 */
#include "sim/qsvc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int n_tests, n_failed;

#define CHECK(cond, name) do { \
	n_tests++; \
	if (cond) printf("ok %d - %s\n", n_tests, name); \
	else { n_failed++; printf("not ok %d - %s (%s:%d)\n", n_tests, name, __FILE__, __LINE__); } \
} while (0)

static void test_sim__form(void)
{
	static const char body[] = "Action=CreateVpc&CidrBlock=10.0.0.0%2F16&Tag.2.Key=b&Tag.1.Key=a+b"
		"&Tag.1.Value=x%26y&Filter.1.Name=tag%3AName&Filter.1.Value.2=two&Filter.1.Value.1=one&empty=&bare";
	cairn_sim_form *f = NULL;
	cairn_sim_tag *tags = NULL;
	cairn_sim_filters fl = { NULL, 0 };
	size_t n = 0;

	CHECK(cairn_sim_form_parse(&f, body, strlen(body)) == 0, "form parses");
	CHECK(strcmp(cairn_sim_form_get(f, "CidrBlock"), "10.0.0.0/16") == 0, "percent-decoding");
	CHECK(strcmp(cairn_sim_form_get(f, "empty"), "") == 0 && strcmp(cairn_sim_form_get(f, "bare"), "") == 0,
		"empty values");
	CHECK(cairn_sim_form_tags(f, "Tag", &tags, &n) == 0 && n == 2, "two tags");
	CHECK(n == 2 && strcmp(tags[0].key, "a b") == 0 && strcmp(tags[0].value, "x&y") == 0, "tags sorted by index, '+' is space");
	CHECK(n == 2 && tags[1].value == NULL, "tag without a value");
	CHECK(cairn_sim_form_filters(f, "Filter", &fl) == 0 && fl.n == 1, "one filter");
	CHECK(fl.n == 1 && strcmp(fl.v[0].name, "tag:Name") == 0 && fl.v[0].values.n == 2 &&
		strcmp(fl.v[0].values.v[0], "one") == 0, "filter values in index order");
	free(tags);
	cairn_sim_filters_release(&fl);
	cairn_sim_form_free(f);

	f = NULL;
	CHECK(cairn_sim_form_parse(&f, "VpcId.x=1", 9) == 0, "form with a bad index parses");
	{
		cairn_sim_strs s = { NULL, 0, 0 };

		CHECK(cairn_sim_form_list(f, "VpcId", &s) == CAIRN_EINVAL, "non-numeric list index is an error");
		cairn_sim_strs_release(&s);
	}
	cairn_sim_form_free(f);
}

static void test_sim__glob(void)
{
	CHECK(cairn_sim_glob_match("web-*", "web-1"), "star");
	CHECK(cairn_sim_glob_match("w?b", "web"), "question mark");
	CHECK(!cairn_sim_glob_match("web", "web-1"), "exact");
	CHECK(cairn_sim_glob_match("a\\*b", "a*b") && !cairn_sim_glob_match("a\\*b", "axb"), "escaped star");
	CHECK(cairn_sim_glob_match("*", ""), "star matches empty");
}

static void test_sim__xml(void)
{
	cairn_sim_xml x;

	cairn_sim_xml_init(&x);
	cairn_sim_xml_elem(&x, "v", "<a href=\"x\">&'</a>");
	CHECK(x.err == 0 && strcmp(x.buf.ptr, "<v>&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;</v>") == 0,
		"xml escaping");
	cairn_sim_xml_release(&x);
}

static const char *example_header(void *ctx, const char *name)
{
	(void)ctx;
	if (strcmp(name, "content-type") == 0)
		return "application/x-www-form-urlencoded; charset=utf-8";
	if (strcmp(name, "host") == 0)
		return "iam.amazonaws.com";
	if (strcmp(name, "x-amz-date") == 0)
		return "20150830T123600Z";
	return NULL;
}

/* The example of AWS's "Signature Version 4 signing process" documentation. */
static void test_sim__sigv4(void)
{
	static const char auth[] = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
		"SignedHeaders=content-type;host;x-amz-date, "
		"Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
	static const char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	cairn_sim_sigv4 sig;
	const char *detail = NULL;
	time_t when = 1440938160; /* 2015-08-30T12:36:00Z */

	CHECK(cairn_sim_sigv4_parse(&sig, auth) == 0, "authorization parses");
	CHECK(strcmp(sig.region, "us-east-1") == 0 && strcmp(sig.service, "iam") == 0, "scope");
	CHECK(cairn_sim_sigv4_verify(&sig, secret, "GET", "/", "Version=2010-05-08&Action=ListUsers",
		example_header, NULL, "", 0, when, &detail) == CAIRN_SIM_AUTH_OK,
		"documented example verifies (query re-sorted)");
	CHECK(cairn_sim_sigv4_verify(&sig, "other", "GET", "/", "Action=ListUsers&Version=2010-05-08",
		example_header, NULL, "", 0, when, &detail) == CAIRN_SIM_AUTH_BAD_SIGNATURE, "wrong secret");
	CHECK(cairn_sim_sigv4_verify(&sig, secret, "POST", "/", "Action=ListUsers&Version=2010-05-08",
		example_header, NULL, "", 0, when, &detail) == CAIRN_SIM_AUTH_BAD_SIGNATURE, "other method");
	CHECK(cairn_sim_sigv4_verify(&sig, secret, "GET", "/", "Action=ListUsers&Version=2010-05-08",
		example_header, NULL, "", 0, when + 16 * 60, &detail) == CAIRN_SIM_AUTH_EXPIRED, "16 minutes later");
	CHECK(cairn_sim_sigv4_parse(&sig, "AWS4-HMAC-SHA256 Credential=AK/2015/x, Signature=00") == CAIRN_EINVAL,
		"malformed authorization");
}

static void test_sim__store(void)
{
	cairn_sim_store *s = NULL;
	cairn_sim_resource *r = NULL, *got = NULL;
	cairn_sim_reslist l = { NULL, 0, 0 };

	CHECK(cairn_sim_store_open(&s, NULL) == 0, "in-memory store");
	cairn_sim_resource_new(&r, "x-1", "test:thing", "r1");
	cairn_sim_resource_set_status(r, "creating", "available", cairn_sim_now() + 0.05);
	CHECK(cairn_sim_store_put(s, r) == 0 && r->seq > 0, "put assigns seq");
	CHECK(cairn_sim_store_get(s, "x-1", &got) == 0 && strcmp(got->status, "creating") == 0, "not yet due");
	cairn_sim_resource_free(got);
	usleep(80000);
	CHECK(cairn_sim_store_get(s, "x-1", &got) == 0 && strcmp(got->status, "available") == 0, "due change applied");
	cairn_sim_resource_free(got);
	cairn_sim_resource_set_status(r, "deleting", CAIRN_SIM_STATUS_GONE, cairn_sim_now() - 1);
	cairn_sim_store_put(s, r);
	CHECK(cairn_sim_store_list(s, "test:thing", NULL, NULL, &l) == 0 && l.n == 0, "gone when due");
	CHECK(cairn_sim_store_get(s, "x-1", &got) == CAIRN_ENOTFOUND, "gone for good");
	cairn_sim_reslist_release(&l);
	cairn_sim_resource_free(r);
	cairn_sim_store_free(s);
}

static void test_sim__version_prefix(void)
{
	CHECK(qsvc_version_prefix("16", "16.3") && qsvc_version_prefix("7.1", "7.1.0"), "a prefix at a boundary");
	CHECK(qsvc_version_prefix("16.3", "16.3"), "the version itself");
	CHECK(!qsvc_version_prefix("1", "16.3") && !qsvc_version_prefix("16.3", "16") &&
		!qsvc_version_prefix("", "16.3") && !qsvc_version_prefix("16", NULL), "not a prefix");
	CHECK(qsvc_version_older("6.2.6", "7.1.0") && qsvc_version_older("9.6.24", "10.1") &&
		qsvc_version_older("16.3", "17.2") && qsvc_version_older("7.0.7", "7.1"), "older, numbers as numbers");
	CHECK(!qsvc_version_older("7.1", "7.1.0") && !qsvc_version_older("7.1.0", "7.1") &&
		!qsvc_version_older("17.2", "16.3") && !qsvc_version_older("16.3", "16.3"), "not older");
	CHECK(qsvc_version_older("19.0.0.0.ru-2023-10", "19.0.0.0.ru-2024-01") &&
		!qsvc_version_older("15.00.4345.5.v1", "15.00.4345.5.v1"), "text parts compared as text");
}

int main(void)
{
	test_sim__form();
	test_sim__glob();
	test_sim__xml();
	test_sim__sigv4();
	test_sim__store();
	test_sim__version_prefix();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
