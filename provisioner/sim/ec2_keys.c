/*
 * ec2_keys.c - the simulated EC2 service, part four: key pairs.
 *
 * ImportKeyPair takes an OpenSSH public key ("ssh-rsa AAAA... comment" or
 * "ssh-ed25519 ...", base64-encoded once more as the API wants it) and
 * computes the fingerprint the way EC2 does for imported keys: for RSA the
 * MD5 of the public key in DER (SubjectPublicKeyInfo), as colon-separated
 * hex ("openssl pkey -pubin -outform DER | openssl md5 -c"); for ED25519
 * the base64 SHA-256 of the key blob, with its padding ("ssh-keygen -l"
 * prints it without the '='). Names are unique per region
 * (InvalidKeyPair.Duplicate). DescribeKeyPairs answers
 * InvalidKeyPair.NotFound for a name it does not know; DeleteKeyPair of a
 * name that is not there succeeds, as on AWS. An instance launched with a
 * key name keeps a copy of the key (ec2_instances.c), which the instance
 * hosts of --instance-hosts put in root's authorized_keys.
 */
#include "ec2.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsing and fingerprints -------------------------------------------------- */

typedef struct ssh_key {
	char type[32];          /* "rsa" or "ed25519" (EC2's keyType) */
	char text[16384];       /* "ssh-rsa AAAA..." without the comment */
	char fingerprint[128];
} ssh_key;

/* One SSH wire string of blob at *pos: *s, *n; 0 or -1 when it runs past. */
static int wire_string(const unsigned char *blob, size_t len, size_t *pos, const unsigned char **s, size_t *n)
{
	uint32_t l;

	if (len - *pos < 4)
		return -1;
	l = ((uint32_t)blob[*pos] << 24) | ((uint32_t)blob[*pos + 1] << 16) | ((uint32_t)blob[*pos + 2] << 8) |
		blob[*pos + 3];
	*pos += 4;
	if (len - *pos < l)
		return -1;
	*s = blob + *pos;
	*n = l;
	*pos += l;
	return 0;
}

