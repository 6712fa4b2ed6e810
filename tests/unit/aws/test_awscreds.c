/*
 * test_awscreds.c - resolving AWS credentials from the environment and the
 * shared credentials / config files, in a throwaway HOME; role profiles
 * checked before any STS call (no network), and STS's answers read.
 */
#include "t.h"
#include "aws/sts.h"
#include "base/error.h"
#include "aws/creds.h"

#include <sys/stat.h>
#include <unistd.h>

static char home[256];

static const char *const aws_vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
	"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_ENDPOINT_URL_STS", NULL,
};

static void rm_tree(void)
{
	char p[512];

	if (!home[0])
		return;
	snprintf(p, sizeof(p), "%s/.aws/credentials", home);
	unlink(p);
	snprintf(p, sizeof(p), "%s/.aws/config", home);
	unlink(p);
	snprintf(p, sizeof(p), "%s/other.ini", home);
	unlink(p);
	snprintf(p, sizeof(p), "%s/.aws", home);
	rmdir(p);
	rmdir(home);
	home[0] = '\0';
}

static void rm_tree_file(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", home, rel);
	unlink(p);
}

/* A fresh empty HOME and no AWS_* variables. */
static int fresh_home(void)
{
	char p[512];
	int i;

	rm_tree();
	snprintf(home, sizeof(home), "/tmp/cairn-awscreds-XXXXXX");
	if (!mkdtemp(home))
		return -1;
	snprintf(p, sizeof(p), "%s/.aws", home);
	if (mkdir(p, 0700) < 0)
		return -1;
	setenv("HOME", home, 1);
	for (i = 0; aws_vars[i]; i++)
		unsetenv(aws_vars[i]);
	return 0;
}

