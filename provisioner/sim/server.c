/*
 * server.c - the HTTP side of `cairn sim`: libmicrohttpd setup, and the
 * request pipeline every AWS call goes through (service and region from the
 * SigV4 scope, latency and drops, signature check, protocol parsing, faults,
 * the action under the store lock in one transaction, the protocol's
 * envelope or error document, the log line). The pipeline is described in
 * sim_internal.h; services plug in through the registry below.
 */
#include "sim_internal.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY ((size_t)8 << 20)

/* ---- the service registry -------------------------------------------------- */

const cairn_sim_service *const cairn_sim_services[] = {
	&cairn_sim_ec2_service,
	&cairn_sim_rds_service,
	&cairn_sim_elasticache_service,
	&cairn_sim_eks_service,
	&cairn_sim_sts_service,
	NULL,
};

const cairn_sim_service *cairn_sim_service_find(const char *name)
{
	size_t i;

	for (i = 0; cairn_sim_services[i]; i++)
		if (strcmp(cairn_sim_services[i]->name, name) == 0)
			return cairn_sim_services[i];
	return NULL;
}

/* Answers for requests whose service the sim does not serve. */
static const cairn_sim_service unknown_service = {
	.name = "unknown", .protocol = CAIRN_SIM_PROTO_QUERY,
	.xmlns = "https://cairn.invalid/sim/", .internal_code = "InternalFailure",
};

double cairn_sim_delay(const cairn_sim *sim, long fast_ms, long realistic_ms)
{
	return cairn_sim_now() + (double)(sim->opt.realistic_timings ? realistic_ms : fast_ms) / 1000.0;
}

/* ---- request helpers ----------------------------------------------------- */

int cairn_sim_fail(cairn_sim_req *req, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	req->err_status = status;
	req->err_sender = status < 500;
	snprintf(req->err_code, sizeof(req->err_code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(req->err_message, sizeof(req->err_message), fmt, ap);
	va_end(ap);
	return CAIRN_EREMOTE;
}

const char *cairn_sim_req_param(const cairn_sim_req *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->n_params; i++)
		if (strcmp(req->param_names[i], name) == 0)
			return req->param_values[i];
	return NULL;
}

const char *cairn_sim_req_query(const cairn_sim_req *req, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct query_all_ctx {
	const char *name;
	cairn_sim_strs *out;
	int rc;
} query_all_ctx;

static enum MHD_Result query_all_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	query_all_ctx *q = cls;

	(void)kind;
	if (key && value && strcmp(key, q->name) == 0 && (q->rc = cairn_sim_strs_add(q->out, value)) != 0)
		return MHD_NO;
	return MHD_YES;
}

int cairn_sim_req_query_all(const cairn_sim_req *req, const char *name, cairn_sim_strs *out)
{
	query_all_ctx q = { name, out, 0 };

	MHD_get_connection_values((struct MHD_Connection *)req->conn, MHD_GET_ARGUMENT_KIND, query_all_cb, &q);
	return q.rc;
}

/* ---- per-request context --------------------------------------------------- */

typedef struct conn_ctx {
	char *raw_uri;
	cairn_buf body;
	int started;
	int too_large;
	double start;
	int status;
	const char *service_name;
	char region[64];
	char action[96];
	char path[256];
	char method[16];
	char request_id[40];
} conn_ctx;

struct cairn_sim_server {
	cairn_sim *sim;
	struct MHD_Daemon *daemon;
};

static conn_ctx *ctx_new(const char *uri)
{
	conn_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->raw_uri = strdup(uri ? uri : "/");
	if (!c->raw_uri) {
		free(c);
		return NULL;
	}
	cairn_buf_init(&c->body, MAX_BODY);
	c->start = cairn_sim_now();
	c->service_name = "-";
	return c;
}

static void ctx_free(conn_ctx *c)
{
	if (!c)
		return;
	free(c->raw_uri);
	cairn_buf_release(&c->body);
	free(c);
}

static void *uri_logger(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)conn;
	return ctx_new(uri);
}

