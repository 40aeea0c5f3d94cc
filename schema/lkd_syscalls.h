/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Argument marshalling of the calls lkd serves, described once for both
 * sides of the channel (lkd_channel.h): the client uses it to copy pointer
 * arguments into the data area and back, the server to validate them. A
 * call not in the table is refused (-ENOSYS): the table is also the
 * allow-table.
 *
 * Each argument is a value or a pointer. A pointer has a direction (the
 * kernel reads it, writes it, or both) and a size rule saying how many
 * bytes the kernel may touch, which the server checks against the length
 * the client gave for that region.
 */
#ifndef LKD_SCHEMA_LKD_SYSCALLS_H
#define LKD_SCHEMA_LKD_SYSCALLS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum lkd_arg_kind {
	LKD_ARG_NONE = 0,	/* unused argument */
	LKD_ARG_VAL,		/* a plain value */
	LKD_ARG_IN,		/* pointer the kernel reads */
	LKD_ARG_OUT,		/* pointer the kernel writes */
	LKD_ARG_INOUT,		/* pointer the kernel reads and writes */
	LKD_ARG_PATH,		/* NUL-terminated string the kernel reads */
	LKD_ARG_MSGHDR,		/* struct msghdr the kernel reads and updates,
				   and the buffers it names: crosses the
				   channel as struct lkd_channel_msghdr */
	LKD_ARG_MSGHDR_IN,	/* struct msghdr the kernel only reads
				   (sendmsg): the same header, nothing goes
				   back; its control messages are copied
				   privately by the server and checked */
	LKD_ARG_IFCONF,		/* struct ifconf (ioctl SIOCGIFCONF), which
				   holds a pointer to the buffer the kernel
				   fills: crosses the channel as struct
				   lkd_channel_ifconf */
};

enum lkd_size_rule {
	LKD_SIZE_NONE = 0,	/* (values, paths) */
	LKD_SIZE_FIXED,		/* `scale` bytes */
	LKD_SIZE_ARG,		/* the value of argument `param` */
	LKD_SIZE_ARG_TIMES,	/* value of argument `param` x `scale` bytes */
	LKD_SIZE_AT_PTR,	/* the u32 that pointer argument `param` points to
				   (socklen_t *): copied privately by the server */
	LKD_SIZE_ARG_MAX,	/* the value of argument `param`, at most `scale`:
				   a larger value is -EINVAL without a call, the
				   kernel's own answer for a socket address longer
				   than struct sockaddr_storage (or negative) */
};

struct lkd_arg_desc {
	uint8_t kind;		/* enum lkd_arg_kind */
	uint8_t size_rule;	/* enum lkd_size_rule */
	uint8_t param;
	uint8_t nullable;	/* a NULL pointer is allowed */
	uint16_t scale;
};

struct lkd_syscall_desc {
	const char *name;
	int nr;			/* LKD_NR_* */
	struct lkd_arg_desc args[6];
};

/* The table, sorted by nr; and lookup (NULL: not served). */
extern const struct lkd_syscall_desc lkd_syscall_table[];
extern const unsigned lkd_syscall_table_size;
const struct lkd_syscall_desc *lkd_syscall_lookup(int nr);

/*
 * fcntl's third argument is a value or a pointer depending on its command
 * (its second argument): each served command has its own description. A
 * command not listed is refused (-EPERM): one that takes a pointer this
 * table does not describe must never reach the kernel with a client's
 * value as the address.
 */
struct lkd_command_desc {
	uint64_t cmd;		/* compared with the whole argument */
	struct lkd_syscall_desc call;
};
extern const struct lkd_command_desc lkd_fcntl_commands[];
extern const unsigned lkd_fcntl_commands_size;
/* ioctl likewise, by request: FIONREAD, FIONBIO, the struct ifreq
 * requests of one link (SIOCGIFINDEX, SIOCGIFFLAGS, ...) and SIOCGIFCONF. */
extern const struct lkd_command_desc lkd_ioctl_commands[];
extern const unsigned lkd_ioctl_commands_size;

/*
 * The description of call `nr` whose second argument is `arg1`: for fcntl
 * and ioctl that command's entry (NULL: command not served), for other calls
 * lkd_syscall_lookup(nr). Both sides marshal by this.
 */
const struct lkd_syscall_desc *lkd_syscall_describe(int nr, uint64_t arg1);

/*
 * LKD_ARG_MSGHDR (recvmsg) and LKD_ARG_MSGHDR_IN (sendmsg): the header the
 * client writes at the argument's offset. The buffers are regions of the data area, as offsets; one data
 * buffer (the client gathers and scatters the caller's iovecs). The server
 * checks each region, hands the kernel a private struct msghdr and iovec
 * built from its own copy of this header, and afterwards writes back the
 * fields the kernel updates. 40 bytes.
 */
struct lkd_channel_msghdr {
	uint64_t name;		/* offset, or UINT64_MAX (LKD_CHANNEL_NULL) */
	uint64_t data;		/* offset */
	uint64_t control;	/* offset, or UINT64_MAX */
	uint32_t namelen;	/* in: room; out: the address's length */
	uint32_t datalen;	/* room */
	uint32_t controllen;	/* in: room; out: bytes of control messages */
	uint32_t flags;		/* out: msg_flags */
};

/*
 * sendmsg (LKD_ARG_MSGHDR_IN): the name region needs only as many bytes as
 * the kernel reads of it (namelen, at most LKD_CHANNEL_NAME_MAX: a longer
 * one is cut there, one over INT_MAX refused, as Linux does); the data
 * region is the whole message (no cutting: a datagram is one piece); the
 * control messages, at most LKD_CHANNEL_CONTROL_MAX bytes (Linux's default
 * optmem_max: more is -ENOBUFS, as Linux says), are copied privately before
 * they are checked. SCM_RIGHTS is refused (-EOPNOTSUPP): the kernel would
 * take its numbers as the kernel process's fds and install them in the
 * receiver's kernel process, where liblkhijack has no placeholder for
 * them; a program passing fds means its host fds, which host AF_UNIX
 * sockets carry on the host.
 */
#define LKD_CHANNEL_NAME_MAX 128u
#define LKD_CHANNEL_CONTROL_MAX 20480u

/*
 * LKD_ARG_IFCONF (SIOCGIFCONF): the header the client writes at the
 * argument's offset. The server checks the buffer's region (len bytes;
 * none when len is negative as an int, which the kernel fills nothing of),
 * hands the kernel a private struct ifconf pointing at it, and afterwards
 * writes back len: the bytes of struct ifreq (40 each) the kernel wrote,
 * or with a NULL buffer the bytes it would write. 16 bytes.
 */
struct lkd_channel_ifconf {
	uint64_t buf;		/* offset, or UINT64_MAX (LKD_CHANNEL_NULL) */
	uint32_t len;		/* in: room (an int); out: bytes written */
	uint32_t reserved;
};

#ifdef __cplusplus
}
#endif

#endif /* LKD_SCHEMA_LKD_SYSCALLS_H */