static void write_file(const char *rel, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", home, rel);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static const char *msg(void)
{
	const cairn_error *e = cairn_error_last();

	return e ? e->message : "";
}

static void test_awscreds__env(void)
{
	cairn_aws_creds c = { 0 };

	T_CHECK(fresh_home() == 0);
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	setenv("AWS_SESSION_TOKEN", "TOKENV", 1);
	setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
	T_OK(cairn_aws_creds_resolve(&c, NULL, NULL, NULL));
	T_EQ_STR(c.access_key, "AKENV");
	T_EQ_STR(c.secret_key, "SKENV");
	T_EQ_STR(c.session_token, "TOKENV");
	T_EQ_STR(c.region, "eu-west-1");
	T_EQ_STR(c.source, "env");
	T_CHECK(c.endpoint == NULL);
	cairn_aws_creds_release(&c);

	/* AWS_REGION beats AWS_DEFAULT_REGION; arguments beat both */
	setenv("AWS_REGION", "us-west-2", 1);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566", 1);
	T_OK(cairn_aws_creds_resolve(&c, NULL, NULL, NULL));
	T_EQ_STR(c.region, "us-west-2");
	T_EQ_STR(c.endpoint, "http://127.0.0.1:4566");
	cairn_aws_creds_release(&c);
	T_OK(cairn_aws_creds_resolve(&c, NULL, "ap-south-1", "http://sim:1"));
	T_EQ_STR(c.region, "ap-south-1");
	T_EQ_STR(c.endpoint, "http://sim:1");
	cairn_aws_creds_release(&c);
	rm_tree();
}

static void test_awscreds__env_partial(void)
{
	cairn_aws_creds c = { 0 };

	T_CHECK(fresh_home() == 0);
	setenv("AWS_SECRET_ACCESS_KEY", "SKPARTIAL", 1);
	T_EQ_INT(cairn_aws_creds_resolve(&c, NULL, NULL, NULL), CAIRN_EINVAL);
	T_CONTAINS(msg(), "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
	T_CHECK(strstr(msg(), "SKPARTIAL") == NULL);
	T_CHECK(c.access_key == NULL);
	rm_tree();
}

static void test_awscreds__default_profile(void)
{
	cairn_aws_creds c = { 0 };
	char expect[512];

	T_CHECK(fresh_home() == 0);
	write_file(".aws/credentials",
		"# shared credentials\n"
		"\n"
		"[default]\n"
		"  aws_access_key_id   =   AKDEF  \r\n"
		"aws_secret_access_key=SKDEF\n"
		"; a comment\n"
		"[other]\n"
		"aws_access_key_id = AKOTHER\n"
		"aws_secret_access_key = SKOTHER\n");
	write_file(".aws/config",
		"[default]\n"
		"region = eu-central-1\n"
		"endpoint_url = http://localhost:9000\n"
		"s3 =\n"
		"  max_concurrent_requests = 4\n"
		"[profile other]\n"
		"region = us-east-2\n");
	T_OK(cairn_aws_creds_resolve(&c, NULL, NULL, NULL));
	T_EQ_STR(c.access_key, "AKDEF");
	T_EQ_STR(c.secret_key, "SKDEF");
	T_CHECK(c.session_token == NULL);
	T_EQ_STR(c.region, "eu-central-1");
	T_EQ_STR(c.endpoint, "http://localhost:9000");
	snprintf(expect, sizeof(expect), "profile default (%s/.aws/credentials)", home);
	T_EQ_STR(c.source, expect);
	cairn_aws_creds_release(&c);
	rm_tree();
}

static void test_awscreds__named_profile(void)
{
	cairn_aws_creds c = { 0 };

	T_CHECK(fresh_home() == 0);
	write_file(".aws/credentials",
		"[default]\naws_access_key_id = AKDEF\naws_secret_access_key = SKDEF\n"
		"[dev]\naws_access_key_id = AKDEV\naws_secret_access_key = SKDEV\n"
		"aws_session_token = TOKDEV\n");
	write_file(".aws/config",
		"[profile   dev ]\nregion = eu-west-3\n"
		"[profile cfgonly]\nregion = sa-east-1\n"
		"aws_access_key_id = AKCFG\naws_secret_access_key = SKCFG\n");
	setenv("AWS_PROFILE", "dev", 1);
	T_OK(cairn_aws_creds_resolve(&c, NULL, NULL, NULL));
	T_EQ_STR(c.access_key, "AKDEV");
	T_EQ_STR(c.session_token, "TOKDEV");
	T_EQ_STR(c.region, "eu-west-3");
	cairn_aws_creds_release(&c);

	/* the argument beats AWS_PROFILE; keys may live in the config file */
	T_OK(cairn_aws_creds_resolve(&c, "cfgonly", NULL, NULL));
	T_EQ_STR(c.access_key, "AKCFG");
	T_EQ_STR(c.region, "sa-east-1");
	T_CONTAINS(c.source, "profile cfgonly (");
	T_CONTAINS(c.source, "/.aws/config)");
	cairn_aws_creds_release(&c);

	/* AWS_PROFILE does not beat keys in the environment ... */
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	T_OK(cairn_aws_creds_resolve(&c, NULL, NULL, NULL));
	T_EQ_STR(c.access_key, "AKENV");
	T_EQ_STR(c.region, "eu-west-3"); /* but still gives the region */
	cairn_aws_creds_release(&c);
	/* ... a profile named by the caller does */
	T_OK(cairn_aws_creds_resolve(&c, "dev", NULL, NULL));
	T_EQ_STR(c.access_key, "AKDEV");
	cairn_aws_creds_release(&c);
	rm_tree();
}

static void test_awscreds__file_overrides(void)
{
	cairn_aws_creds c = { 0 };
	char p[512];

	T_CHECK(fresh_home() == 0);
	write_file(".aws/credentials", "[default]\naws_access_key_id = AKHOME\naws_secret_access_key = SKHOME\n");
	write_file("other.ini", "[default]\naws_access_key_id = AKOTHER\naws_secret_access_key = SKOTHER\n");
	snprintf(p, sizeof(p), "%s/other.ini", home);
	setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/cairn/config", 1);
	T_OK(cairn_aws_creds_resolve(&c, NULL, NULL, NULL));
	T_EQ_STR(c.access_key, "AKOTHER");
	T_CHECK(c.region == NULL);
	cairn_aws_creds_release(&c);
	rm_tree();
}

static void test_awscreds__missing_profile(void)
{
	cairn_aws_creds c = { 0 };
	char expect[512];

	T_CHECK(fresh_home() == 0);
	write_file(".aws/credentials", "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = SKDEF\n");
	T_EQ_INT(cairn_aws_creds_resolve(&c, "prod", NULL, NULL), CAIRN_EINVAL);
	snprintf(expect, sizeof(expect), "profile 'prod' not found in %s/.aws/credentials", home);
	T_CONTAINS(msg(), expect);
	T_CHECK(strstr(msg(), "SKDEF") == NULL);
	setenv("AWS_PROFILE", "staging", 1);
	T_EQ_INT(cairn_aws_creds_resolve(&c, NULL, NULL, NULL), CAIRN_EINVAL);
	T_CONTAINS(msg(), "profile 'staging' not found");
	T_CHECK(c.access_key == NULL);
	rm_tree();
}

static void test_awscreds__nothing_anywhere(void)
{
	cairn_aws_creds c = { 0 };
	char expect[512];

	T_CHECK(fresh_home() == 0);
	T_EQ_INT(cairn_aws_creds_resolve(&c, NULL, NULL, NULL), CAIRN_ENOTFOUND);
	T_CONTAINS(msg(), "no AWS credentials found for profile 'default'");
	T_CONTAINS(msg(), "AWS_ACCESS_KEY_ID");
	snprintf(expect, sizeof(expect), "%s/.aws/credentials (missing)", home);
	T_CONTAINS(msg(), expect);
	snprintf(expect, sizeof(expect), "%s/.aws/config (missing)", home);
	T_CONTAINS(msg(), expect);

	/* a profile with settings but no keys (say, SSO) is not enough */
	write_file(".aws/config", "[default]\nregion = us-east-1\nsso_session = corp\n");
	T_EQ_INT(cairn_aws_creds_resolve(&c, NULL, NULL, NULL), CAIRN_ENOTFOUND);
	T_CONTAINS(msg(), "[default] has no aws_access_key_id");

	unsetenv("HOME");
	T_EQ_INT(cairn_aws_creds_resolve(&c, NULL, NULL, NULL), CAIRN_ENOTFOUND);
	T_CONTAINS(msg(), "HOME is not set");
	setenv("HOME", home, 1);
	rm_tree();
}

static void test_awscreds__no_secret_in_messages(void)
{
	cairn_aws_creds c = { 0 };

	T_CHECK(fresh_home() == 0);
	/* a malformed line holding a secret: the error names file:line only */
	write_file(".aws/credentials", "[default]\naws_access_key_id = AK1\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET\n");
	T_EQ_INT(cairn_aws_creds_resolve(&c, NULL, NULL, NULL), CAIRN_EINVAL);
	T_CONTAINS(msg(), "/.aws/credentials:3:");
	T_CHECK(strstr(msg(), "SECRET") == NULL);

	/* half a key pair */
	write_file(".aws/credentials", "[default]\naws_secret_access_key = TOPSECRETVALUE\n");
	T_EQ_INT(cairn_aws_creds_resolve(&c, NULL, NULL, NULL), CAIRN_EINVAL);
	T_CONTAINS(msg(), "has aws_secret_access_key but no aws_access_key_id");
	T_CHECK(strstr(msg(), "TOPSECRETVALUE") == NULL);

	/* settings before any section, unterminated section */
	write_file(".aws/credentials", "aws_secret_access_key = TOPSECRETVALUE\n");
	T_EQ_INT(cairn_aws_creds_resolve(&c, NULL, NULL, NULL), CAIRN_EINVAL);
	T_CONTAINS(msg(), "credentials:1: a setting before any [section]");
	T_CHECK(strstr(msg(), "TOPSECRETVALUE") == NULL);
	write_file(".aws/credentials", "[default\n");
	T_EQ_INT(cairn_aws_creds_resolve(&c, NULL, NULL, NULL), CAIRN_EINVAL);
	T_CONTAINS(msg(), "credentials:1: expected [section]");

	/* the source never carries the secret either */
	write_file(".aws/credentials", "[default]\naws_access_key_id = AK1\naws_secret_access_key = TOPSECRETVALUE\n");
	T_OK(cairn_aws_creds_resolve(&c, NULL, NULL, NULL));
	T_CHECK(strstr(c.source, "TOPSECRETVALUE") == NULL);
	cairn_aws_creds_release(&c);
	rm_tree();
}

/* An executable script in HOME. */
static void write_script(const char *rel, const char *text)
{
	char p[512];

	write_file(rel, text);
	snprintf(p, sizeof(p), "%s/%s", home, rel);
	chmod(p, 0700);
}

static void test_awscreds__credential_process(void)
{
	cairn_aws_creds c = { 0 };
	char cfg[1024];

	T_CHECK(fresh_home() == 0);
	write_script("creds.sh", "#!/bin/sh\n"
		     "echo \"$@\" > \"$HOME/args\"\n"
		     "echo '{\"Version\": 1, \"AccessKeyId\": \"AKPROC\", \"SecretAccessKey\": \"SKPROC\",'\n"
		     "echo ' \"SessionToken\": \"TOKPROC\", \"Expiration\": \"2999-01-01T00:00:00Z\"}'\n");
	/* in the config file, with quoted words: split as a shell would, not run by one */
	snprintf(cfg, sizeof(cfg), "[profile dev]\nregion = eu-west-1\n"
		 "credential_process = %s/creds.sh --profile 'my dev' \"two words\"\n", home);
	write_file(".aws/config", cfg);
	T_OK(cairn_aws_creds_resolve(&c, "dev", NULL, NULL));
	T_EQ_STR(c.access_key, "AKPROC");
	T_EQ_STR(c.secret_key, "SKPROC");
	T_EQ_STR(c.session_token, "TOKPROC");
	T_EQ_STR(c.region, "eu-west-1");
	T_CONTAINS(c.source, "credential_process of profile 'dev'");
	cairn_aws_creds_release(&c);
	{
		char p[512], line[256] = "";
		FILE *f;

		snprintf(p, sizeof(p), "%s/args", home);
		f = fopen(p, "r");
		T_CHECK(f && fgets(line, sizeof(line), f));
		if (f)
			fclose(f);
		T_EQ_STR(line, "--profile my dev two words\n");
		unlink(p);
	}
	/* static keys in the credentials file come first */
	write_file(".aws/credentials", "[dev]\naws_access_key_id = AKFILE\naws_secret_access_key = SKFILE\n");
	T_OK(cairn_aws_creds_resolve(&c, "dev", NULL, NULL));
	T_EQ_STR(c.access_key, "AKFILE");
	cairn_aws_creds_release(&c);
	rm_tree_file("creds.sh");
	rm_tree();
}

static void test_awscreds__credential_process_failures(void)
{
	cairn_aws_creds c = { 0 };
	char cfg[512];
	static const struct { const char *script, *want; } cases[] = {
		{ "#!/bin/sh\necho 'helper: MFA code needed' >&2\nexit 3\n", "exited with status 3" },
		{ "#!/bin/sh\necho 'not json, SECRETVALUE here'\n", "printed no JSON object" },
		{ "#!/bin/sh\necho '{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"SECRETVALUE\"}'\n",
		  "unsupported \"Version\"" },
		{ "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"A\"}'\n", "printed no SecretAccessKey" },
		{ "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"SECRETVALUE\",'\n"
		  "echo '\"Expiration\": \"2001-01-01T00:00:00Z\"}'\n", "expired at 2001-01-01T00:00:00Z" },
		{ "#!/bin/sh\nkill -9 $$\n", "was killed (signal 9)" },
	};
	size_t i;

	T_CHECK(fresh_home() == 0);
	snprintf(cfg, sizeof(cfg), "[default]\ncredential_process = %s/creds.sh\n", home);
	write_file(".aws/config", cfg);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_script("creds.sh", cases[i].script);
		T_EQ_INT(cairn_aws_creds_resolve(&c, NULL, NULL, NULL), CAIRN_EINVAL);
		T_CONTAINS(msg(), "credential_process of profile 'default'");
		T_CONTAINS(msg(), cases[i].want);
		T_CHECK(strstr(msg(), "SECRETVALUE") == NULL);
	}
	/* a command that cannot be split or run */
	write_file(".aws/config", "[default]\ncredential_process = helper $(cat /etc/passwd)\n");
	T_EQ_INT(cairn_aws_creds_resolve(&c, NULL, NULL, NULL), CAIRN_EINVAL);
	T_CONTAINS(msg(), "command substitution is not run");
	write_file(".aws/config", "[default]\ncredential_process = helper | tee x\n");
	T_EQ_INT(cairn_aws_creds_resolve(&c, NULL, NULL, NULL), CAIRN_EINVAL);
	T_CONTAINS(msg(), "unquoted |");
	write_file(".aws/config", "[default]\ncredential_process = /nonexistent/helper\n");
	T_CHECK(cairn_aws_creds_resolve(&c, NULL, NULL, NULL) < 0);
	T_CONTAINS(msg(), "cannot run /nonexistent/helper");
	rm_tree_file("creds.sh");
	rm_tree();
}


/* A role profile's settings are checked before STS is called: each of
 * these fails without a request (the endpoint would refuse one anyway). */
static void test_awscreds__role_settings(void)
{
	cairn_aws_creds c = { 0 };
	static const struct { const char *config, *profile, *want; } cases[] = {
		{ "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/x\n", "deploy",
		  "profile 'deploy' has role_arn but neither source_profile nor credential_source" },
		{ "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = nowhere\n", "deploy",
		  "profile 'deploy': its source_profile 'nowhere' is not in " },
		{ "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = base\n"
		  "credential_source = Environment\n[profile base]\naws_access_key_id = AK\naws_secret_access_key = SECRETVALUE\n",
		  "deploy", "profile 'deploy' has both source_profile and credential_source" },
		{ "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = base\n"
		  "mfa_serial = arn:aws:iam::123456789012:mfa/me\n[profile base]\naws_access_key_id = AK\n"
		  "aws_secret_access_key = SECRETVALUE\n",
		  "deploy", "cairn does not prompt for MFA codes; get the role's credentials with a credential_process" },
		{ "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/x\ncredential_source = Ec2InstanceMetadata\n",
		  "deploy", "credential_source = Ec2InstanceMetadata is not supported" },
		{ "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/x\ncredential_source = EcsContainer\n",
		  "deploy", "credential_source = EcsContainer is not supported" },
		{ "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/x\ncredential_source = Laptop\n",
		  "deploy", "credential_source 'Laptop' is not one of Environment, Ec2InstanceMetadata, EcsContainer" },
		{ "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/x\ncredential_source = Environment\n",
		  "deploy", "credential_source = Environment but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set" },
		{ "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = base\n"
		  "duration_seconds = 60\n[profile base]\naws_access_key_id = AK\naws_secret_access_key = SECRETVALUE\n",
		  "deploy", "duration_seconds must be a number of seconds from 900 to 43200" },
		{ "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = base\n"
		  "duration_seconds = 1h\n[profile base]\naws_access_key_id = AK\naws_secret_access_key = SECRETVALUE\n",
		  "deploy", "duration_seconds must be a number" },
		{ "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
		  "web_identity_token_file = /var/run/token\n", "deploy", "web_identity_token_file" },
		{ "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = base\n"
		  "[profile base]\nregion = us-east-1\n",
		  "deploy", "its source_profile 'base' has no credentials" },
	};
	size_t i;

	T_CHECK(fresh_home() == 0);
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1", 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file(".aws/config", cases[i].config);
		T_EQ_INT(cairn_aws_creds_resolve(&c, cases[i].profile, NULL, NULL), CAIRN_EINVAL);
		T_CONTAINS(msg(), cases[i].want);
		T_CHECK(strstr(msg(), "SECRETVALUE") == NULL);
		T_CHECK(c.access_key == NULL);
	}
	/* the settings may be in the credentials file too */
	write_file(".aws/config", "");
	write_file(".aws/credentials", "[deploy]\nrole_arn = arn:aws:iam::123456789012:role/x\nmfa_serial = m\n");
	T_EQ_INT(cairn_aws_creds_resolve(&c, "deploy", NULL, NULL), CAIRN_EINVAL);
	T_CONTAINS(msg(), "profile 'deploy' needs an MFA code");
	rm_tree();
}