static void log_request(cairn_sim_server *srv, struct MHD_Connection *conn, conn_ctx *c,
	enum MHD_RequestTerminationCode toe)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char when[32], addr[INET6_ADDRSTRLEN] = "-", status[16];

	(void)srv;
	cairn_sim_iso_time(when, cairn_sim_now());
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof(addr));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof(addr));
	}
	if (c->status)
		snprintf(status, sizeof(status), "%d", c->status);
	else
		snprintf(status, sizeof(status), "%s", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "-" : "dropped");
	fprintf(stderr, "%s %s %s %s %s %s %s %s %.3fms %s\n", when, addr, c->method[0] ? c->method : "-",
		c->path[0] ? c->path : "-", c->service_name, c->region[0] ? c->region : "-",
		c->action[0] ? c->action : "-", status, (cairn_sim_now() - c->start) * 1000.0,
		c->request_id[0] ? c->request_id : "-");
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
	enum MHD_RequestTerminationCode toe)
{
	cairn_sim_server *srv = cls;
	conn_ctx *c = *con_cls;

	if (!c)
		return;
	if (srv->sim->opt.log && c->started)
		log_request(srv, conn, c, toe);
	ctx_free(c);
	*con_cls = NULL;
}

/* ---- responses -------------------------------------------------------------- */

static enum MHD_Result send_response(struct MHD_Connection *conn, conn_ctx *c, int status,
	char *body, const char *content_type, const cairn_sim_req *req)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", content_type);
	if (req) {
		if (req->service->protocol == CAIRN_SIM_PROTO_EC2)
			MHD_add_response_header(resp, "Server", "AmazonEC2");
		else
			MHD_add_response_header(resp, "x-amzn-RequestId", req->request_id);
		if (req->err_status && req->service->protocol == CAIRN_SIM_PROTO_REST_JSON)
			MHD_add_response_header(resp, "x-amzn-ErrorType", req->err_code);
		if (req->err_status && req->retry_after[0])
			MHD_add_response_header(resp, "Retry-After", req->retry_after);
	}
	c->status = status;
	ret = MHD_queue_response(conn, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static char *render_error(cairn_sim_req *req, const char **ctype)
{
	cairn_buf b = CAIRN_BUF_INIT;
	int rc = 0;

	if (req->service->protocol == CAIRN_SIM_PROTO_REST_JSON) {
		json_t *j = json_pack("{s:s}", "message", req->err_message);
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

		json_decref(j);
		*ctype = "application/json";
		return s;
	}
	*ctype = "text/xml;charset=UTF-8";
	rc = cairn_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	if (req->service->protocol == CAIRN_SIM_PROTO_EC2) {
		if (!rc)
			rc = cairn_buf_puts(&b, "<Response><Errors><Error><Code>");
		if (!rc)
			rc = cairn_sim_xml_escape(&b, req->err_code);
		if (!rc)
			rc = cairn_buf_puts(&b, "</Code><Message>");
		if (!rc)
			rc = cairn_sim_xml_escape(&b, req->err_message);
		if (!rc)
			rc = cairn_buf_printf(&b, "</Message></Error></Errors><RequestID>%s</RequestID></Response>",
				req->request_id);
	} else {
		if (!rc)
			rc = cairn_buf_printf(&b, "<ErrorResponse xmlns=\"%s\"><Error><Type>%s</Type><Code>",
				req->service->xmlns, req->err_sender ? "Sender" : "Receiver");
		if (!rc)
			rc = cairn_sim_xml_escape(&b, req->err_code);
		if (!rc)
			rc = cairn_buf_puts(&b, "</Code><Message>");
		if (!rc)
			rc = cairn_sim_xml_escape(&b, req->err_message);
		if (!rc)
			rc = cairn_buf_printf(&b, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>",
				req->request_id);
	}
	if (rc) {
		cairn_buf_release(&b);
		return NULL;
	}
	return cairn_buf_detach(&b);
}

static char *render_success(cairn_sim_req *req, const char **ctype)
{
	const cairn_sim_service *svc = req->service;
	const char *name = req->action->name;
	cairn_buf b = CAIRN_BUF_INIT;
	int rc;

	if (svc->protocol == CAIRN_SIM_PROTO_REST_JSON) {
		*ctype = "application/json";
		return req->json_out ? json_dumps(req->json_out, JSON_COMPACT) : strdup("{}");
	}
	*ctype = "text/xml;charset=UTF-8";
	rc = cairn_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<%sResponse xmlns=\"%s\">",
		name, svc->xmlns);
	if (svc->protocol == CAIRN_SIM_PROTO_EC2) {
		if (!rc)
			rc = cairn_buf_printf(&b, "<requestId>%s</requestId>", req->request_id);
		if (!rc)
			rc = cairn_buf_put(&b, req->xml.buf.ptr ? req->xml.buf.ptr : "", req->xml.buf.len);
		if (!rc)
			rc = cairn_buf_printf(&b, "</%sResponse>", name);
	} else {
		if (!rc)
			rc = cairn_buf_printf(&b, "<%sResult>", name);
		if (!rc)
			rc = cairn_buf_put(&b, req->xml.buf.ptr ? req->xml.buf.ptr : "", req->xml.buf.len);
		if (!rc)
			rc = cairn_buf_printf(&b, "</%sResult><ResponseMetadata><RequestId>%s</RequestId>"
				"</ResponseMetadata></%sResponse>", name, req->request_id, name);
	}
	if (rc) {
		cairn_buf_release(&b);
		return NULL;
	}
	return cairn_buf_detach(&b);
}

