/*
 * lock.h - leased locks, one per environment.
 *
 * A lock row (env, holder, lock id, pid, host, operation, since, expires) is
 * taken in a BEGIN IMMEDIATE transaction, so two processes racing for it
 * serialise in SQLite and exactly one wins. The holder renews the lease with
 * a heartbeat (the scheduler calls cairn_lock_renew every lease/3 seconds).
 * A lease past its expiry is taken over; so is a lease held by a pid that no
 * longer exists on this same host (a killed run), at once.
 */
#ifndef CAIRN_LOCK_H
#define CAIRN_LOCK_H

#include "store.h"

#define CAIRN_LOCK_DEFAULT_LEASE 60 /* seconds */

typedef struct cairn_lock_info {
	char *env;
	char *lock_id;   /* random id of the holding store handle */
	char *holder;    /* user@host */
	char *host;
	long pid;
	char *operation; /* "apply", "destroy", ... */
	int64_t since;   /* unix seconds */
	int64_t expires; /* unix seconds */
} cairn_lock_info;

void cairn_lock_info_free(cairn_lock_info *li);

/* Take env's lock for this store handle (taking it again while holding it
 * renews it with the new operation and lease). lease_secs <= 0 means
 * CAIRN_LOCK_DEFAULT_LEASE. Polls with short sleeps (50 ms growing to
 * 500 ms). If another live holder has it,
 * poll until wait_secs have passed (0: fail at once) and then return
 * CAIRN_ELOCKED with an error message naming holder, pid, host, operation,
 * since and expiry; if held_by is non-NULL it receives the holder's info. */
int cairn_lock_acquire(cairn_store *st, const char *env, const char *operation,
		       int lease_secs, double wait_secs, cairn_lock_info **held_by);
/* Extend the lease. CAIRN_ELOCKED if the lock is no longer ours (taken over
 * or force-unlocked): the caller must stop writing. */
int cairn_lock_renew(cairn_store *st, const char *env);
/* Release if ours (no error if not held). */
int cairn_lock_release(cairn_store *st, const char *env);
/* Current lock of env, CAIRN_ENOTFOUND if unlocked (or expired: then *out is
 * still filled and the return is CAIRN_ETIMEOUT). A lock whose holder's pid
 * is gone from this host counts as expired (stale) too. */
int cairn_lock_get(cairn_store *st, const char *env, cairn_lock_info **out);
/* Remove env's lock whoever holds it. CAIRN_ENOTFOUND if unlocked. */
int cairn_lock_force_unlock(cairn_store *st, const char *env);
/* The random id (32 hex digits) that names this store handle as a lock
 * holder, as found in cairn_lock_info.lock_id. Borrowed; lives as long as
 * the handle. */
const char *cairn_lock_id(const cairn_store *st);

#endif