static void test_awscreds__role_loops(void)
{
	cairn_aws_creds c = { 0 };

	T_CHECK(fresh_home() == 0);
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1", 1);
	write_file(".aws/config",
		   "[profile a]\nrole_arn = arn:aws:iam::123456789012:role/a\nsource_profile = b\n"
		   "[profile b]\nrole_arn = arn:aws:iam::123456789012:role/b\nsource_profile = c\n"
		   "[profile c]\nrole_arn = arn:aws:iam::123456789012:role/c\nsource_profile = a\n"
		   "[profile self]\nrole_arn = arn:aws:iam::123456789012:role/s\nsource_profile = self\n"
		   "[profile p1]\nrole_arn = arn:aws:iam::123456789012:role/1\nsource_profile = p2\n"
		   "[profile p2]\nrole_arn = arn:aws:iam::123456789012:role/2\nsource_profile = p3\n"
		   "[profile p3]\nrole_arn = arn:aws:iam::123456789012:role/3\nsource_profile = p4\n"
		   "[profile p4]\nrole_arn = arn:aws:iam::123456789012:role/4\nsource_profile = p5\n"
		   "[profile p5]\nrole_arn = arn:aws:iam::123456789012:role/5\nsource_profile = p6\n"
		   "[profile p6]\nrole_arn = arn:aws:iam::123456789012:role/6\nsource_profile = keys\n"
		   "[profile keys]\naws_access_key_id = AK\naws_secret_access_key = SECRETVALUE\n");
	T_EQ_INT(cairn_aws_creds_resolve(&c, "a", NULL, NULL), CAIRN_EINVAL);
	T_CONTAINS(msg(), "profile 'c': source_profile 'a' makes a loop (a -> b -> c -> a)");
	/* naming itself is a loop unless the profile has keys of its own */
	T_EQ_INT(cairn_aws_creds_resolve(&c, "self", NULL, NULL), CAIRN_EINVAL);
	T_CONTAINS(msg(), "profile 'self': source_profile 'self' makes a loop (self -> self)");
	/* six roles chained: one too many */
	T_EQ_INT(cairn_aws_creds_resolve(&c, "p1", NULL, NULL), CAIRN_EINVAL);
	T_CONTAINS(msg(), "profile 'p1': more than 5 roles chained through source_profile "
		   "(p1 -> p2 -> p3 -> p4 -> p5 -> p6)");
	/* five are fine: the call is made (and refused here) */
	T_CHECK(cairn_aws_creds_resolve(&c, "p2", NULL, NULL) < 0);
	T_CONTAINS(msg(), "cannot assume role arn:aws:iam::123456789012:role/6 for profile 'p6': POST http://127.0.0.1:1/");
	T_CHECK(strstr(msg(), "SECRETVALUE") == NULL);
	rm_tree();
}