static enum MHD_Result respond(struct MHD_Connection *conn, conn_ctx *c, cairn_sim_req *req)
{
	const char *ctype = "text/plain";
	char *body;
	int status;

	if (req->err_status) {
		body = render_error(req, &ctype);
		status = req->err_status;
	} else {
		body = render_success(req, &ctype);
		status = req->status ? req->status : 200;
	}
	if (!body)
		return MHD_NO;
	return send_response(conn, c, status, body, ctype, req);
}

/* ---- the pipeline ------------------------------------------------------------- */

static const char *header_lookup(void *ctx, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)ctx, MHD_HEADER_KIND, name);
}

/* Which service an unsigned request is for: EKS's REST paths, or the
 * Query API version in the form. */
static const cairn_sim_service *infer_service(const char *path, const char *body, size_t len)
{
	size_t i;

	if (strncmp(path, "/clusters", 9) == 0 || strncmp(path, "/tags/arn%3Aaws%3Aeks%3A", 24) == 0 ||
	    strncmp(path, "/tags/arn:aws:eks:", 18) == 0)
		return cairn_sim_service_find("eks");
	for (i = 0; cairn_sim_services[i]; i++) {
		const char *v = cairn_sim_services[i]->version;
		char needle[64];

		if (!v || cairn_sim_services[i]->protocol == CAIRN_SIM_PROTO_REST_JSON)
			continue;
		snprintf(needle, sizeof(needle), "Version=%s", v);
		if (memmem(body, len, needle, strlen(needle)))
			return cairn_sim_services[i];
	}
	return &cairn_sim_ec2_service;
}

static int auth_fail(cairn_sim_req *req, int result, const char *detail)
{
	int proto = req->service->protocol;

	switch (result) {
	case CAIRN_SIM_AUTH_MISSING:
		if (proto == CAIRN_SIM_PROTO_EC2)
			return cairn_sim_fail(req, 401, "AuthFailure", "AWS was not able to validate the provided access credentials");
		if (proto == CAIRN_SIM_PROTO_REST_JSON)
			return cairn_sim_fail(req, 403, "MissingAuthenticationTokenException", "Missing Authentication Token");
		return cairn_sim_fail(req, 403, "MissingAuthenticationToken", "Request is missing Authentication Token");
	case CAIRN_SIM_AUTH_MALFORMED:
		if (proto == CAIRN_SIM_PROTO_REST_JSON)
			return cairn_sim_fail(req, 403, "IncompleteSignatureException", "%s", detail);
		return cairn_sim_fail(req, 400, "IncompleteSignature", "%s", detail);
	case CAIRN_SIM_AUTH_UNKNOWN_KEY:
		if (proto == CAIRN_SIM_PROTO_EC2)
			return cairn_sim_fail(req, 401, "AuthFailure", "AWS was not able to validate the provided access credentials");
		if (proto == CAIRN_SIM_PROTO_REST_JSON)
			return cairn_sim_fail(req, 403, "UnrecognizedClientException", "The security token included in the request is invalid.");
		return cairn_sim_fail(req, 403, "InvalidClientTokenId", "The security token included in the request is invalid.");
	case CAIRN_SIM_AUTH_TOKEN_EXPIRED:
		/* EC2 answers expired temporary credentials as a stale request */
		if (proto == CAIRN_SIM_PROTO_EC2)
			return cairn_sim_fail(req, 400, "RequestExpired", "Request has expired.");
		if (proto == CAIRN_SIM_PROTO_REST_JSON)
			return cairn_sim_fail(req, 403, "ExpiredTokenException", "The security token included in the request is expired");
		return cairn_sim_fail(req, 403, "ExpiredToken", "The security token included in the request is expired");
	case CAIRN_SIM_AUTH_EXPIRED:
		if (proto == CAIRN_SIM_PROTO_REST_JSON)
			return cairn_sim_fail(req, 403, "InvalidSignatureException", "Signature expired: the request time is more than 15 minutes from the server time.");
		return cairn_sim_fail(req, 400, "RequestExpired", "Request has expired.");
	default:
		if (proto == CAIRN_SIM_PROTO_REST_JSON)
			return cairn_sim_fail(req, 403, "InvalidSignatureException", "%s", detail);
		return cairn_sim_fail(req, 403, "SignatureDoesNotMatch", "%s", detail);
	}
}

