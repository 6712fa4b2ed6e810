/*
 * sim.c - the `cairn sim` command: options, credentials, the store and the
 * server (and with --instance-hosts the sshds of ec2_hosts.c), and a clean
 * shutdown on SIGTERM / SIGINT. The request pipeline is
 * in server.c; the framework and how to add a service in sim_internal.h.
 *
 * Credentials: unless --credentials FILE names an ~/.aws/credentials-style
 * INI file (every profile's key pair is accepted), the sim accepts one
 * documented test key pair:
 *     access key  AKIDCAIRNSIMEXAMPLE
 *     secret key  cairn-sim-secret-key-do-not-use-in-prod
 */
#include "sim.h"
#include "sim_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ACCESS_KEY "AKIDCAIRNSIMEXAMPLE"
#define DEFAULT_SECRET_KEY "cairn-sim-secret-key-do-not-use-in-prod"

static const char usage[] =
	"usage: cairn sim [options]\n"
	"\n"
	"A local AWS-compatible cloud (EC2 VPC family, RDS, ElastiCache, EKS, STS) over the real wire protocols.\n"
	"\n"
	"  --listen HOST:PORT       address to listen on (default 127.0.0.1:4566; port 0 = any)\n"
	"  --db FILE                SQLite file for the sim's state (default: in memory)\n"
	"  --log                    a line per request on stderr\n"
	"  --credentials FILE       accept the key pairs of this ~/.aws/credentials-style file\n"
	"                           (default: " DEFAULT_ACCESS_KEY " / " DEFAULT_SECRET_KEY ")\n"
	"  --no-auth                do not check signatures\n"
	"  --region NAME            region of unsigned requests with --no-auth (us-east-1)\n"
	"  --account-id ID          the 12-digit account that owns everything (123456789012)\n"
	"  --default-vpc            create a default VPC in each region on first use\n"
	"  --realistic-timings      status changes take as long as on AWS\n"
	"  --threads N              worker threads (default: number of CPUs)\n"
	"  --terminated-retention S seconds a terminated EC2 instance stays visible (3600)\n"
	"instance hosts (root only):\n"
	"  --instance-hosts         each running EC2 instance is an SSH host: an sshd on its own\n"
	"                           loopback address (tag cairn-sim:ssh-address), root's key the\n"
	"                           instance's key pair, its own overlays of /etc, /usr, /var, ...\n"
	"  --instance-hosts-dir DIR the instances' layers (default: <db>.hosts beside --db,\n"
	"                           else a temporary directory removed at exit)\n"
	"faults:\n"
	"  --latency MS             every answer leaves MS after its request\n"
	"  --throttle-rate P        answer a share P (0..1) with the throttling error\n"
	"  --retry-after-share P    share of throttled answers with Retry-After (1)\n"
	"  --retry-after SECONDS    Retry-After value (1)\n"
	"  --error-rate P           answer a share P with 500/503 internal errors\n"
	"  --drop-rate P            close the connection without answering, share P\n"
	"  --rate-limit             token buckets per API as EC2 documents them\n"
	"  --rate-limit-scale F     multiply bucket sizes and refill rates by F (1)\n"
	"\n"
	"Admin endpoint (no authentication): GET /_sim/resources, GET|POST|DELETE\n"
	"/_sim/resources/ID, POST /_sim/reset, GET /_sim/health, and fault rules\n"
	"(errors for named actions) with GET|POST|DELETE /_sim/faults.\n";

static volatile sig_atomic_t unused_signal_flag;

static int parse_double(double *out, const char *opt, const char *v, double min, double max)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (end == v || *end || errno || d < min || d > max)
		return cairn_error_set(CAIRN_EINVAL, "invalid value '%s' for %s: expected a number from %g to %g",
			v, opt, min, max);
	*out = d;
	return 0;
}