/* botocore's order: a profile's role comes before its own static keys, and
 * keys in the environment come before both unless the profile was named. */
static void test_awscreds__role_precedence(void)
{
	cairn_aws_creds c = { 0 };

	T_CHECK(fresh_home() == 0);
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1", 1);
	write_file(".aws/credentials", "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = SECRETVALUE\n"
		   "role_arn = arn:aws:iam::123456789012:role/x\nsource_profile = default\n");
	T_EQ_INT(cairn_aws_creds_resolve(&c, NULL, NULL, NULL), CAIRN_EIO);
	T_CONTAINS(msg(), "cannot assume role arn:aws:iam::123456789012:role/x for profile 'default': "
		   "POST http://127.0.0.1:1/");
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	T_OK(cairn_aws_creds_resolve(&c, NULL, NULL, NULL));
	T_EQ_STR(c.access_key, "AKENV");
	cairn_aws_creds_release(&c);
	T_EQ_INT(cairn_aws_creds_resolve(&c, "default", NULL, NULL), CAIRN_EIO);
	rm_tree();
}

static void test_awscreds__sts_url(void)
{
	char *u = NULL;

	T_CHECK(fresh_home() == 0);
	T_OK(cairn_sts_url(&u, NULL, "eu-west-1"));
	T_EQ_STR(u, "https://sts.eu-west-1.amazonaws.com/");
	free(u);
	T_OK(cairn_sts_url(&u, NULL, NULL));
	T_EQ_STR(u, "https://sts.amazonaws.com/");
	free(u);
	T_OK(cairn_sts_url(&u, "http://127.0.0.1:4566", "us-east-1"));
	T_EQ_STR(u, "http://127.0.0.1:4566/");
	free(u);
	setenv("AWS_ENDPOINT_URL_STS", "https://sts.example.test/base/", 1);
	T_OK(cairn_sts_url(&u, "http://127.0.0.1:4566", "us-east-1"));
	T_EQ_STR(u, "https://sts.example.test/base/");
	free(u);
	setenv("AWS_ENDPOINT_URL_STS", "ftp://sts.example.test/", 1);
	T_EQ_INT(cairn_sts_url(&u, NULL, NULL), CAIRN_EINVAL);
	T_CONTAINS(msg(), "AWS_ENDPOINT_URL_STS");
	rm_tree();
}

