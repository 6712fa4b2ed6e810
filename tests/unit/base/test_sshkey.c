/*
 * test_sshkey.c - OpenSSH Ed25519 keys (base/sshkey.h): a key file made by
 * ssh-keygen (a test key, made for this test and used nowhere else) is
 * read, its public key matches its .pub line and its fingerprint is the
 * one ssh-keygen -l printed; a signature verifies, and not once the
 * message or the signature changed; what is not such a key is refused.
 */
#include "t.h"
#include "base/error.h"
#include "base/sshkey.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char key_file[] =
	"-----BEGIN OPENSSH PRIVATE KEY-----\n"
	"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
	"QyNTUxOQAAACD0R/ZB4GtKs+6wvlvCNusdWvDOveSNnNpzY7bJDK1ZTgAAAJCj1lXWo9ZV\n"
	"1gAAAAtzc2gtZWQyNTUxOQAAACD0R/ZB4GtKs+6wvlvCNusdWvDOveSNnNpzY7bJDK1ZTg\n"
	"AAAEB/Uw3mLRDwwy6xq17dURzNy2vLm4CuoQ8bXhrabPttHvRH9kHga0qz7rC+W8I26x1a\n"
	"8M695I2c2nNjtskMrVlOAAAACXVuaXQtdGVzdAECAwQ=\n"
	"-----END OPENSSH PRIVATE KEY-----\n";
static const char pub_line[] =
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPRH9kHga0qz7rC+W8I26x1a8M695I2c2nNjtskMrVlO unit-test";
static const char fingerprint[] = "SHA256:gUES8xWvKdC/LUI9PhzdHz0VLXfKbdmvYG24QMcHHCA";

static char path[64];

static void write_key(const char *text)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/cairn-sshkey-XXXXXX");
	T_CHECK((fd = mkstemp(path)) >= 0);
	T_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void test_sshkey__read_sign_verify(void)
{
	unsigned char seed[CAIRN_ED25519_LEN], pub[CAIRN_ED25519_LEN], listed[CAIRN_ED25519_LEN];
	unsigned char sig[CAIRN_ED25519_SIGLEN];
	char fp[CAIRN_SSHKEY_FP_LEN], *line;
	const char msg[] = "cairn-approval-v1\nenvironment=prod\ndigest=sha256:00\n";

	write_key(key_file);
	T_OK(cairn_sshkey_load_private(path, seed, pub));
	unlink(path);
	T_OK(cairn_sshkey_parse_public(pub_line, listed));
	T_CHECK(!memcmp(pub, listed, sizeof(pub)));
	cairn_sshkey_fingerprint(pub, fp);
	T_EQ_STR(fp, fingerprint);
	line = cairn_sshkey_public_line(pub);
	T_CHECK(line && !strncmp(pub_line, line, strlen(line)));
	free(line);
	T_OK(cairn_sshkey_sign(seed, msg, strlen(msg), sig));
	T_CHECK(cairn_sshkey_verify(pub, msg, strlen(msg), sig));
	T_CHECK(!cairn_sshkey_verify(pub, msg, strlen(msg) - 1, sig));
	sig[10] ^= 1;
	T_CHECK(!cairn_sshkey_verify(pub, msg, strlen(msg), sig));
}

static void test_sshkey__refused(void)
{
	unsigned char seed[CAIRN_ED25519_LEN], pub[CAIRN_ED25519_LEN];
	char bad[sizeof(key_file)];

	T_EQ_INT(cairn_sshkey_parse_public("ssh-rsa AAAAB3NzaC1yc2E= x", pub), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "it starts with 'ssh-rsa'");
	T_EQ_INT(cairn_sshkey_parse_public("ssh-ed25519 AAAAB3NzaC1yc2E=", pub), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "does not hold an Ed25519 key");
	T_EQ_INT(cairn_sshkey_parse_public("ssh-ed25519", pub), CAIRN_EINVAL);
	write_key(pub_line);
	T_EQ_INT(cairn_sshkey_load_private(path, seed, pub), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "is not an OpenSSH private key");
	unlink(path);
	/* one byte of the private section changed: the seed no longer gives the public key */
	memcpy(bad, key_file, sizeof(bad));
	bad[strstr(key_file, "AAAEB/Uw3") - key_file + 6] = 'V';
	write_key(bad);
	T_EQ_INT(cairn_sshkey_load_private(path, seed, pub), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "not a well-formed OpenSSH Ed25519 private key");
	unlink(path);
	T_EQ_INT(cairn_sshkey_load_private("/nonexistent/key", seed, pub), CAIRN_ENOTFOUND);
}

static const t_case cases[] = {
	T_CASE(test_sshkey__read_sign_verify),
	T_CASE(test_sshkey__refused),
	{ 0 }
};

int main(int argc, char **argv) { return t_main(cases, argc, argv); }