static int wire_is(const unsigned char *s, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* MD5 of the DER SubjectPublicKeyInfo of the RSA key (e, n), as
 * aa:bb:..., and its size in bits. */
static int rsa_fingerprint(const unsigned char *e, size_t elen, const unsigned char *n, size_t nlen,
	char *out, size_t size, int *bits)
{
	BIGNUM *bn_e = BN_bin2bn(e, (int)elen, NULL), *bn_n = BN_bin2bn(n, (int)nlen, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pkey = NULL;
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	int derlen, rc = -1;

	if (!bn_e || !bn_n || !bld || !pctx || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) || !(params = OSSL_PARAM_BLD_to_param(bld)) ||
	    EVP_PKEY_fromdata_init(pctx) <= 0 || EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto cleanup;
	*bits = BN_num_bits(bn_n);
	if ((derlen = i2d_PUBKEY(pkey, &der)) <= 0 ||
	    EVP_Digest(der, (size_t)derlen, md, &mdlen, EVP_md5(), NULL) != 1 || size < mdlen * 3)
		goto cleanup;
	for (i = 0; i < mdlen; i++) {
		out[3 * i] = "0123456789abcdef"[md[i] >> 4];
		out[3 * i + 1] = "0123456789abcdef"[md[i] & 15];
		out[3 * i + 2] = i + 1 < mdlen ? ':' : '\0';
	}
	rc = 0;
cleanup:
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_e);
	BN_free(bn_n);
	return rc;
}

/* base64 of the SHA-256 of the whole blob, padded. */
static int ed25519_fingerprint(const unsigned char *blob, size_t len, char *out, size_t size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(blob, len, md, &mdlen, EVP_sha256(), NULL) != 1 || size < 4 * ((mdlen + 2) / 3) + 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
	return 0;
}

/* Parse "ssh-rsa BASE64 [comment]" / "ssh-ed25519 BASE64 [comment]".
 * Returns 0, or a message (static) saying why it is not such a key. */
static const char *parse_key(const char *text, ssh_key *out)
{
	char kind[32], b64[sizeof(out->text) - 64];
	unsigned char *blob = NULL;
	const unsigned char *s, *e, *n;
	size_t len = 0, pos = 0, sl, el, nl;
	const char *why = "Key is not in valid OpenSSH public key format";
	int bits = 0;

	memset(out, 0, sizeof(*out));
	while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
		text++;
	if (sscanf(text, "%31s %16319s", kind, b64) != 2)
		return why;
	if (ec2_b64_decode(b64, &blob, &len) != 0 || wire_string(blob, len, &pos, &s, &sl) != 0 ||
	    !wire_is(s, sl, kind))
		goto cleanup;
	if (strcmp(kind, "ssh-rsa") == 0) {
		if (wire_string(blob, len, &pos, &e, &el) != 0 || wire_string(blob, len, &pos, &n, &nl) != 0 ||
		    pos != len || rsa_fingerprint(e, el, n, nl, out->fingerprint, sizeof(out->fingerprint), &bits) != 0)
			goto cleanup;
		if (bits < 1024 || bits > 4096) {
			why = "The key length must be from 1024 to 4096 bits";
			goto cleanup;
		}
		snprintf(out->type, sizeof(out->type), "rsa");
	} else if (strcmp(kind, "ssh-ed25519") == 0) {
		if (wire_string(blob, len, &pos, &e, &el) != 0 || el != 32 || pos != len ||
		    ed25519_fingerprint(blob, len, out->fingerprint, sizeof(out->fingerprint)) != 0)
			goto cleanup;
		snprintf(out->type, sizeof(out->type), "ed25519");
	} else {
		why = "Key is not in valid OpenSSH public key format: EC2 imports RSA and ED25519 keys";
		goto cleanup;
	}
	snprintf(out->text, sizeof(out->text), "%s %s", kind, b64);
	why = NULL;
cleanup:
	free(blob);
	return why;
}

/* ---- the kind ---------------------------------------------------------------------- */

static int key_render(cairn_sim_req *req, const cairn_sim_resource *r)
{
	char created[32];
	json_t *t = json_object_get(r->attrs, "createTime");

	cairn_sim_iso_time(created, json_is_number(t) ? json_number_value(t) : r->created_at);
	cairn_sim_xml_elem(&req->xml, "keyPairId", r->id);
	cairn_sim_xml_elem(&req->xml, "keyFingerprint", ec2_str(r, "keyFingerprint"));
	cairn_sim_xml_elem(&req->xml, "keyName", ec2_str(r, "keyName"));
	cairn_sim_xml_elem(&req->xml, "keyType", ec2_str(r, "keyType"));
	ec2_render_tags(req, r);
	cairn_sim_xml_elem(&req->xml, "createTime", created);
	return 0;
}

static int key_filter(cairn_sim_req *req, const cairn_sim_resource *r, const char *name, ec2_vals *out)
{
	(void)req;
	if (!strcmp(name, "key-pair-id"))
		return ec2_vals_add(out, r->id);
	if (!strcmp(name, "key-name"))
		return ec2_vals_add(out, ec2_str(r, "keyName"));
	if (!strcmp(name, "fingerprint"))
		return ec2_vals_add(out, ec2_str(r, "keyFingerprint"));
	if (!strcmp(name, "key-type"))
		return ec2_vals_add(out, ec2_str(r, "keyType"));
	return CAIRN_ENOTFOUND;
}

const ec2_kind ec2_kind_key_pair = {
	EC2_KEY_PAIR, "key", "key pair ID", "InvalidKeyPair", "InvalidKeyPairId.Malformed", "key-pair",
	"KeyPairId", "keySet", 5, 1000, key_filter, key_render,
};

/* The region's key pair named name, or NULL (*out); 0 or an error. */
static int find_by_name(cairn_sim_req *req, const char *name, cairn_sim_resource **out)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = cairn_sim_store_list(req->sim->store, EC2_KEY_PAIR, req->region, NULL, &l)) != 0)
		return rc;
	for (i = 0; i < l.n; i++) {
		const char *k = ec2_str(l.v[i], "keyName");

		if (k && strcmp(k, name) == 0) {
			*out = l.v[i];
			l.v[i] = NULL;
			break;
		}
	}
	cairn_sim_reslist_release(&l);
	return 0;
}

