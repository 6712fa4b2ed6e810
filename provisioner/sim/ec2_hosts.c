/*
 * ec2_hosts.c - `cairn sim --instance-hosts`: every running EC2 instance of
 * the sim is a real SSH host on this machine.
 *
 * Each instance gets, at launch, a loopback address of its own (127.0.x.y,
 * x from 2; recorded as its attribute hostAddress and shown as its tag
 * cairn-sim:ssh-address) and, at its first boot, a layer: a directory
 * <data dir>/<instance id>/ with an upper and a work directory for each of
 * /etc, /usr, /var, /opt, /srv, /home and /root, its own sshd_config and
 * ECDSA host key in etc/upper/ssh/, its host name in etc/upper/hostname
 * (ip-10-0-1-4, as EC2 names hosts), and the key pair's public key in
 * root/upper/.ssh/authorized_keys (an opaque directory: this machine's
 * /root/.ssh does not show through).
 *
 * A thread of its own (the reconciler) looks at the instances every 100 ms
 * and makes the sshds follow their states: an instance that is running
 * gets `/usr/sbin/sshd -D -e` started as the first process of a new PID,
 * mount and UTS namespace (clone(CLONE_NEWPID | CLONE_NEWNS |
 * CLONE_NEWUTS)), where mount propagation is made private, the seven
 * directories are overlays of this machine's (lower) and the instance's
 * layer (upper), /tmp and /run are fresh tmpfs, /proc is the namespace's
 * own and the host name is the instance's. What a session writes to
 * /etc/app/app.conf lands in <layer>/etc/upper/app/app.conf, never in this
 * machine's /etc. An instance that stops (or stops being running in any
 * way) gets its sshd stopped (SIGTERM; SIGKILL after 5 s): as the PID
 * namespace's first process dies, the kernel kills every session in it and
 * the overlays go with the namespace. The layer stays while the instance
 * is stopped and is removed once it is terminated (or gone). The sim's
 * stop stops every sshd; a sim killed outright takes them along
 * (PR_SET_PDEATHSIG).
 *
 * Not a security boundary: root in an instance is root on this machine
 * (same users, network, devices); only the file system view is private.
 */
#include "ec2.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define SSHD_PATH "/usr/sbin/sshd"
#define SSH_PORT 22
#define CHILD_STACK (256 * 1024)
#define MARKER ".cairn-sim-layer"
#define TICK_MS 100
#define STOP_GRACE_S 5.0
#define RETRY_AFTER_S 2.0

/* What each instance sees as its own: overlays of these. */
static const char *const overlaid[] = { "/etc", "/usr", "/var", "/opt", "/srv", "/home", "/root" };
#define N_OVERLAID (sizeof(overlaid) / sizeof(overlaid[0]))

/* The addresses: 127.0.2.1 to 127.0.255.254 (.0 and .255 left out). */
#define ADDR_COUNT (254u * 254u)

typedef struct host {
	char id[40];
	char address[32];
	char *layer;       /* <dir>/<id> */
	pid_t pid;         /* the sshd (first process of its namespace); 0 when none */
	int listening;     /* its port 22 accepted a connection since it started */
	double retry_at;   /* after an sshd that died: not started again before */
} host;

struct cairn_sim_hosts {
	cairn_sim *sim;
	char *dir;
	int own_dir;       /* a temporary directory of ours: removed at the end */
	uint32_t next;     /* index of the next address to try */
	pthread_t thread;
	int started;
	pthread_mutex_t mu; /* guards v, n, stop */
	pthread_cond_t cond;
	int stop;
	host *v;
	size_t n, alloc;
};

/* An instance as the reconciler sees it (copied out of the store). */
typedef struct inst_view {
	char *id, *status, *address, *key, *private_ip;
} inst_view;

