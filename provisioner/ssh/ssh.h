/*
 * ssh.h - hosts over SSH: one session per host per run, driven by the
 * event loop (libssh2 in non-blocking mode), carrying every task's
 * commands (one channel each) and file operations (one SFTP subsystem).
 *
 * Folder provisioner/ssh/: the SSH transport (session.c: connect, host
 * keys, authentication, keepalives, tunnels through a bastion; ops.c:
 * commands and SFTP; hostkey.c: known_hosts and fingerprints). May use
 * loop/ and base/ only. It knows no stack, state or module: the engine
 * describes a host as JSON (below), and hands it the requests that modules
 * make through cairn.ssh (lua/ssh.c); the answers go back as JSON.
 *
 * A host (the engine builds it from the stack's `hosts:` entry and the
 * state; every member but address is optional):
 *   {"name": "web[0]",                  -- for messages
 *    "address": "10.0.0.5", "port": 22,  -- a name or a numeric address
 *    "user": "deploy",                   -- default: the local user
 *    "key_file": "/home/me/.ssh/id_ed25519",
 *    "agent": true,                      -- ssh-agent ($SSH_AUTH_SOCK)
 *    "become": true, "become_user": "root",  -- commands under `sudo -n`
 *    "known_hosts": "/home/me/.ssh/known_hosts",  -- "" : none
 *    "host_key": "ssh-ed25519 AAAA...",  -- the key accepted before (state)
 *    "connect_timeout": 15, "command_timeout": 600,
 *    "bastion": { a host }}              -- reached through its session
 * Sessions are shared by user@address:port (and the bastion's): the first
 * request for a host opens it; later ones queue until it is ready. A host
 * whose session failed (unreachable, refused key, dropped connection)
 * fails every later request at once with the same message.
 *
 * Authentication: key_file alone when given; else the agent when
 * "agent" is true or $SSH_AUTH_SOCK is set; then ~/.ssh/id_ed25519 and
 * ~/.ssh/id_ecdsa. No passwords and no passphrases: an encrypted key is
 * used through the agent. (libssh2 1.10, Debian 12's, signs RSA keys with
 * SHA-1 only, which OpenSSH >= 8.8 refuses by default: use ed25519 or
 * ECDSA keys, from files or the agent.)
 *
 * Host keys, strict: a host whose key matches known_hosts (plain or
 * hashed entries, "[host]:port" for other ports) or the recorded
 * "host_key" is accepted; a key that differs from either is refused, with
 * both fingerprints (SHA256:base64, as OpenSSH prints them); an unknown
 * key is refused unless cairn_ssh_opts.accept_new, and then reported as
 * accepted so that the caller records it.
 *
 * Requests (JSON objects; binary data is base64 in *_b64 members):
 *   {"op":"hostkey"}   -> {"key_type","key","fingerprint","source":
 *                          "known_hosts"|"recorded"|"accepted"}
 *   {"op":"exec","command":"...","stdin_b64":"...","env":{"K":"v"},
 *    "timeout":secs,"max_output":bytes,"lock":"key","become":bool}
 *        -> {"exit_code":N,"signal":"KILL"?,"stdout_b64","stderr_b64",
 *            "stdout_truncated":bool,"stderr_truncated":bool}
 *        The command runs under the login shell; env becomes `export`s
 *        before it; with become it runs as `sudo -n -u USER -- sh -c ...`.
 *        Requests with the same "lock" on one host run one at a time.
 *        A command past its timeout is abandoned: its channel is closed,
 *        and what it started on the host may go on running.
 *   {"op":"stat","path":"/x","follow":bool} -> {"exists":false} |
 *        {"exists":true,"type":"file|dir|link|other","mode":"0644",
 *         "uid":N,"gid":N,"size":N,"mtime":N}
 *   {"op":"read","path":"/x","max":bytes} -> {"exists":false} | {"content_b64"}
 *   {"op":"write","path":"/x","content_b64":"...","mode":"0644","uid":N,"gid":N}
 *        -> {"ok":true}: written to a temporary file beside it, its mode
 *        and owner set, then renamed over the target (a `mv -f` on the
 *        host when the target exists: SFTP v3 cannot replace a file).
 *   {"op":"mkdir","path","mode"} {"op":"symlink","path","target"}
 *   {"op":"readlink","path"} -> {"exists":false} | {"target"}
 *   {"op":"remove","path","dir":bool} -> {"removed":bool}
 *   {"op":"setstat","path","mode"?,"uid"?,"gid"?} -> {"ok":true}
 * File operations run over SFTP as the login user (become does not apply
 * to them). Every failure answers {"error":"message","code":"..."}, the
 * message naming the host; codes: "connect", "hostkey", "auth",
 * "closed" (connection lost), "timeout", "no_such_file",
 * "permission_denied", "failure", "invalid".
 *
 * Limits: command output is capped per stream (max_output, default 1 MiB,
 * at most 64 MiB; the rest is dropped and *_truncated set); reads at
 * "max" (default 16 MiB, at most 64 MiB); at most 8 channels per session
 * at once (sshd's MaxSessions is 10); SFTP requests one at a time.
 */
#ifndef CAIRN_SSH_H
#define CAIRN_SSH_H

#include "base/error.h"
#include "base/value.h"
#include "loop/loop.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct cairn_ssh cairn_ssh;

typedef struct cairn_ssh_opts {
	bool accept_new;          /* accept (and report) unknown host keys */
	double connect_timeout;   /* connect + handshake + authentication; 0 = 15 s */
	double command_timeout;   /* default for exec; 0 = 600 s */
	double keepalive;         /* seconds between keepalives (whole, at least 1); 0 = 15 */
	int max_channels;         /* per session at once; 0 = 8 */
} cairn_ssh_opts;

int cairn_ssh_new(cairn_ssh **out, cairn_loop *loop, const cairn_ssh_opts *opts);
/* Disconnect every session; pending requests are dropped without callbacks. */
void cairn_ssh_free(cairn_ssh *s);

/* The answer passes to the callback (it must decref it; never NULL). */
typedef void (*cairn_ssh_fn)(void *ud, json_t *result);
/* Run req on host (both borrowed; copied as needed). The callback runs
 * from the loop (cairn_loop_run_once), never from inside this call. A
 * malformed host or request is CAIRN_EINVAL and is never called back. */
int cairn_ssh_submit(cairn_ssh *s, const json_t *host, const json_t *req, cairn_ssh_fn fn, void *ud);
/* Forget the requests submitted with ud (the operation that made them was
 * abandoned: deadline, signal): no callback comes for them any more. One
 * not started yet is dropped; one already running on its host (a command,
 * a file transfer) runs to its end or its own timeout, unanswered. */
void cairn_ssh_cancel(cairn_ssh *s, void *ud);

typedef struct cairn_ssh_stats {
	uint64_t sessions;   /* connections opened (tunnels included) */
	uint64_t channels;   /* exec channels */
	uint64_t sftp_ops;
	uint64_t bytes_out, bytes_in; /* payload: stdin and writes, output and reads */
} cairn_ssh_stats;
void cairn_ssh_get_stats(const cairn_ssh *s, cairn_ssh_stats *out);

/* "SHA256:" + unpadded base64 of the SHA-256 of a key blob, as OpenSSH
 * prints fingerprints. out: at least 60 bytes. */
void cairn_ssh_fingerprint(const unsigned char *blob, size_t len, char *out, size_t outlen);

#endif