static int check_auth(cairn_sim *sim, cairn_sim_req *req, struct MHD_Connection *conn,
	const cairn_sim_sigv4 *sig, int sig_ok, const char *raw_uri)
{
	const char *secret = NULL, *detail = "", *q;
	const char *token = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Amz-Security-Token");
	char path[2048], temp_secret[64];
	size_t i, plen;
	int result;

	if (!MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"))
		return auth_fail(req, CAIRN_SIM_AUTH_MISSING, NULL);
	if (!sig_ok) {
		const cairn_error *e = cairn_error_last();

		return auth_fail(req, CAIRN_SIM_AUTH_MALFORMED, e ? e->message : "malformed Authorization header");
	}
	/* a long-term key (never with a session token, as AWS wants), else a
	 * temporary one from STS with its token */
	for (i = 0; i < sim->opt.n_creds && !token; i++)
		if (strcmp(sim->opt.creds[i].access_key, sig->access_key) == 0)
			secret = sim->opt.creds[i].secret_key;
	if (!secret) {
		result = cairn_sim_sessions_check(sim->sessions, sig->access_key, token, cairn_sim_now(),
			temp_secret, sizeof(temp_secret));
		if (result != CAIRN_SIM_AUTH_OK)
			return auth_fail(req, result, NULL);
		secret = temp_secret;
	}
	q = strchr(raw_uri, '?');
	plen = q ? (size_t)(q - raw_uri) : strlen(raw_uri);
	if (plen >= sizeof(path)) {
		result = CAIRN_SIM_AUTH_BAD_SIGNATURE;
		detail = "request path too long";
		goto done;
	}
	memcpy(path, raw_uri, plen);
	path[plen] = '\0';
	result = cairn_sim_sigv4_verify(sig, secret, req->method, path, q ? q + 1 : NULL,
		header_lookup, conn, req->body, req->body_len, time(NULL), &detail);
done:
	explicit_bzero(temp_secret, sizeof(temp_secret));
	if (result != CAIRN_SIM_AUTH_OK)
		return auth_fail(req, result, detail);
	req->access_key = sig->access_key;
	return 0;
}

static int hexd(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static char *decode_segment(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexd((unsigned char)s[i + 1]) >= 0 && hexd((unsigned char)s[i + 2]) >= 0) {
			*o++ = (char)(hexd((unsigned char)s[i + 1]) * 16 + hexd((unsigned char)s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static void free_params(cairn_sim_req *req)
{
	size_t i;

	for (i = 0; i < req->n_params; i++)
		free(req->param_values[i]);
	req->n_params = 0;
}

/* Match path (raw, without query) against a pattern like "/clusters/{name}". */
static int match_path(cairn_sim_req *req, const char *pattern, const char *path)
{
	const char *p = pattern, *s = path;

	free_params(req);
	while (*p && *s) {
		size_t pl, sl;

		if (*p != '/' || *s != '/')
			return 0;
		p++;
		s++;
		pl = strcspn(p, "/");
		sl = strcspn(s, "/");
		if (pl > 2 && p[0] == '{' && p[pl - 1] == '}') {
			if (sl == 0 || req->n_params == CAIRN_SIM_MAX_PARAMS)
				return 0;
			req->param_names[req->n_params] = NULL;
			if (!(req->param_values[req->n_params] = decode_segment(s, sl)))
				return 0;
			/* named by find_rest_action once the whole path matched */
			req->n_params++;
		} else if (pl != sl || strncmp(p, s, pl) != 0) {
			return 0;
		}
		p += pl;
		s += sl;
	}
	if (*s == '/' && s[1] == '\0')
		s++;
	return *p == '\0' && *s == '\0';
}

static int find_rest_action(cairn_sim_req *req, const char *path)
{
	const cairn_sim_service *svc = req->service;
	static _Thread_local char names[CAIRN_SIM_MAX_PARAMS][64];
	size_t i;

	for (i = 0; i < svc->n_actions; i++) {
		const cairn_sim_action *a = &svc->actions[i];
		const char *p;
		size_t k = 0;

		if (!a->path || strcmp(a->method, req->method) != 0 || !match_path(req, a->path, path))
			continue;
		/* name the captured parameters */
		for (p = a->path; (p = strchr(p, '{')) != NULL && k < req->n_params; k++) {
			size_t n = strcspn(p + 1, "}");

			if (n >= sizeof(names[k]))
				n = sizeof(names[k]) - 1;
			memcpy(names[k], p + 1, n);
			names[k][n] = '\0';
			req->param_names[k] = names[k];
			p += n + 1;
		}
		req->action = a;
		return 0;
	}
	free_params(req);
	return cairn_sim_fail(req, 404, "UnknownOperationException", "Unknown operation %s %s", req->method, path);
}

/* Every form parameter must be one the action knows (see cairn_sim_action). */
static int check_params(cairn_sim_req *req)
{
	const char *const *known = req->action->params;
	size_t i, j;

	if (!known)
		return 0;
	for (i = 0; i < req->form->n; i++) {
		const char *k = req->form->pairs[i].key;
		size_t root = strcspn(k, ".");
		int ok = (root == 6 && strncmp(k, "Action", 6) == 0) ||
			(root == 7 && strncmp(k, "Version", 7) == 0) ||
			(root == 6 && strncmp(k, "DryRun", 6) == 0);

		for (j = 0; known[j] && !ok; j++)
			ok = strlen(known[j]) == root && strncmp(known[j], k, root) == 0;
		if (!ok)
			return cairn_sim_fail(req, 400, "UnknownParameter", "The parameter %.*s is not recognized",
				(int)root, k);
	}
	return 0;
}

static int parse_request(cairn_sim_req *req, const char *raw_uri)
{
	const cairn_sim_service *svc = req->service;
	char path[2048];
	size_t plen = strcspn(raw_uri, "?"), i;
	const char *action;
	int rc;

	if (svc == &unknown_service)
		return cairn_sim_fail(req, 400, "InvalidAction", "cairn sim does not serve this service");
	if (svc->protocol == CAIRN_SIM_PROTO_REST_JSON) {
		json_error_t jerr;

		if (plen >= sizeof(path))
			return cairn_sim_fail(req, 400, "ValidationException", "request path too long");
		memcpy(path, raw_uri, plen);
		path[plen] = '\0';
		if ((rc = find_rest_action(req, path)) != 0)
			return rc;
		if (req->body_len) {
			req->json = json_loadb(req->body, req->body_len, 0, &jerr);
			if (!req->json || !json_is_object(req->json))
				return cairn_sim_fail(req, 400, "SerializationException", "cannot parse the request body as a JSON object");
		}
		return 0;
	}
	if (strcmp(req->method, "POST") == 0) {
		rc = cairn_sim_form_parse(&req->form, req->body, req->body_len);
	} else {
		const char *q = strchr(raw_uri, '?');

		rc = cairn_sim_form_parse(&req->form, q ? q + 1 : "", q ? strlen(q + 1) : 0);
	}
	if (rc)
		return rc;
	action = cairn_sim_form_get(req->form, "Action");
	if (!action || !*action)
		return cairn_sim_fail(req, 400, "MissingAction", "The request must contain the parameter Action");
	for (i = 0; i < svc->n_actions; i++) {
		if (strcmp(svc->actions[i].name, action) == 0) {
			req->action = &svc->actions[i];
			return check_params(req);
		}
	}
	return cairn_sim_fail(req, 400, "InvalidAction", "The action %s is not valid for this web service.", action);
}

int cairn_sim_region_ensure(cairn_sim_req *req)
{
	cairn_sim *sim = req->sim;
	char key[160], *done = NULL;
	int rc;

	if (!req->service->region_init)
		return 0;
	snprintf(key, sizeof(key), "init:%s:%s", req->service->name, req->region);
	if ((rc = cairn_sim_store_meta_get(sim->store, key, &done)) != 0 || done) {
		free(done);
		return rc;
	}
	if ((rc = req->service->region_init(req)) == 0)
		rc = cairn_sim_store_meta_set(sim->store, key, "1");
	return rc;
}

/* Run the action under the store lock, in one transaction. */
static int run_action(cairn_sim *sim, cairn_sim_req *req)
{
	int write = req->action->klass == CAIRN_SIM_MUTATING, rc;

	pthread_mutex_lock(&sim->lock);
	if ((rc = cairn_sim_store_begin(sim->store, write)) != 0)
		goto unlock;
	if ((rc = cairn_sim_region_ensure(req)) == 0)
		rc = req->action->fn(req);
	if (rc == 0 && req->xml.err)
		rc = req->xml.err;
	if (rc == 0)
		rc = cairn_sim_store_commit(sim->store);
	else
		cairn_sim_store_rollback(sim->store);
unlock:
	pthread_mutex_unlock(&sim->lock);
	if (rc && !req->err_status) {
		const cairn_error *e = cairn_error_last();

		cairn_sim_fail(req, 500, req->service->internal_code ? req->service->internal_code : "InternalError",
			"An internal error has occurred: %s", e ? e->message : "unknown");
	}
	if (rc) {
		cairn_buf_clear(&req->xml.buf);
		json_decref(req->json_out);
		req->json_out = NULL;
	}
	return rc;
}

static void req_release(cairn_sim_req *req)
{
	cairn_sim_form_free(req->form);
	json_decref(req->json);
	json_decref(req->json_out);
	cairn_sim_xml_release(&req->xml);
	free_params(req);
}

/* --latency MS: an answer leaves MS after its request came in; the time
 * the sim spends on the request counts towards it (as a service whose
 * response time is MS), so an answer is later only when the work itself
 * takes longer. */
static void latency_wait(cairn_sim *sim, double t0)
{
	double left;

	if (sim->opt.latency_ms <= 0)
		return;
	left = (double)sim->opt.latency_ms / 1000.0 - (cairn_sim_now() - t0);
	if (left > 0)
		usleep((useconds_t)(left * 1e6));
}

static enum MHD_Result dispatch(cairn_sim_server *srv, conn_ctx *c, struct MHD_Connection *conn,
	const char *method)
{
	cairn_sim *sim = srv->sim;
	cairn_sim_req req;
	cairn_sim_sigv4 sig;
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	int sig_ok = 0;
	enum MHD_Result ret;
	size_t plen = strcspn(c->raw_uri, "?");
	double t0 = cairn_sim_now();

	snprintf(c->method, sizeof(c->method), "%s", method);
	snprintf(c->path, sizeof(c->path), "%.*s", (int)(plen < 255 ? plen : 255), c->raw_uri);
	c->started = 1;

	if (strncmp(c->raw_uri, "/_sim/", 6) == 0 || strcmp(c->path, "/_sim") == 0) {
		int status = 500;
		char *body = NULL;

		c->service_name = "_sim";
		cairn_sim_admin_handle(sim, method, c->path, c->body.ptr, c->body.len, &status, &body);
		if (!body && !(body = strdup("{}")))
			return MHD_NO;
		return send_response(conn, c, status, body, "application/json", NULL);
	}

	memset(&req, 0, sizeof(req));
	req.sim = sim;
	req.method = method;
	req.path = c->path;
	req.conn = conn;
	req.body = c->body.ptr ? c->body.ptr : "";
	req.body_len = c->body.len;
	cairn_sim_xml_init(&req.xml);
	cairn_sim_uuid(req.request_id);
	memcpy(c->request_id, req.request_id, sizeof(c->request_id));

	if (auth && cairn_sim_sigv4_parse(&sig, auth) == 0) {
		sig_ok = 1;
		req.service = cairn_sim_service_find(sig.service);
		if (!req.service)
			req.service = &unknown_service;
		snprintf(c->region, sizeof(c->region), "%s", sig.region);
	} else {
		req.service = infer_service(c->path, req.body, req.body_len);
		if (!req.service)
			req.service = &unknown_service;
		snprintf(c->region, sizeof(c->region), "%s", sim->opt.default_region);
	}
	req.region = c->region;
	c->service_name = req.service->name;

	if (sim->opt.drop_rate > 0 && cairn_sim_random() < sim->opt.drop_rate) {
		latency_wait(sim, t0);
		ret = MHD_NO; /* close the connection without an answer */
		goto cleanup;
	}
	if (c->too_large) {
		cairn_sim_fail(&req, 413, "RequestEntityTooLarge", "the request body exceeds %zu bytes", MAX_BODY);
	} else if ((sim->opt.no_auth || check_auth(sim, &req, conn, &sig, sig_ok, c->raw_uri) == 0) &&
		   parse_request(&req, c->raw_uri) == 0) {
		snprintf(c->action, sizeof(c->action), "%s", req.action->name);
		if (cairn_sim_faults_check(sim, &req) == 0) {
			const char *dry = req.form ? cairn_sim_form_get(req.form, "DryRun") : NULL;

			if (req.service->protocol == CAIRN_SIM_PROTO_EC2 && dry && strcmp(dry, "true") == 0)
				cairn_sim_fail(&req, 412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
			else
				run_action(sim, &req);
		}
	} else if (!req.err_status) {
		const cairn_error *e = cairn_error_last();

		cairn_sim_fail(&req, 400, req.service->protocol == CAIRN_SIM_PROTO_REST_JSON ?
			"SerializationException" : "MalformedQueryString", "%s", e ? e->message : "malformed request");
	}
	if (req.action)
		snprintf(c->action, sizeof(c->action), "%s", req.action->name);
	latency_wait(sim, t0);
	ret = respond(conn, c, &req);
cleanup:
	req_release(&req);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload_data,
	size_t *upload_data_size, void **con_cls)
{
	cairn_sim_server *srv = cls;
	conn_ctx *c = *con_cls;

	(void)url;
	(void)version;
	if (!c) {
		if (!(c = ctx_new(url)))
			return MHD_NO;
		*con_cls = c;
	}
	if (!c->started) {
		c->started = 1;
		c->start = cairn_sim_now();
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!c->too_large && cairn_buf_put(&c->body, upload_data, *upload_data_size) != 0)
			c->too_large = 1;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(srv, c, conn, method);
}

/* ---- start / stop ----------------------------------------------------------------- */

static int parse_listen(struct sockaddr_storage *ss, socklen_t *len, int *ipv6,
	const char *host, int port)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		*ipv6 = 0;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		*ipv6 = 1;
		return 0;
	}
	return cairn_error_set(CAIRN_EINVAL, "invalid listen address '%s': expected an IPv4 or IPv6 address", host);
}

int cairn_sim_server_start(cairn_sim_server **out, cairn_sim *sim, int *bound_port)
{
	cairn_sim_server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_storage ss, got;
	socklen_t len = sizeof(got);
	const union MHD_DaemonInfo *info;
	unsigned int flags;
	int ipv6 = 0, rc, threads = sim->opt.threads;

	if (!srv)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	srv->sim = sim;
	if ((rc = parse_listen(&ss, &len, &ipv6, sim->opt.listen_host, sim->opt.listen_port)) != 0)
		goto cleanup;
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		threads = n > 0 ? (int)n : 2;
		if (threads > 16)
			threads = 16;
	}
	/* injected latency sleeps in the handler: give each connection its own
	 * thread then, so one slow answer does not hold up the others */
	if (sim->opt.latency_ms > 0)
		flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
	else
		flags = MHD_USE_EPOLL_INTERNAL_THREAD;
	if (ipv6)
		flags |= MHD_USE_IPv6;
	if (sim->opt.latency_ms > 0)
		srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, srv,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			MHD_OPTION_URI_LOG_CALLBACK, uri_logger, srv,
			MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
			MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
			MHD_OPTION_END);
	else
		srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, srv,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
			MHD_OPTION_URI_LOG_CALLBACK, uri_logger, srv,
			MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
			MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
			MHD_OPTION_END);
	if (!srv->daemon) {
		rc = cairn_error_set(CAIRN_EIO, "cannot listen on %s:%d (address in use or not available)",
			sim->opt.listen_host, sim->opt.listen_port);
		goto cleanup;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_LISTEN_FD);
	if (info && getsockname(info->listen_fd, (struct sockaddr *)&got, &len) == 0)
		*bound_port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port :
			((struct sockaddr_in *)&got)->sin_port);
	else
		*bound_port = sim->opt.listen_port;
	*out = srv;
	srv = NULL;
cleanup:
	cairn_sim_server_stop(srv);
	return rc;
}

void cairn_sim_server_stop(cairn_sim_server *srv)
{
	if (!srv)
		return;
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	free(srv);
}