static void test_awscreds__sts_answer(void)
{
	static const cairn_sts_role role = { "deploy", "arn:aws:iam::123456789012:role/x", "s", NULL, 3600, NULL, NULL };
	static const char ok[] =
		"<?xml version=\"1.0\"?>\n<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
		"<AssumeRoleResult><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/x/s</Arn>"
		"<AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser><Credentials>"
		"<AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>SECRETVALUE</SecretAccessKey>"
		"<SessionToken>TOKEN&amp;VALUE</SessionToken><Expiration>2999-01-01T00:00:00Z</Expiration>"
		"</Credentials></AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
		"</AssumeRoleResponse>";
	static const char err[] =
		"<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
		"<Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/me is not authorized"
		"</Message></Error><RequestId>r</RequestId></ErrorResponse>";
	static const char no_token[] =
		"<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>A</AccessKeyId>"
		"<SecretAccessKey>SECRETVALUE</SecretAccessKey><Expiration>2999-01-01T00:00:00Z</Expiration>"
		"</Credentials></AssumeRoleResult></AssumeRoleResponse>";
	static const char doctype[] = "<!DOCTYPE x [<!ENTITY e \"SECRETVALUE\">]><AssumeRoleResponse>&e;</AssumeRoleResponse>";
	/* the elements must be at their place: these are not credentials */
	static const char misplaced[] =
		"<AssumeRoleResponse><Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>B</SecretAccessKey>"
		"<SessionToken>C</SessionToken><Expiration>D</Expiration></Credentials></AssumeRoleResponse>";
	cairn_aws_creds c = { 0 };
	char *exp = NULL;

	T_OK(cairn_sts_read_answer(&c, &exp, 200, ok, strlen(ok), &role));
	T_EQ_STR(c.access_key, "ASIAEXAMPLE");
	T_EQ_STR(c.secret_key, "SECRETVALUE");
	T_EQ_STR(c.session_token, "TOKEN&VALUE");
	T_EQ_STR(exp, "2999-01-01T00:00:00Z");
	cairn_aws_creds_release(&c);
	free(exp);
	exp = NULL;

	T_EQ_INT(cairn_sts_read_answer(&c, &exp, 403, err, strlen(err), &role), CAIRN_EREMOTE);
	T_CONTAINS(msg(), "cannot assume role arn:aws:iam::123456789012:role/x for profile 'deploy': "
		   "STS answered AccessDenied: User: arn:aws:iam::123456789012:user/me is not authorized (HTTP 403)");
	T_EQ_INT(cairn_sts_read_answer(&c, &exp, 503, "<html>busy</html>", 17, &role), CAIRN_EREMOTE);
	T_CONTAINS(msg(), "STS answered HTTP 503 without an error code");
	T_EQ_INT(cairn_sts_read_answer(&c, &exp, 200, no_token, strlen(no_token), &role), CAIRN_EIO);
	T_CONTAINS(msg(), "STS answered without a SessionToken");
	T_CHECK(strstr(msg(), "SECRETVALUE") == NULL);
	T_EQ_INT(cairn_sts_read_answer(&c, &exp, 200, doctype, strlen(doctype), &role), CAIRN_EIO);
	T_CONTAINS(msg(), "the answer has a DOCTYPE");
	T_CHECK(strstr(msg(), "SECRETVALUE") == NULL);
	T_EQ_INT(cairn_sts_read_answer(&c, &exp, 200, "<a><b>", 6, &role), CAIRN_EIO);
	T_CONTAINS(msg(), "cannot be read");
	T_EQ_INT(cairn_sts_read_answer(&c, &exp, 200, misplaced, strlen(misplaced), &role), CAIRN_EIO);
	T_CHECK(c.access_key == NULL && exp == NULL);
}