static int parse_long(long *out, const char *opt, const char *v, long min, long max)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (end == v || *end || errno || n < min || n > max)
		return cairn_error_set(CAIRN_EINVAL, "invalid value '%s' for %s: expected an integer from %ld to %ld",
			v, opt, min, max);
	*out = (long)n;
	return 0;
}

static int parse_listen(cairn_sim_options *o, const char *v)
{
	const char *colon = strrchr(v, ':');
	size_t hl;
	long port = 0;
	char *host;

	if (!colon || colon == v)
		return cairn_error_set(CAIRN_EINVAL, "invalid value '%s' for --listen: expected HOST:PORT", v);
	hl = (size_t)(colon - v);
	if (v[0] == '[' && hl >= 2 && v[hl - 1] == ']') {
		v++;
		hl -= 2;
	}
	if (parse_long(&port, "--listen", colon + 1, 0, 65535) != 0)
		return CAIRN_EINVAL;
	if (!(host = strndup(v, hl)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	free(o->listen_host);
	o->listen_host = host;
	o->listen_port = (int)port;
	return 0;
}

static int add_cred(cairn_sim_options *o, const char *ak, const char *sk)
{
	cairn_sim_cred *c = realloc(o->creds, (o->n_creds + 1) * sizeof(*c));

	if (!c)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	o->creds = c;
	c[o->n_creds].access_key = strdup(ak);
	c[o->n_creds].secret_key = strdup(sk);
	o->n_creds++;
	if (!c[o->n_creds - 1].access_key || !c[o->n_creds - 1].secret_key)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* Flush the key pair of the profile just read. */
static int flush_profile(cairn_sim_options *o, char *ak, char *sk, const char *path, int line)
{
	if (!ak[0] && !sk[0])
		return 0;
	if (!ak[0] || !sk[0])
		return cairn_error_set(CAIRN_EINVAL, "cannot read %s:%d: a profile needs both "
			"aws_access_key_id and aws_secret_access_key", path, line);
	return add_cred(o, ak, sk);
}

/* Read every profile's key pair from an ~/.aws/credentials INI file. */
static int load_credentials(cairn_sim_options *o, const char *path)
{
	cairn_buf b = CAIRN_BUF_INIT;
	char ak[256] = "", sk[256] = "", *p, *line, *next;
	int rc, lineno = 0;

	cairn_buf_init(&b, 1 << 20);
	if ((rc = cairn_buf_read_file(&b, path)) != 0)
		goto cleanup;
	for (p = b.ptr; p && *p; p = next) {
		char *eq, *k, *v;

		next = strchr(p, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		line = trim(p);
		if (!*line || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			if ((rc = flush_profile(o, ak, sk, path, lineno)) != 0)
				goto cleanup;
			ak[0] = sk[0] = '\0';
			continue;
		}
		if (!(eq = strchr(line, '='))) {
			rc = cairn_error_set(CAIRN_EINVAL, "cannot read %s:%d: expected key = value", path, lineno);
			goto cleanup;
		}
		*eq = '\0';
		k = trim(line);
		v = trim(eq + 1);
		if (strcmp(k, "aws_access_key_id") == 0)
			snprintf(ak, sizeof(ak), "%s", v);
		else if (strcmp(k, "aws_secret_access_key") == 0)
			snprintf(sk, sizeof(sk), "%s", v);
	}
	if ((rc = flush_profile(o, ak, sk, path, lineno)) != 0)
		goto cleanup;
	if (o->n_creds == 0)
		rc = cairn_error_set(CAIRN_EINVAL, "no key pairs in credentials file %s", path);
cleanup:
	if (b.ptr)
		memset(b.ptr, 0, b.len);
	cairn_buf_release(&b);
	return rc;
}

static void options_release(cairn_sim_options *o)
{
	size_t i;

	free(o->listen_host);
	free(o->db_path);
	free(o->account_id);
	free(o->default_region);
	free(o->instance_hosts_dir);
	for (i = 0; i < o->n_creds; i++) {
		free(o->creds[i].access_key);
		free(o->creds[i].secret_key);
	}
	free(o->creds);
	memset(o, 0, sizeof(*o));
}

static int set_string(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	free(*dst);
	*dst = s;
	return 0;
}

static int valid_account(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return i == 12;
}

/* Parse argv (argv[0] is "sim"). *help is set for --help. */
static int parse_options(cairn_sim_options *o, int argc, char **argv, int *help)
{
	const char *creds_file = NULL;
	int i, rc = 0;
	long n;

	*help = 0;
	o->listen_port = 4566;
	o->retry_after_share = 1.0;
	o->retry_after_s = 1;
	o->rate_limit_scale = 1.0;
	o->terminated_retention = 3600;
	if ((rc = set_string(&o->listen_host, "127.0.0.1")) || (rc = set_string(&o->account_id, "123456789012")) ||
	    (rc = set_string(&o->default_region, "us-east-1")))
		return rc;
	for (i = 1; i < argc && !rc; i++) {
		const char *arg = argv[i], *val = NULL, *eq;
		char name[64];
		size_t nl;

		if (strncmp(arg, "--", 2) != 0)
			return cairn_error_set(CAIRN_EINVAL, "unexpected argument '%s' (see cairn sim --help)", arg);
		eq = strchr(arg, '=');
		nl = eq ? (size_t)(eq - arg) : strlen(arg);
		if (nl >= sizeof(name))
			return cairn_error_set(CAIRN_EINVAL, "unknown option '%s' (see cairn sim --help)", arg);
		memcpy(name, arg, nl);
		name[nl] = '\0';
		if (eq)
			val = eq + 1;

#define FLAG(opt, field) \
		if (strcmp(name, opt) == 0) { \
			if (val) \
				return cairn_error_set(CAIRN_EINVAL, "option %s takes no value", opt); \
			o->field = 1; \
			continue; \
		}
		FLAG("--log", log)
		FLAG("--no-auth", no_auth)
		FLAG("--default-vpc", default_vpc)
		FLAG("--realistic-timings", realistic_timings)
		FLAG("--rate-limit", rate_limit)
		FLAG("--instance-hosts", instance_hosts)
#undef FLAG
		if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
			*help = 1;
			return 0;
		}
		if (!val) {
			if (i + 1 >= argc)
				return cairn_error_set(CAIRN_EINVAL, "option %s needs a value (see cairn sim --help)", name);
			val = argv[++i];
		}
		if (strcmp(name, "--listen") == 0) {
			rc = parse_listen(o, val);
		} else if (strcmp(name, "--db") == 0) {
			rc = set_string(&o->db_path, val);
		} else if (strcmp(name, "--credentials") == 0) {
			creds_file = val;
		} else if (strcmp(name, "--region") == 0) {
			rc = set_string(&o->default_region, val);
		} else if (strcmp(name, "--account-id") == 0) {
			if (!valid_account(val))
				return cairn_error_set(CAIRN_EINVAL, "invalid value '%s' for --account-id: expected 12 digits", val);
			rc = set_string(&o->account_id, val);
		} else if (strcmp(name, "--threads") == 0) {
			if ((rc = parse_long(&n, name, val, 1, 256)) == 0)
				o->threads = (int)n;
		} else if (strcmp(name, "--latency") == 0) {
			rc = parse_long(&o->latency_ms, name, val, 0, 600000);
		} else if (strcmp(name, "--throttle-rate") == 0) {
			rc = parse_double(&o->throttle_rate, name, val, 0, 1);
		} else if (strcmp(name, "--retry-after-share") == 0) {
			rc = parse_double(&o->retry_after_share, name, val, 0, 1);
		} else if (strcmp(name, "--retry-after") == 0) {
			if ((rc = parse_long(&n, name, val, 0, 3600)) == 0)
				o->retry_after_s = (int)n;
		} else if (strcmp(name, "--error-rate") == 0) {
			rc = parse_double(&o->error_rate, name, val, 0, 1);
		} else if (strcmp(name, "--drop-rate") == 0) {
			rc = parse_double(&o->drop_rate, name, val, 0, 1);
		} else if (strcmp(name, "--terminated-retention") == 0) {
			rc = parse_long(&o->terminated_retention, name, val, 0, 7 * 86400);
		} else if (strcmp(name, "--instance-hosts-dir") == 0) {
			rc = set_string(&o->instance_hosts_dir, val);
		} else if (strcmp(name, "--rate-limit-scale") == 0) {
			rc = parse_double(&o->rate_limit_scale, name, val, 0.001, 1e6);
		} else {
			return cairn_error_set(CAIRN_EINVAL, "unknown option '%s' (see cairn sim --help)", name);
		}
	}
	if (rc)
		return rc;
	if (o->instance_hosts_dir && !o->instance_hosts)
		return cairn_error_set(CAIRN_EINVAL, "--instance-hosts-dir needs --instance-hosts");
	if (creds_file)
		return load_credentials(o, creds_file);
	return add_cred(o, DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY);
}

static int run(cairn_sim *sim)
{
	cairn_sim_server *srv = NULL;
	sigset_t set;
	int port = 0, sig = 0, rc;

	/* block the stop signals in every thread (libmicrohttpd's inherit the
	 * mask) so that the main thread can wait for them */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((rc = cairn_sim_server_start(&srv, sim, &port)) != 0)
		return rc;
	if (sim->hosts && (rc = cairn_sim_hosts_start(sim->hosts)) != 0) {
		cairn_sim_server_stop(srv);
		return rc;
	}
	printf("listening on %s%s%s:%d\n", strchr(sim->opt.listen_host, ':') ? "[" : "",
		sim->opt.listen_host, strchr(sim->opt.listen_host, ':') ? "]" : "", port);
	fflush(stdout);
	do {
		if (sigwait(&set, &sig) != 0)
			break;
	} while (sig != SIGTERM && sig != SIGINT && sig != SIGHUP);
	cairn_sim_server_stop(srv);
	if (sim->opt.log)
		fprintf(stderr, "cairn sim: stopped (signal %d)\n", sig);
	return 0;
}

int cairn_sim_main(int argc, char **argv)
{
	cairn_sim sim;
	int help = 0, rc, lock_ready = 0;

	memset(&sim, 0, sizeof(sim));
	(void)unused_signal_flag;
	if ((rc = parse_options(&sim.opt, argc, argv, &help)) != 0)
		goto cleanup;
	if (help) {
		fputs(usage, stdout);
		goto cleanup;
	}
	if ((rc = cairn_sim_store_open(&sim.store, sim.opt.db_path)) != 0 ||
	    (rc = cairn_sim_faults_new(&sim.faults, &sim.opt)) != 0 ||
	    (rc = cairn_sim_sessions_new(&sim.sessions)) != 0)
		goto cleanup;
	if (sim.opt.instance_hosts && (rc = cairn_sim_hosts_new(&sim.hosts, &sim)) != 0)
		goto cleanup;
	pthread_mutex_init(&sim.lock, NULL);
	lock_ready = 1;
	rc = run(&sim);
cleanup:
	if (rc) {
		const cairn_error *e = cairn_error_last();

		fprintf(stderr, "cairn sim: %s\n", e ? e->message : "failed");
	}
	cairn_sim_hosts_free(sim.hosts); /* after the server: every sshd stops */
	if (lock_ready)
		pthread_mutex_destroy(&sim.lock);
	cairn_sim_faults_free(sim.faults);
	cairn_sim_sessions_free(sim.sessions);
	cairn_sim_store_free(sim.store);
	options_release(&sim.opt);
	return rc ? (rc == CAIRN_EINVAL ? 2 : 1) : 0;
}