static void say(const cairn_sim_hosts *h, int always, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(const cairn_sim_hosts *h, int always, const char *fmt, ...)
{
	va_list ap;

	if (!always && !h->sim->opt.log)
		return;
	va_start(ap, fmt);
	fputs("cairn sim: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* A path from fmt (the data directory is short enough, see data_dir, for
 * every path made from it to fit in PATH_MAX: this only keeps gcc's
 * truncation check satisfied and the path whole). */
static void pathf(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		out[0] = '\0';
}

static void address_of(uint32_t index, char *out, size_t size)
{
	index %= ADDR_COUNT;
	snprintf(out, size, "127.0.%u.%u", 2 + index / 254, 1 + index % 254);
}

/* Can port 22 of address be bound (nothing listens there, nor on *:22)? */
static int port_free(const char *address)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, ok;

	if (fd < 0)
		return 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(SSH_PORT);
	inet_pton(AF_INET, address, &sin.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

/* Does port 22 of address accept a connection (a loopback connect is
 * answered at once: refused or accepted)? */
static int port_accepts(const char *address)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(SSH_PORT);
	inet_pton(AF_INET, address, &sin.sin_addr);
	ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

int cairn_sim_hosts_pick(cairn_sim_hosts *h, int (*used)(void *ud, const char *address), void *ud,
	char *out, size_t size)
{
	uint32_t k;

	for (k = 0; k < ADDR_COUNT; k++) {
		uint32_t i = (h->next + k) % ADDR_COUNT;

		address_of(i, out, size);
		if (used(ud, out) || !port_free(out))
			continue;
		h->next = (i + 1) % ADDR_COUNT;
		return 0;
	}
	return cairn_error_set(CAIRN_ELIMIT, "no loopback address left for an instance host (127.0.2.1 to "
		"127.0.255.254, port 22)");
}

/* ---- files ---------------------------------------------------------------------- */

static int write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	ssize_t w;
	size_t off = 0;

	if (fd < 0)
		return cairn_error_set(CAIRN_EIO, "cannot write %s: %s", path, strerror(errno));
	while (off < len) {
		if ((w = write(fd, text + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return cairn_error_set(CAIRN_EIO, "cannot write %s: %s", path, strerror(errno));
		}
		off += (size_t)w;
	}
	if (fchmod(fd, mode) != 0 || close(fd) != 0)
		return cairn_error_set(CAIRN_EIO, "cannot write %s: %s", path, strerror(errno));
	return 0;
}

static int make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) != 0 && errno != EEXIST)
		return cairn_error_set(CAIRN_EIO, "cannot create directory %s: %s", path, strerror(errno));
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t i;
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return cairn_error_set(CAIRN_EINVAL, "path too long: %s", path);
	for (i = 1; tmp[i]; i++) {
		if (tmp[i] != '/')
			continue;
		tmp[i] = '\0';
		if ((rc = make_dir(tmp, 0755)) != 0)
			return rc;
		tmp[i] = '/';
	}
	return make_dir(tmp, mode);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* Remove a directory tree (never crossing into another file system). */
static int rm_tree(const char *path)
{
	if (nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0 && errno != ENOENT)
		return cairn_error_set(CAIRN_EIO, "cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* ---- a layer's first boot ----------------------------------------------------------- */

static const char sshd_config[] =
	"# Written by cairn sim at the first boot of instance %s: its own sshd,\n"
	"# on its own loopback address, lets root in with the instance's key pair.\n"
	"ListenAddress %s:%d\n"
	"HostKey /etc/ssh/ssh_host_ecdsa_key\n"
	"PidFile none\n"
	"PermitRootLogin prohibit-password\n"
	"PubkeyAuthentication yes\n"
	"AuthorizedKeysFile .ssh/authorized_keys\n"
	"PasswordAuthentication no\n"
	"KbdInteractiveAuthentication no\n"
	"UsePAM no\n"
	"AllowTcpForwarding yes\n"
	"X11Forwarding no\n"
	"PrintMotd no\n"
	"AcceptEnv LANG LC_*\n"
	"Subsystem sftp internal-sftp\n";

/* Append an SSH wire string to b. */
static int put_wire(cairn_buf *b, const void *s, size_t n)
{
	unsigned char len[4] = { (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
		(unsigned char)n };
	int rc = cairn_buf_put(b, len, 4);

	return rc ? rc : cairn_buf_put(b, s, n);
}

/* <path>.pub in OpenSSH's format: sshd checks it against the private key
 * (this machine's own .pub would show through the overlay otherwise). */
static int write_host_pub(const char *path, EVP_PKEY *pk)
{
	unsigned char point[133];
	size_t plen = 0;
	cairn_buf blob = CAIRN_BUF_INIT, text = CAIRN_BUF_INIT;
	char *b64 = NULL, pub[PATH_MAX];
	int rc;

	if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &plen) != 1)
		return cairn_error_set(CAIRN_ERROR, "cannot read the host key's public part");
	if ((rc = put_wire(&blob, "ecdsa-sha2-nistp256", 19)) != 0 || (rc = put_wire(&blob, "nistp256", 8)) != 0 ||
	    (rc = put_wire(&blob, point, plen)) != 0)
		goto cleanup;
	if (!(b64 = malloc(4 * ((blob.len + 2) / 3) + 1))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)blob.ptr, (int)blob.len);
	if ((rc = cairn_buf_printf(&text, "ecdsa-sha2-nistp256 %s root@cairn-sim\n", b64)) != 0)
		goto cleanup;
	pathf(pub, sizeof(pub), "%s.pub", path);
	rc = write_file(pub, text.ptr, text.len, 0644);
cleanup:
	free(b64);
	cairn_buf_release(&blob);
	cairn_buf_release(&text);
	return rc;
}

/* An ECDSA P-256 host key, PEM (OpenSSH reads it as a host key). */
static int write_host_key(const char *path)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	int fd = -1, rc = 0;
	FILE *f = NULL;

	if (!pk)
		return cairn_error_set(CAIRN_ERROR, "cannot generate a host key");
	unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0 || !(f = fdopen(fd, "w"))) {
		rc = cairn_error_set(CAIRN_EIO, "cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto cleanup;
	}
	if (PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) != 1)
		rc = cairn_error_set(CAIRN_EIO, "cannot write the host key %s", path);
	if (fclose(f) != 0 && !rc)
		rc = cairn_error_set(CAIRN_EIO, "cannot write %s: %s", path, strerror(errno));
	if (!rc)
		rc = write_host_pub(path, pk);
cleanup:
	EVP_PKEY_free(pk);
	return rc;
}