int ec2_key_pair_by_name(cairn_sim_req *req, const char *name, cairn_sim_resource **out)
{
	int rc;

	if ((rc = find_by_name(req, name, out)) != 0)
		return rc;
	if (!*out)
		return cairn_sim_fail(req, 400, "InvalidKeyPair.NotFound", "The key pair '%s' does not exist", name);
	return 0;
}

/* ---- actions ------------------------------------------------------------------------- */

int ec2_import_key_pair(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL, *dup = NULL;
	unsigned char *text = NULL;
	const char *name, *material, *why = NULL;
	ssh_key *key = NULL;
	char id[48], public_key[sizeof(key->text) + 300];
	size_t n = 0, i;
	int rc;

	if ((rc = ec2_required(req, "KeyName", &name)) != 0 || (rc = ec2_required(req, "PublicKeyMaterial", &material)) != 0)
		return rc;
	for (i = 0; name[i]; i++)
		if ((unsigned char)name[i] < 32 || (unsigned char)name[i] > 126)
			return cairn_sim_fail(req, 400, "InvalidParameterValue",
				"Value (%s) for parameter keyName is invalid. Key names are ASCII characters.", name);
	if (i > 255)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Value for parameter keyName is invalid. Length exceeds maximum of 255.");
	if ((rc = find_by_name(req, name, &dup)) != 0)
		return rc;
	if (dup) {
		cairn_sim_resource_free(dup);
		return cairn_sim_fail(req, 400, "InvalidKeyPair.Duplicate", "The keypair '%s' already exists.", name);
	}
	if (!(key = malloc(sizeof(*key))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = ec2_b64_decode(material, &text, &n)) != 0 || strlen((const char *)text) != n ||
	    (why = parse_key((const char *)text, key)) != NULL) {
		if (rc && rc != CAIRN_EINVAL)
			goto cleanup;
		rc = cairn_sim_fail(req, 400, "InvalidKeyPair.Format", "%s",
			rc ? "Key is not in valid OpenSSH public key format" : why);
		goto cleanup;
	}
	cairn_sim_new_id(id, sizeof(id), "key");
	if ((rc = cairn_sim_resource_new(&r, id, EC2_KEY_PAIR, req->region)) != 0 ||
	    (rc = ec2_apply_tag_specs(req, r, "key-pair")) != 0)
		goto cleanup;
	snprintf(public_key, sizeof(public_key), "%s %s", key->text, name);
	json_object_set_new(r->attrs, "keyName", json_string(name));
	json_object_set_new(r->attrs, "keyFingerprint", json_string(key->fingerprint));
	json_object_set_new(r->attrs, "keyType", json_string(key->type));
	json_object_set_new(r->attrs, "publicKey", json_string(public_key));
	json_object_set_new(r->attrs, "createTime", json_real(cairn_sim_now()));
	if ((rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	cairn_sim_xml_elem(&req->xml, "keyFingerprint", key->fingerprint);
	cairn_sim_xml_elem(&req->xml, "keyName", name);
	cairn_sim_xml_elem(&req->xml, "keyPairId", id);
	ec2_render_tags(req, r);
cleanup:
	cairn_sim_resource_free(r);
	free(text);
	free(key);
	return rc;
}

int ec2_describe_key_pairs(cairn_sim_req *req)
{
	cairn_sim_strs names = { NULL, 0, 0 }, ids = { NULL, 0, 0 };
	cairn_sim_filters fl = { NULL, 0 };
	cairn_sim_reslist l = { NULL, 0, 0 };
	ec2_vals scratch = { NULL, 0, 0 };
	const char *inc = cairn_sim_form_get(req->form, "IncludePublicKey");
	size_t i, j;
	int rc, with_key = 0;

	if ((rc = cairn_sim_form_list(req->form, "KeyName", &names)) != 0 ||
	    (rc = cairn_sim_form_list(req->form, "KeyPairId", &ids)) != 0 ||
	    (rc = cairn_sim_form_filters(req->form, "Filter", &fl)) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
		goto cleanup;
	}
	if ((inc && (rc = ec2_bool(req, "IncludePublicKey", inc, &with_key)) != 0) ||
	    (rc = ec2_filter_limit(req, &fl)) != 0)
		goto cleanup;
	for (i = 0; i < ids.n; i++)
		if (!ec2_id_well_formed(ids.v[i], "key")) {
			rc = cairn_sim_fail(req, 400, "InvalidKeyPairId.Malformed", "Invalid id: \"%s\"", ids.v[i]);
			goto cleanup;
		}
	if ((rc = cairn_sim_store_list(req->sim->store, EC2_KEY_PAIR, req->region, NULL, &l)) != 0)
		goto cleanup;
	for (i = 0; i < names.n; i++) {
		for (j = 0; j < l.n && strcmp(ec2_str(l.v[j], "keyName"), names.v[i]) != 0; j++)
			;
		if (j == l.n) {
			rc = cairn_sim_fail(req, 400, "InvalidKeyPair.NotFound", "The key pair '%s' does not exist",
				names.v[i]);
			goto cleanup;
		}
	}
	for (i = 0; i < ids.n; i++) {
		for (j = 0; j < l.n && strcmp(l.v[j]->id, ids.v[i]) != 0; j++)
			;
		if (j == l.n) {
			rc = cairn_sim_fail(req, 400, "InvalidKeyPair.NotFound", "The key pair ID '%s' does not exist",
				ids.v[i]);
			goto cleanup;
		}
	}
	cairn_sim_xml_open(&req->xml, "keySet");
	for (i = 0; i < l.n; i++) {
		const cairn_sim_resource *r = l.v[i];

		if (names.n && !cairn_sim_strs_has(&names, ec2_str(r, "keyName")))
			continue;
		if (ids.n && !cairn_sim_strs_has(&ids, r->id))
			continue;
		if ((rc = ec2_match_filters(req, &ec2_kind_key_pair, r, &fl, &scratch)) < 0)
			goto cleanup;
		if (rc == 0)
			continue;
		rc = 0;
		cairn_sim_xml_open(&req->xml, "item");
		key_render(req, r);
		if (with_key)
			cairn_sim_xml_elem(&req->xml, "publicKey", ec2_str(r, "publicKey"));
		cairn_sim_xml_close(&req->xml, "item");
	}
	cairn_sim_xml_close(&req->xml, "keySet");
cleanup:
	ec2_vals_clear(&scratch);
	free(scratch.v);
	cairn_sim_reslist_release(&l);
	cairn_sim_filters_release(&fl);
	cairn_sim_strs_release(&ids);
	cairn_sim_strs_release(&names);
	return rc;
}

int ec2_delete_key_pair(cairn_sim_req *req)
{
	const char *name = cairn_sim_form_get(req->form, "KeyName"), *id = cairn_sim_form_get(req->form, "KeyPairId");
	cairn_sim_resource *r = NULL;
	int rc;

	if ((!name || !*name) && (!id || !*id))
		return cairn_sim_fail(req, 400, "MissingParameter",
			"The request must contain the parameter KeyName or KeyPairId");
	if (id && *id) {
		if (!ec2_id_well_formed(id, "key"))
			return cairn_sim_fail(req, 400, "InvalidKeyPairId.Malformed", "Invalid id: \"%s\"", id);
		rc = cairn_sim_store_get(req->sim->store, id, &r);
		if (rc && rc != CAIRN_ENOTFOUND)
			return rc;
		if (r && (strcmp(r->type, EC2_KEY_PAIR) != 0 || strcmp(r->region, req->region) != 0)) {
			cairn_sim_resource_free(r);
			r = NULL;
		}
	} else if ((rc = find_by_name(req, name, &r)) != 0) {
		return rc;
	}
	/* a key pair that is not there is no error: DeleteKeyPair is done */
	if (r && (rc = cairn_sim_store_delete(req->sim->store, r->id)) != 0)
		goto cleanup;
	ec2_return_true(req);
	if (r)
		cairn_sim_xml_elem(&req->xml, "keyPairId", r->id);
	rc = 0;
cleanup:
	cairn_sim_resource_free(r);
	return rc;
}
