/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The shared-memory syscall channel between one client thread and lkd
 * (whose dispatch threads serve every channel, channel_dispatcher.h): the one hand-written wire format of the project (the rest
 * is Cap'n Proto and protobuf). Both sides include this header.
 *
 * Layout of one channel mapping (a memfd the server creates and hands to
 * the client over the session socket):
 *
 *   [0, sizeof(struct lkd_channel))      control block (this struct)
 *   [data_offset, data_offset+data_size) data area: buffers of the calls
 *
 * One call at a time per channel (a channel belongs to one client thread):
 *   1. The client writes the request (number, arguments, generation) and
 *      copies input buffers into the data area; pointer arguments are
 *      (offset, length) pairs into the data area, never addresses.
 *   2. It stores req_seq + 1 (release), and wakes the server with
 *      FUTEX_WAKE on req_seq if server_sleeping is set.
 *   3. The server (after a bounded spin, then a FUTEX_WAIT on all its
 *      channels' req_seq at once, futex_waitv) copies
 *      the request out of shared memory, validates every field of that
 *      private copy (generation, number against the allow-table, each
 *      pointer argument inside the data area and large enough for what the
 *      table says the kernel may touch), runs the call with pointers into
 *      the data area, writes the response, stores resp_seq = req_seq
 *      (release) and wakes the client the same way.
 *
 * Invariants the server relies on, none of which it trusts the client for:
 *   - data_offset and data_size are written by the server only, at
 *     creation; the server keeps its own copy and never rereads them.
 *   - A request is read once into private memory before validation, so a
 *     client changing it afterwards cannot change what was validated.
 *     Lengths the kernel reads through a pointer (socklen_t *addrlen) are
 *     copied privately too.
 *   - A request whose generation differs from the channel's is stale (a
 *     channel reused after a fork or reconnect) and fails with -ESTALE.
 *   - Nothing polls unconditionally: both sides spin a few microseconds
 *     at most (and only while spinning pays, lkd_channel_doorbell.h), then
 *     sleep on the futex word after announcing it in *_sleeping. A client
 *     stops spinning at once when the server says its call blocked
 *     (blocked_seq).
 *   - The request's flags ask for nothing but optional work on the
 *     client's own behalf: LKD_CHANNEL_REQ_TRACE makes the server write
 *     timestamps into `trace` (its clock readings, for the client to
 *     report). The server never reads `trace` back, and no timestamp
 *     written by a client is used by the server for anything.
 *
 * Tracing (LKD_CHANNEL_REQ_TRACE): where one call's time goes. The client
 * keeps its own timestamps (call start, doorbell rung, answer seen, call
 * end); the server adds, in `trace`, when it picked the request up,
 * when it entered and left the kernel, and when it published the response,
 * all CLOCK_MONOTONIC (one clock for every process on the host). Written
 * before resp_seq (release), so a client that saw resp_seq sees them.
 */
#ifndef LKD_SCHEMA_LKD_CHANNEL_H
#define LKD_SCHEMA_LKD_CHANNEL_H

#include <stdint.h>

#define LKD_CHANNEL_MAGIC 0x63646b6cu /* "lkdc" */
#define LKD_CHANNEL_VERSION 4u

/* A pointer argument that is NULL. */
#define LKD_CHANNEL_NULL UINT64_MAX

/* Default size of the data area; larger transfers are chunked by the
 * client (a read of 1 MiB becomes several calls). */
#define LKD_CHANNEL_DEFAULT_DATA_SIZE (256u * 1024u)
/* The longest path argument, with its NUL (the kernel's PATH_MAX): the
 * client refuses a longer one with ENAMETOOLONG, as the server would. */
#define LKD_CHANNEL_PATH_MAX 4096u

struct lkd_channel_request {
	uint32_t generation;
	uint32_t nr;		/* LKD_NR_* (the kernel's own numbers) */
	/* Value arguments as they are; pointer arguments as an offset into
	 * the data area (or LKD_CHANNEL_NULL). */
	uint64_t args[6];
	/* For pointer arguments: bytes available at the offset. */
	uint32_t lens[6];
	uint32_t flags;		/* LKD_CHANNEL_REQ_* */
};

/* Request flags. */
#define LKD_CHANNEL_REQ_TRACE 1u	/* fill in lkd_channel.trace */

/*
 * Batches. A request numbered LKD_NR_BATCH carries several calls, which
 * lkd's kernel makes in order as the client's task, in one round trip:
 *   args[0], lens[0]  args[1] entries of struct lkd_channel_subcall in the
 *                     data area (1..LKD_CHANNEL_BATCH_MAX of them);
 *   args[2], lens[2]  args[1] int64 results in the data area (8-aligned),
 *                     where lkd writes each call's result or -errno.
 * Each entry is validated as a request of its own would be, and may pass
 * plain buffers only (no path, msghdr or ifconf, no length through a
 * pointer): any other entry refuses the whole batch (-EINVAL) before a
 * call is made. The answer is the last made call's result. A call that
 * ends with -EINTR (a signal, a cancel) ends the batch: the calls after it
 * are not made and get -ECANCELED. An lkd without batches answers -ENOSYS.
 */
#define LKD_NR_BATCH 0x10000u		/* above every kernel number */
#define LKD_CHANNEL_BATCH_MAX 64u

struct lkd_channel_subcall {
	uint32_t nr;
	uint32_t reserved;
	uint64_t args[6];	/* as in lkd_channel_request */
	uint32_t lens[6];
};

struct lkd_channel_response {
	int64_t result;		/* the kernel's result or -errno */
	uint64_t signals;	/* signals raised for the process (lkd_take_signals) */
};

/* The server's timestamps of a traced call (ns, CLOCK_MONOTONIC). */
struct lkd_channel_trace {
	uint64_t pickup_ns;		/* the server saw the request */
	uint64_t kernel_entry_ns;	/* validated, entering the kernel */
	uint64_t kernel_exit_ns;	/* the kernel returned */
	uint64_t publish_ns;		/* about to publish resp_seq */
	uint32_t flags;			/* LKD_CHANNEL_TRACE_* */
	uint32_t reserved;
};

/* Trace flags. */
#define LKD_CHANNEL_TRACE_SERVER_SLEPT 1u	/* the server slept for this request */

/*
 * The control block, laid out by who writes what and when, one cache line
 * each: a hot call moves the request's line to the server and the
 * answer's line back to the client, and nothing else (a line that the
 * other side writes on every call costs a cross-CPU transfer, ~0.1 us on
 * the VMs we measure on, every time it is read).
 */
struct lkd_channel {
	/* Line 0: set once by the server, or written on slow paths only. */
	uint32_t magic;
	uint32_t version;
	uint32_t data_offset;
	uint32_t data_size;
	uint32_t generation;
	/* The server stores here the req_seq of a call that did not complete
	 * when it was handed to the kernel (it blocks, or waits for the
	 * kernel's CPU): its answer will take a while, so a client spinning
	 * for it should sleep at once instead (lkd_doorbell_spin.slow). A
	 * hint only: the answer still comes through resp_seq. */
	uint32_t blocked_seq;
	/* Sleep announcements for the doorbells (lkd_channel_doorbell.h). */
	uint32_t server_sleeping;
	uint32_t client_sleeping;
	/* The client stores here the req_seq of its call in flight that a
	 * signal handler interrupted, then rings req_seq: lkd interrupts the
	 * call in the kernel, which answers -EINTR unless it completed
	 * first (lkd_task_interrupt). */
	uint32_t cancel_seq;
	uint32_t reserved1;

	/* Line 1: the request's doorbell (a futex word) and its fixed part,
	 * written by the client (lkd_channel_put_request). */
	uint32_t req_seq __attribute__((aligned(64)));
	uint32_t req_nr;
	uint64_t req_args[6];
	uint32_t req_flags;
	uint32_t req_generation;

	/* Line 2: the request's pointer lengths, rewritten only when they
	 * change (a call without pointers leaves them as they were). */
	uint32_t req_lens[6] __attribute__((aligned(64)));

	/* Line 3: the answer's doorbell (a futex word) and the answer,
	 * written by the server. */
	uint32_t resp_seq __attribute__((aligned(64)));
	uint32_t reserved2;
	struct lkd_channel_response resp;

	/* Written by the server for traced calls only. */
	struct lkd_channel_trace trace __attribute__((aligned(64)));
};

/* The client's side of step 1: `r` into the request's lines, before
 * req_seq is stored (release). */
static inline void lkd_channel_put_request(struct lkd_channel *ch,
					   const struct lkd_channel_request *r)
{
	int i;

	for (i = 0; i < 6; i++)
		if (ch->req_lens[i] != r->lens[i])
			ch->req_lens[i] = r->lens[i];
	ch->req_nr = r->nr;
	for (i = 0; i < 6; i++)
		ch->req_args[i] = r->args[i];
	ch->req_flags = r->flags;
	ch->req_generation = r->generation;
}

/* The server's one read of the request (after req_seq, acquire) into
 * private memory: `out` is what it validates and uses. */
static inline void lkd_channel_get_request(const volatile struct lkd_channel *ch,
					   struct lkd_channel_request *out)
{
	int i;

	out->generation = ch->req_generation;
	out->nr = ch->req_nr;
	out->flags = ch->req_flags;
	for (i = 0; i < 6; i++) {
		out->args[i] = ch->req_args[i];
		out->lens[i] = ch->req_lens[i];
	}
}

#endif /* LKD_SCHEMA_LKD_CHANNEL_H */