/* This machine's root is locked ('!' in /etc/shadow): sshd without PAM
 * refuses locked accounts, so the instance's own /etc/shadow unlocks it
 * (no password: '*'), as the images cloud-init boots do for their user. */
static int unlock_root(const char *etc_upper)
{
	cairn_buf b = CAIRN_BUF_INIT, out = CAIRN_BUF_INIT;
	struct stat st;
	char path[PATH_MAX];
	const char *line;
	int rc = 0, fd, locked = 0;

	cairn_buf_init(&b, 16 << 20);
	if (stat("/etc/shadow", &st) != 0 || cairn_buf_read_file(&b, "/etc/shadow") != 0 || !b.ptr)
		return 0; /* nothing to unlock */
	for (line = b.ptr; *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line + 1) : strlen(line);

		if (strncmp(line, "root:!", 6) == 0) {
			const char *rest = memchr(line + 5, ':', n - 5);

			locked = 1;
			if ((rc = cairn_buf_puts(&out, "root:*")) != 0 ||
			    (rc = cairn_buf_put(&out, rest ? rest : "\n", rest ? (size_t)(line + n - rest) : 1)) != 0)
				goto cleanup;
		} else if ((rc = cairn_buf_put(&out, line, n)) != 0) {
			goto cleanup;
		}
		line += n;
	}
	if (!locked)
		goto cleanup;
	pathf(path, sizeof(path), "%s/shadow", etc_upper);
	if ((rc = write_file(path, out.ptr, out.len, st.st_mode & 07777)) != 0)
		goto cleanup;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		if (fchown(fd, st.st_uid, st.st_gid) != 0)
			rc = cairn_error_set(CAIRN_EIO, "cannot set the owner of %s: %s", path, strerror(errno));
		close(fd);
	}
cleanup:
	if (b.ptr)
		memset(b.ptr, 0, b.len);
	cairn_buf_release(&b);
	if (out.ptr)
		memset(out.ptr, 0, out.len);
	cairn_buf_release(&out);
	return rc;
}

/* Make a new layer: upper and work directories (the upper's root with
 * the mode and owner of the directory it covers), the sshd's config and
 * host key, root's authorized_keys, the marker that says it is ours. */