static void test_awscreds__copy(void)
{
	cairn_aws_creds a = { "AK", "SK", NULL, "us-east-1", NULL, "test" }, b = { 0 };

	T_OK(cairn_aws_creds_copy(&b, &a));
	T_EQ_STR(b.access_key, "AK");
	T_EQ_STR(b.secret_key, "SK");
	T_CHECK(b.session_token == NULL && b.endpoint == NULL);
	T_EQ_STR(b.region, "us-east-1");
	T_CHECK(b.access_key != a.access_key);
	cairn_aws_creds_release(&b);
	T_CHECK(b.access_key == NULL);
	cairn_aws_creds_release(NULL);
}

static const t_case cases[] = {
	T_CASE(test_awscreds__env),
	T_CASE(test_awscreds__env_partial),
	T_CASE(test_awscreds__default_profile),
	T_CASE(test_awscreds__named_profile),
	T_CASE(test_awscreds__file_overrides),
	T_CASE(test_awscreds__missing_profile),
	T_CASE(test_awscreds__nothing_anywhere),
	T_CASE(test_awscreds__no_secret_in_messages),
	T_CASE(test_awscreds__credential_process),
	T_CASE(test_awscreds__credential_process_failures),
	T_CASE(test_awscreds__role_settings),
	T_CASE(test_awscreds__role_loops),
	T_CASE(test_awscreds__role_precedence),
	T_CASE(test_awscreds__sts_url),
	T_CASE(test_awscreds__sts_answer),
	T_CASE(test_awscreds__copy),
	{ 0 },
};

int main(int argc, char **argv)
{
	int rc = t_main(cases, argc, argv);

	rm_tree();
	return rc;
}