static int first_boot(const host *ho, const char *key, const char *private_ip)
{
	char path[PATH_MAX], text[2048];
	size_t i;
	int rc, n;

	if ((rc = mkdir_p(ho->layer, 0700)) != 0)
		return rc;
	for (i = 0; i < N_OVERLAID; i++) {
		struct stat st;

		if (stat(overlaid[i], &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		pathf(path, sizeof(path), "%s%s", ho->layer, overlaid[i]);
		if ((rc = make_dir(path, 0700)) != 0)
			return rc;
		pathf(path, sizeof(path), "%s%s/work", ho->layer, overlaid[i]);
		if ((rc = make_dir(path, 0700)) != 0)
			return rc;
		pathf(path, sizeof(path), "%s%s/upper", ho->layer, overlaid[i]);
		if ((rc = make_dir(path, st.st_mode & 07777)) != 0)
			return rc;
		if (chmod(path, st.st_mode & 07777) != 0 || chown(path, st.st_uid, st.st_gid) != 0)
			return cairn_error_set(CAIRN_EIO, "cannot set up %s: %s", path, strerror(errno));
	}
	pathf(path, sizeof(path), "%s/etc/upper/ssh", ho->layer);
	if ((rc = make_dir(path, 0755)) != 0)
		return rc;
	pathf(path, sizeof(path), "%s/etc/upper/ssh/ssh_host_ecdsa_key", ho->layer);
	if ((rc = write_host_key(path)) != 0)
		return rc;
	n = snprintf(text, sizeof(text), sshd_config, ho->id, ho->address, SSH_PORT);
	pathf(path, sizeof(path), "%s/etc/upper/ssh/sshd_config", ho->layer);
	if ((rc = write_file(path, text, (size_t)n, 0644)) != 0)
		return rc;
	pathf(path, sizeof(path), "%s/etc/upper", ho->layer);
	if ((rc = unlock_root(path)) != 0)
		return rc;
	if (private_ip) {
		size_t i;

		n = snprintf(text, sizeof(text), "ip-%.40s\n", private_ip);
		for (i = 0; text[i]; i++)
			if (text[i] == '.')
				text[i] = '-';
		pathf(path, sizeof(path), "%s/etc/upper/hostname", ho->layer);
		if ((rc = write_file(path, text, (size_t)n, 0644)) != 0)
			return rc;
	}
	pathf(path, sizeof(path), "%s/root/upper/.ssh", ho->layer);
	if ((rc = make_dir(path, 0700)) != 0)
		return rc;
	/* opaque: this machine's /root/.ssh does not show through */
	setxattr(path, "trusted.overlay.opaque", "y", 1, 0);
	if (key && *key) {
		pathf(path, sizeof(path), "%s/root/upper/.ssh/authorized_keys", ho->layer);
		n = snprintf(text, sizeof(text), "%s\n", key);
		if (n >= (int)sizeof(text))
			return cairn_error_set(CAIRN_EINVAL, "the key pair of %s is too long", ho->id);
		if ((rc = write_file(path, text, (size_t)n, 0600)) != 0)
			return rc;
	}
	pathf(path, sizeof(path), "%s/" MARKER, ho->layer);
	return write_file(path, ho->id, strlen(ho->id), 0600);
}

/* ---- the sshd: a child in its own PID and mount namespace --------------------------- */

/* Where the child stopped, for the log and the probe at start. */
enum child_step {
	STEP_OK = 0, STEP_PRIVATE = 10, STEP_OVERLAY = 11, STEP_TMPFS = 12, STEP_WRITE = 13, STEP_EXEC = 14,
};

typedef struct child_args {
	char mounts[N_OVERLAID][PATH_MAX * 3]; /* overlay options, "" for none */
	const char *targets[N_OVERLAID];
	size_t n;
	int log_fd, null_fd;
	int probe;             /* the start check: mount, write a file, no sshd */
	char probe_file[PATH_MAX];
	char probe_tmp[PATH_MAX];
	char hostname[64];     /* "ip-10-0-1-4", as EC2 names its hosts; "" to keep */
} child_args;

/* Only async-signal-safe calls from here to execve. */
static void child_note(int fd, const char *what, int err)
{
	char num[16];
	int i = (int)sizeof(num);

	if (fd < 0)
		return;
	do {
		num[--i] = (char)('0' + err % 10);
		err /= 10;
	} while (err && i > 0);
	(void)!write(fd, "cairn sim: ", 11);
	(void)!write(fd, what, strlen(what));
	(void)!write(fd, ": errno ", 8);
	(void)!write(fd, num + i, sizeof(num) - (size_t)i);
	(void)!write(fd, "\n", 1);
}

static int child_main(void *arg)
{
	child_args *a = arg;
	char *const argv[] = { (char *)SSHD_PATH, (char *)"-D", (char *)"-e", (char *)"-f",
		(char *)"/etc/ssh/sshd_config", NULL };
	char *const envp[] = { (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	struct sigaction dfl;
	sigset_t none;
	size_t i;
	int fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &dfl, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (a->hostname[0])
		sethostname(a->hostname, strlen(a->hostname));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		child_note(a->log_fd, "cannot make the mounts private", errno);
		_exit(STEP_PRIVATE);
	}
	for (i = 0; i < a->n; i++) {
		if (mount("overlay", a->targets[i], "overlay", 0, a->mounts[i]) != 0) {
			child_note(a->log_fd, "cannot mount an overlay", errno);
			_exit(STEP_OVERLAY);
		}
	}
	if (a->probe) {
		if (mount("tmpfs", a->probe_tmp, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0)
			_exit(STEP_TMPFS);
		if ((fd = open(a->probe_file, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
			_exit(STEP_WRITE);
		close(fd);
		_exit(STEP_OK);
	}
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0 ||
	    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) {
		child_note(a->log_fd, "cannot mount a tmpfs", errno);
		_exit(STEP_TMPFS);
	}
	mkdir("/run/sshd", 0755);
	/* the namespace's own processes in /proc (not fatal: ps would show this machine's) */
	mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (chdir("/") != 0)
		_exit(STEP_EXEC);
	dup2(a->null_fd, 0);
	dup2(a->log_fd, 1);
	dup2(a->log_fd, 2);
	execve(SSHD_PATH, argv, envp);
	child_note(2, "cannot run " SSHD_PATH, errno);
	_exit(STEP_EXEC);
}

/* clone() the child: the first process of a new PID, mount and UTS
 * (host name) namespace. */
static int spawn(child_args *a, pid_t *out)
{
	char *stack = malloc(CHILD_STACK);
	pid_t pid;

	if (!stack)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	pid = clone(child_main, stack + CHILD_STACK, CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | SIGCHLD, a);
	free(stack); /* the child runs on its own copy */
	if (pid < 0)
		return cairn_error_set(CAIRN_EIO, "cannot create a private mount and PID namespace: %s", strerror(errno));
	*out = pid;
	return 0;
}

/* The overlay options for each directory the layer covers. */
static int overlay_args(child_args *a, const char *layer, const char *const *targets, size_t n)
{
	size_t i;

	a->n = 0;
	for (i = 0; i < n; i++) {
		struct stat st;
		char upper[PATH_MAX];

		pathf(upper, sizeof(upper), "%s%s/upper", layer, targets[i]);
		if (stat(upper, &st) != 0)
			continue; /* this machine has no such directory */
		if (snprintf(a->mounts[a->n], sizeof(a->mounts[a->n]), "lowerdir=%s,upperdir=%s%s/upper,workdir=%s%s/work",
			     targets[i], layer, targets[i], layer, targets[i]) >= (int)sizeof(a->mounts[a->n]))
			return cairn_error_set(CAIRN_EINVAL, "path too long: %s", layer);
		a->targets[a->n++] = targets[i];
	}
	return 0;
}

static int start_sshd(cairn_sim_hosts *h, host *ho, const char *private_ip)
{
	child_args *a = calloc(1, sizeof(*a));
	char path[PATH_MAX];
	int rc;

	if (!a)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	a->log_fd = a->null_fd = -1;
	if ((rc = overlay_args(a, ho->layer, overlaid, N_OVERLAID)) != 0)
		goto cleanup;
	if (private_ip) {
		size_t i;

		snprintf(a->hostname, sizeof(a->hostname), "ip-%.40s", private_ip);
		for (i = 0; a->hostname[i]; i++)
			if (a->hostname[i] == '.')
				a->hostname[i] = '-';
	}
	pathf(path, sizeof(path), "%s/sshd.log", ho->layer);
	if ((a->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0 ||
	    (a->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		rc = cairn_error_set(CAIRN_EIO, "cannot open %s: %s", path, strerror(errno));
		goto cleanup;
	}
	if ((rc = spawn(a, &ho->pid)) != 0)
		goto cleanup;
	say(h, 0, "instance %s: sshd on %s:%d (pid %d), layer %s", ho->id, ho->address, SSH_PORT, (int)ho->pid,
		ho->layer);
cleanup:
	if (a->log_fd >= 0)
		close(a->log_fd);
	if (a->null_fd >= 0)
		close(a->null_fd);
	free(a);
	return rc;
}

/* SIGTERM, and SIGKILL when it is still there after the grace period. */
static void stop_sshd(cairn_sim_hosts *h, host *ho)
{
	double until = cairn_sim_now() + STOP_GRACE_S;
	int status;

	if (ho->pid <= 0)
		return;
	kill(ho->pid, SIGTERM);
	while (waitpid(ho->pid, &status, WNOHANG) == 0) {
		if (cairn_sim_now() > until) {
			kill(ho->pid, SIGKILL);
			waitpid(ho->pid, &status, 0);
			break;
		}
		usleep(10000);
	}
	say(h, 0, "instance %s: sshd (pid %d) stopped", ho->id, (int)ho->pid);
	ho->pid = 0;
	ho->listening = 0;
}

/* ---- the table ------------------------------------------------------------------------ */

static host *find_host(cairn_sim_hosts *h, const char *id)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (strcmp(h->v[i].id, id) == 0)
			return &h->v[i];
	return NULL;
}

/* Called with h->mu held. */
static host *add_host(cairn_sim_hosts *h, const char *id)
{
	host *ho;

	if (h->n == h->alloc) {
		size_t a = h->alloc ? h->alloc * 2 : 16;
		host *v = realloc(h->v, a * sizeof(*v));

		if (!v)
			return NULL;
		h->v = v;
		h->alloc = a;
	}
	ho = &h->v[h->n];
	memset(ho, 0, sizeof(*ho));
	snprintf(ho->id, sizeof(ho->id), "%s", id);
	if (asprintf(&ho->layer, "%s/%s", h->dir, id) < 0)
		return NULL;
	h->n++;
	return ho;
}

/* Called with h->mu held. */
static void drop_host(cairn_sim_hosts *h, size_t i)
{
	free(h->v[i].layer);
	h->v[i] = h->v[h->n - 1];
	h->n--;
}

/* The layers a previous run left (with --db): known, not running. */
static int discover(cairn_sim_hosts *h)
{
	DIR *d = opendir(h->dir);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return cairn_error_set(CAIRN_EIO, "cannot read %s: %s", h->dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char marker[PATH_MAX];
		struct stat st;

		if (strncmp(e->d_name, "i-", 2) != 0 || strlen(e->d_name) >= sizeof(((host *)0)->id))
			continue;
		pathf(marker, sizeof(marker), "%s/%s/" MARKER, h->dir, e->d_name);
		if (stat(marker, &st) != 0)
			continue;
		if (!add_host(h, e->d_name)) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			break;
		}
	}
	closedir(d);
	return rc;
}

/* ---- the reconciler ------------------------------------------------------------------- */

static void views_free(inst_view *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].status);
		free(v[i].address);
		free(v[i].key);
		free(v[i].private_ip);
	}
	free(v);
}

static char *dup_opt(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Every instance's id, state, address and key, from the store. */
static int snapshot(cairn_sim_hosts *h, inst_view **out, size_t *n)
{
	cairn_sim *sim = h->sim;
	cairn_sim_reslist l = { NULL, 0, 0 };
	inst_view *v = NULL;
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&sim->lock);
	if ((rc = cairn_sim_store_begin(sim->store, 1)) == 0) {
		rc = ec2_instances_list(sim, NULL, &l);
		if (rc == 0)
			rc = cairn_sim_store_commit(sim->store);
		else
			cairn_sim_store_rollback(sim->store);
	}
	pthread_mutex_unlock(&sim->lock);
	if (rc)
		goto cleanup;
	if (l.n && !(v = calloc(l.n, sizeof(*v)))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < l.n; i++) {
		v[i].id = strdup(l.v[i]->id);
		v[i].status = strdup(l.v[i]->status);
		v[i].address = dup_opt(ec2_str(l.v[i], "hostAddress"));
		v[i].key = dup_opt(ec2_str(l.v[i], "keyMaterial"));
		v[i].private_ip = dup_opt(ec2_str(l.v[i], "privateIpAddress"));
		if (!v[i].id || !v[i].status) {
			views_free(v, l.n);
			v = NULL;
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	*out = v;
	*n = l.n;
cleanup:
	cairn_sim_reslist_release(&l);
	return rc;
}

static const inst_view *find_view(const inst_view *v, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].id, id) == 0)
			return &v[i];
	return NULL;
}

/* An sshd that ended by itself (killed inside the instance, or failed to
 * start): noted, and started again after RETRY_AFTER_S. */
static void reap(cairn_sim_hosts *h)
{
	size_t i;
	int status;

	for (i = 0; i < h->n; i++) {
		host *ho = &h->v[i];

		if (ho->pid <= 0 || waitpid(ho->pid, &status, WNOHANG) != ho->pid)
			continue;
		say(h, 1, "instance %s: sshd (pid %d) ended by itself (%s %d); see %s/sshd.log", ho->id, (int)ho->pid,
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), ho->layer);
		ho->pid = 0;
		ho->listening = 0;
		ho->retry_at = cairn_sim_now() + RETRY_AFTER_S;
	}
}

/* An instance boots while it is pending: its sshd starts then, and the
 * instance becomes running once the sshd listens (cairn_sim_hosts_ready). */
static int booted(const char *status)
{
	return strcmp(status, "running") == 0 || strcmp(status, "pending") == 0;
}

static void start_one(cairn_sim_hosts *h, const inst_view *w)
{
	host *ho;
	char marker[PATH_MAX];
	struct stat st;
	int rc;

	pthread_mutex_lock(&h->mu);
	ho = find_host(h, w->id);
	if (!ho)
		ho = add_host(h, w->id);
	if (ho && ho->pid <= 0)
		snprintf(ho->address, sizeof(ho->address), "%s", w->address);
	pthread_mutex_unlock(&h->mu);
	if (ho && ho->pid > 0 && !ho->listening && port_accepts(w->address)) {
		pthread_mutex_lock(&h->mu);
		ho->listening = 1;
		pthread_mutex_unlock(&h->mu);
	}
	if (!ho || ho->pid > 0 || cairn_sim_now() < ho->retry_at)
		return;
	pathf(marker, sizeof(marker), "%s/" MARKER, ho->layer);
	rc = stat(marker, &st) == 0 ? 0 : first_boot(ho, w->key, w->private_ip);
	pthread_mutex_lock(&h->mu);
	if (rc == 0)
		rc = start_sshd(h, ho, w->private_ip);
	pthread_mutex_unlock(&h->mu);
	if (rc) {
		const cairn_error *e = cairn_error_last();

		say(h, 1, "instance %s: cannot start its sshd: %s", w->id, e ? e->message : "failed");
		ho->retry_at = cairn_sim_now() + RETRY_AFTER_S;
	}
}

static void tick(cairn_sim_hosts *h)
{
	inst_view *v = NULL;
	size_t n = 0, i;

	if (snapshot(h, &v, &n) != 0) {
		const cairn_error *e = cairn_error_last();

		say(h, 1, "instance hosts: cannot read the instances: %s", e ? e->message : "failed");
		return;
	}
	pthread_mutex_lock(&h->mu);
	reap(h);
	/* stop what no longer runs; remove the layers of what is gone */
	for (i = 0; i < h->n;) {
		host *ho = &h->v[i];
		const inst_view *w = find_view(v, n, ho->id);

		if (ho->pid > 0 && (!w || !booted(w->status)))
			stop_sshd(h, ho);
		if (!w || strcmp(w->status, "terminated") == 0) {
			if (rm_tree(ho->layer) != 0) {
				const cairn_error *e = cairn_error_last();

				say(h, 1, "instance %s: %s", ho->id, e ? e->message : "cannot remove its layer");
				i++;
				continue;
			}
			say(h, 0, "instance %s: layer %s removed", ho->id, ho->layer);
			drop_host(h, i);
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&h->mu);
	for (i = 0; i < n; i++)
		if (booted(v[i].status) && v[i].address)
			start_one(h, &v[i]);
	views_free(v, n);
}

static void *reconciler(void *arg)
{
	cairn_sim_hosts *h = arg;

	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&h->mu);
		tick(h);
		pthread_mutex_lock(&h->mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!h->stop)
			pthread_cond_timedwait(&h->cond, &h->mu, &ts);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* ---- the start checks ----------------------------------------------------------------- */

/* The data directory: given, <db>.hosts beside --db, or a new temporary
 * one; absolute; not under a directory the instances overlay (an overlay's
 * upper layer inside its lower one is refused by the kernel); no ',' or ':'
 * (the overlay options' separators). */
/* A message when path is under one of the overlaid directories. */
static int overlaid_check(const char *path)
{
	size_t i;

	for (i = 0; i < N_OVERLAID; i++) {
		size_t l = strlen(overlaid[i]);

		if (strncmp(path, overlaid[i], l) == 0 && (path[l] == '/' || path[l] == '\0'))
			return cairn_error_set(CAIRN_EINVAL, "--instance-hosts: the data directory %s is under %s, which "
				"every instance overlays: choose one elsewhere with --instance-hosts-dir (for example "
				"under /tmp)", path, overlaid[i]);
	}
	return 0;
}

static int data_dir(cairn_sim_hosts *h)
{
	const cairn_sim_options *o = &h->sim->opt;
	char real[PATH_MAX], *path = NULL;
	int rc;

	if (o->instance_hosts_dir) {
		path = strdup(o->instance_hosts_dir);
	} else if (o->db_path) {
		if (asprintf(&path, "%s.hosts", o->db_path) < 0)
			path = NULL;
	} else {
		const char *tmp = getenv("TMPDIR");

		if (asprintf(&path, "%s/cairn-sim-hosts.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
			path = NULL;
		else if (!mkdtemp(path)) {
			rc = cairn_error_set(CAIRN_EIO, "--instance-hosts: cannot create a directory %s: %s", path,
				strerror(errno));
			free(path);
			return rc;
		}
		h->own_dir = 1;
	}
	if (!path)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	/* before anything is made there (a symbolic link is caught below) */
	if (path[0] == '/' && (rc = overlaid_check(path)) != 0) {
		free(path);
		return rc;
	}
	if (path[0] != '/' && getcwd(real, sizeof(real))) {
		char *joined = NULL;

		if (asprintf(&joined, "%s/%s", real, path) < 0)
			joined = NULL;
		rc = joined ? overlaid_check(joined) : cairn_error_set(CAIRN_ENOMEM, "out of memory");
		free(joined);
		if (rc) {
			free(path);
			return rc;
		}
	}
	if ((rc = mkdir_p(path, 0700)) != 0 || !realpath(path, real)) {
		rc = rc ? rc : cairn_error_set(CAIRN_EIO, "--instance-hosts: cannot use %s: %s", path, strerror(errno));
		free(path);
		return rc;
	}
	free(path);
	if (!(h->dir = strdup(real)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (strlen(real) > 1024)
		return cairn_error_set(CAIRN_EINVAL, "--instance-hosts: the data directory's path is too long (%s)", real);
	if (strpbrk(real, ",:\\"))
		return cairn_error_set(CAIRN_EINVAL, "--instance-hosts: the data directory %s has a ',', ':' or '\\' "
			"in its path, which overlay mount options cannot take: choose another with --instance-hosts-dir",
			real);
	return overlaid_check(real);
}

/* Mount an overlay of a scratch directory and a tmpfs in a private
 * namespace, as each sshd's start will: the message says what failed. */
static int probe(cairn_sim_hosts *h)
{
	static const char *const names[] = { "lower", "upper", "work", "merged", "tmp" };
	child_args *a = calloc(1, sizeof(*a));
	char base[PATH_MAX], path[PATH_MAX];
	struct stat st;
	pid_t pid = -1;
	size_t i;
	int rc, status = 0;

	if (!a)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	a->log_fd = a->null_fd = -1;
	pathf(base, sizeof(base), "%s/.probe", h->dir);
	rm_tree(base);
	if ((rc = make_dir(base, 0700)) != 0)
		goto cleanup;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		pathf(path, sizeof(path), "%s/%s", base, names[i]);
		if ((rc = make_dir(path, 0700)) != 0)
			goto cleanup;
	}
	a->probe = 1;
	a->n = 1;
	pathf(a->mounts[0], sizeof(a->mounts[0]), "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work",
		base, base, base);
	pathf(path, sizeof(path), "%s/merged", base);
	a->targets[0] = path;
	pathf(a->probe_file, sizeof(a->probe_file), "%s/merged/written", base);
	pathf(a->probe_tmp, sizeof(a->probe_tmp), "%s/tmp", base);
	if ((rc = spawn(a, &pid)) != 0) {
		char why[2048];

		snprintf(why, sizeof(why), "%s", cairn_error_last()->message);
		rc = cairn_error_set(CAIRN_EIO, "--instance-hosts: %s (the sim needs root with CAP_SYS_ADMIN; in a "
			"container, a privileged one)", why);
		goto cleanup;
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
		rc = cairn_error_set(CAIRN_EIO, "--instance-hosts: the namespace check did not finish");
		goto cleanup;
	}
	pathf(path, sizeof(path), "%s/upper/written", base);
	switch (WEXITSTATUS(status)) {
	case STEP_OK:
		if (stat(path, &st) != 0)
			rc = cairn_error_set(CAIRN_EIO, "--instance-hosts: a file written through an overlay did not land "
				"in its upper layer (%s)", path);
		break;
	case STEP_PRIVATE:
		rc = cairn_error_set(CAIRN_EIO, "--instance-hosts: cannot make the mounts of a new mount namespace "
			"private (mount --make-rprivate /): mounts are not permitted here");
		break;
	case STEP_OVERLAY:
		rc = cairn_error_set(CAIRN_EIO, "--instance-hosts: cannot mount an overlay with its upper layer in %s: "
			"overlayfs is not available or not permitted here, or that file system cannot be an upper layer "
			"(overlayfs itself, NFS): choose another --instance-hosts-dir", h->dir);
		break;
	case STEP_TMPFS:
		rc = cairn_error_set(CAIRN_EIO, "--instance-hosts: cannot mount a tmpfs in a private mount namespace");
		break;
	default:
		rc = cairn_error_set(CAIRN_EIO, "--instance-hosts: cannot write through an overlay in %s", h->dir);
		break;
	}
cleanup:
	rm_tree(base);
	free(a);
	return rc;
}

int cairn_sim_hosts_new(cairn_sim_hosts **out, cairn_sim *sim)
{
	cairn_sim_hosts *h = calloc(1, sizeof(*h));
	char addr[32];
	int rc, tries;

	if (!h)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	h->sim = sim;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (geteuid() != 0) {
		rc = cairn_error_set(CAIRN_EIO, "--instance-hosts needs root: each instance's sshd runs in a mount "
			"namespace of its own with overlays over /etc, /usr, /var, /opt, /srv, /home and /root");
		goto cleanup;
	}
	if (access(SSHD_PATH, X_OK) != 0) {
		rc = cairn_error_set(CAIRN_EIO, "--instance-hosts needs " SSHD_PATH " (Debian: apt-get install "
			"openssh-server): %s", strerror(errno));
		goto cleanup;
	}
	if ((rc = data_dir(h)) != 0 || (rc = probe(h)) != 0)
		goto cleanup;
	/* start somewhere random: two sims on one machine rarely meet */
	h->next = (uint32_t)(cairn_sim_random() * ADDR_COUNT);
	for (tries = 0; tries < 8; tries++) {
		address_of(h->next, addr, sizeof(addr));
		if (port_free(addr))
			break;
		h->next = (uint32_t)(cairn_sim_random() * ADDR_COUNT);
	}
	if (tries == 8) {
		rc = cairn_error_set(CAIRN_EIO, "--instance-hosts: port %d of the loopback addresses is taken (%s: %s); "
			"does a server listen on *:%d? Instance hosts listen on port %d of their own address",
			SSH_PORT, addr, strerror(EADDRINUSE), SSH_PORT, SSH_PORT);
		goto cleanup;
	}
	if ((rc = discover(h)) != 0)
		goto cleanup;
	*out = h;
	h = NULL;
cleanup:
	cairn_sim_hosts_free(h);
	return rc;
}

int cairn_sim_hosts_start(cairn_sim_hosts *h)
{
	if (pthread_create(&h->thread, NULL, reconciler, h) != 0)
		return cairn_error_set(CAIRN_ERROR, "cannot start the instance hosts' thread");
	h->started = 1;
	return 0;
}

void cairn_sim_hosts_free(cairn_sim_hosts *h)
{
	size_t i;

	if (!h)
		return;
	if (h->started) {
		pthread_mutex_lock(&h->mu);
		h->stop = 1;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->thread, NULL);
	}
	for (i = 0; i < h->n; i++) {
		stop_sshd(h, &h->v[i]);
		/* without --db the instances end with the sim: so do their layers */
		if (!h->sim->opt.db_path && !h->own_dir)
			rm_tree(h->v[i].layer);
		free(h->v[i].layer);
	}
	free(h->v);
	if (h->own_dir && h->dir)
		rm_tree(h->dir);
	free(h->dir);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

int cairn_sim_hosts_ready(cairn_sim_hosts *h, const char *instance_id)
{
	const host *ho;
	int ready;

	pthread_mutex_lock(&h->mu);
	ho = find_host(h, instance_id);
	ready = ho && ho->pid > 0 && ho->listening;
	pthread_mutex_unlock(&h->mu);
	return ready;
}

json_t *cairn_sim_hosts_json(cairn_sim_hosts *h)
{
	json_t *arr = json_array(), *out;
	size_t i;

	pthread_mutex_lock(&h->mu);
	for (i = 0; arr && i < h->n; i++) {
		const host *ho = &h->v[i];
		json_t *e = json_pack("{s:s, s:s?, s:i, s:s}", "instance_id", ho->id,
			"address", ho->address[0] ? ho->address : NULL, "port", SSH_PORT, "layer", ho->layer);

		if (e && ho->pid > 0)
			json_object_set_new(e, "pid", json_integer(ho->pid));
		json_array_append_new(arr, e);
	}
	pthread_mutex_unlock(&h->mu);
	out = json_pack("{s:s, s:o}", "dir", h->dir, "hosts", arr);
	return out;
}
