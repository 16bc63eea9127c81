/*
 * ipc-raw: send hand-made (mostly malformed) messages to a control socket
 * and print every answer, for tests/integration/ipc-*.sh.  Deliberately
 * independent of ipc.c, so a bug there cannot hide itself:
 *
 *   ipc-raw SOCKET CASE [HOLD_S]
 *
 * CASE: info, bad-magic, bad-version, bad-flags, huge-len, too-long,
 * unknown-type, reply-type (both followed by an INFO on the same connection
 * once answered), truncated-hdr, truncated-payload, garbage, half-hdr
 * (3 bytes, then silence), read-only (send nothing, just read), idle,
 * migrate-short (MIGRATE whose one field header is cut short), cancel-payload
 * (MIGRATE_CANCEL with 4 payload bytes), cancel (MIGRATE_CANCEL),
 * status-empty (MIGRATE_STATUS without its flags), status-flags (flags 2,
 * unknown), status (flags 0), migrate-huge-bw (a well-formed MIGRATE whose
 * --bandwidth is 2^58 MB/s: times 10^6 it wraps to a cap of 0),
 * migrate-level (compress level 10, zlib has 1-9), migrate-unknown (an
 * option 'frobnicate' no lkvm has), migrate-dup ('to' twice),
 * migrate-width (a 2-byte 'downtime'), migrate-nul (a NUL inside 'to'),
 * migrate-no-to (no 'to'), migrate-old (the retired MIGRATE type 0x10 of
 * older clients, 4 bytes), set-short (MIGRATE_SET whose one field header
 * is cut short), set-none (no field), set-unknown (an option 'frobnicate'),
 * set-dup ('bandwidth' twice), set-huge-bw (a cap of 2^58 MB/s),
 * set-downtime-0 (a 0 ms target), set-converge-2 (auto-converge 2),
 * set-old (the retired MIGRATE_SET type 0x13 of older clients, 24 bytes),
 * set (a valid --set --bandwidth 5), stop-flags and resume-flags (STOP and
 * RESUME with flags 2, a bit a newer client might send); these are followed
 * by an INFO as well.
 * HOLD_S: wait that long after sending before reading.
 * Output: one line per answer, "reply STATUS TEXT" or "data LEN", then
 * "eof" or "timeout" unless the exchange ended with a reply.  Exit status
 * 0 unless the connection itself failed.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lkvm/ipc.h"
#include "lkvm/migration.h"

static int recv_n(int fd, void *buf, size_t len, int timeout_ms)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		n = recv(fd, (char *)buf + done, len - done, 0);
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		done += n;
	}
	return 0;
}

static void hdr(struct ipc_hdr *h, u32 magic, u16 version, u16 flags, u32 type, u32 len)
{
	h->magic = magic;
	h->version = version;
	h->flags = flags;
	h->type = type;
	h->len = len;
}

/* One named field (docs/ipc.md), written by hand: independent of ipc-fields.c. */
static size_t field(unsigned char *p, const char *name, const void *v, size_t vlen)
{
	size_t nl = strlen(name);

	p[0] = nl;
	memcpy(p + 1, name, nl);
	p[1 + nl] = vlen & 0xff;
	p[2 + nl] = vlen >> 8;
	memcpy(p + 3 + nl, v, vlen);
	return 3 + nl + vlen;
}

/* The MIGRATE payload of case c into p (a request to 127.0.0.1:1); its length. */
static size_t migrate_case(const char *c, unsigned char *p)
{
	const unsigned char u64_2_58[8] = { 0, 0, 0, 0, 0, 0, 0, 4 };	/* LE 2^58 */
	const unsigned char ten[4] = { 10 }, one[4] = { 1 }, two[2] = { 2 };
	const char to[] = "127.0.0.1:1";
	size_t k = 0;

	if (!strcmp(c, "migrate-short")) {
		memcpy(p, "\x02to", 3);		/* no value length */
		return 3;
	}
	if (!strcmp(c, "migrate-nul"))
		return field(p, "to", "127.0.0.1\0:1", 12);
	if (strcmp(c, "migrate-no-to"))
		k = field(p, "to", to, strlen(to));
	if (!strcmp(c, "migrate-huge-bw"))
		k += field(p + k, "bandwidth", u64_2_58, 8);
	else if (!strcmp(c, "migrate-level"))
		k += field(p + k, "compress", ten, 4);
	else if (!strcmp(c, "migrate-unknown"))
		k += field(p + k, "frobnicate", one, 4);
	else if (!strcmp(c, "migrate-dup"))
		k += field(p + k, "to", to, strlen(to));
	else if (!strcmp(c, "migrate-width"))
		k += field(p + k, "downtime", two, 2);
	else if (!strcmp(c, "migrate-no-to"))
		k += field(p + k, "downtime", one, 4);
	else
		return 0;
	return k;
}

/* The MIGRATE_SET payload of case c into p; its length, or -1 for no such case. */
static int set_case(const char *c, unsigned char *p)
{
	const unsigned char u64_2_58[8] = { 0, 0, 0, 0, 0, 0, 0, 4 };	/* LE 2^58 */
	const unsigned char five[8] = { 5 }, zero[4] = { 0 }, one[4] = { 1 }, two[1] = { 2 };

	if (!strcmp(c, "set-short")) {
		memcpy(p, "\x08" "downtime", 9);	/* no value length */
		return 9;
	}
	if (!strcmp(c, "set-none"))
		return 0;
	if (!strcmp(c, "set-unknown"))
		return field(p, "frobnicate", one, 4);
	if (!strcmp(c, "set-dup")) {
		size_t k = field(p, "bandwidth", five, 8);

		return k + field(p + k, "bandwidth", five, 8);
	}
	if (!strcmp(c, "set-huge-bw"))
		return field(p, "bandwidth", u64_2_58, 8);
	if (!strcmp(c, "set-downtime-0"))
		return field(p, "downtime", zero, 4);
	if (!strcmp(c, "set-converge-2"))
		return field(p, "auto-converge", two, 1);
	if (!strcmp(c, "set"))
		return field(p, "bandwidth", five, 8);
	return -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	unsigned char buf[IPC_MAX_PAYLOAD + 1];
	const char *c;
	struct ipc_hdr h;
	size_t len = sizeof(h);
	int fd, ret, hold = argc > 3 ? atoi(argv[3]) : 0;
	bool follow_up, followed = false;

	if (argc < 3 || strlen(argv[1]) >= sizeof(a.sun_path)) {
		fprintf(stderr, "usage: ipc-raw SOCKET CASE [HOLD_S]\n");
		return 2;
	}
	c = argv[2];
	follow_up = !strcmp(c, "unknown-type") || !strcmp(c, "reply-type") ||
		    !strncmp(c, "migrate-", 8) || !strncmp(c, "cancel", 6) ||
		    !strncmp(c, "status", 6) || !strncmp(c, "set", 3) ||
		    !strcmp(c, "stop-flags") || !strcmp(c, "resume-flags");
	strcpy(a.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		printf("connect-failed %s\n", strerror(errno));
		return 1;
	}

	memset(buf, 0, sizeof(buf));
	hdr(&h, IPC_MAGIC, IPC_VERSION, 0, IPC_MSG_INFO, 0);
	if (!strcmp(c, "bad-magic"))
		h.magic = 0x46464646;
	else if (!strcmp(c, "bad-version"))
		h.version = 7;
	else if (!strcmp(c, "bad-flags"))
		h.flags = 0x8000;
	else if (!strcmp(c, "huge-len"))
		h.len = 0xffffffffU;
	else if (!strcmp(c, "too-long"))
		h.len = IPC_MAX_PAYLOAD + 1;
	else if (!strcmp(c, "unknown-type"))
		h.type = 0x4242;
	else if (!strcmp(c, "reply-type"))
		h.type = IPC_MSG_REPLY;
	else if (!strcmp(c, "truncated-hdr"))
		len = 9;
	else if (!strcmp(c, "half-hdr"))
		len = 3;
	else if (!strcmp(c, "truncated-payload"))
		h.type = IPC_MSG_DEBUG, h.len = 4, len += 2;
	else if (!strcmp(c, "garbage"))
		memset(&h, 0xa5, sizeof(h));
	else if (!strcmp(c, "migrate-old"))
		h.type = IPC_MSG_MIGRATE_OLD, h.len = 4, len += 4;
	else if (!strncmp(c, "migrate-", 8)) {
		h.type = IPC_MSG_MIGRATE;
		h.len = migrate_case(c, buf + sizeof(h));
		if (!h.len) {
			fprintf(stderr, "ipc-raw: unknown case '%s'\n", c);
			return 2;
		}
		len += h.len;
	}
	else if (!strcmp(c, "set-old"))
		h.type = IPC_MSG_MIGRATE_SET_OLD, h.len = 24, len += 24;
	else if (!strncmp(c, "set", 3)) {
		int n = set_case(c, buf + sizeof(h));

		if (n < 0) {
			fprintf(stderr, "ipc-raw: unknown case '%s'\n", c);
			return 2;
		}
		h.type = IPC_MSG_MIGRATE_SET;
		h.len = n;
		len += n;
	}
	else if (!strcmp(c, "cancel-payload"))
		h.type = IPC_MSG_MIGRATE_CANCEL, h.len = 4, len += 4;
	else if (!strcmp(c, "cancel"))
		h.type = IPC_MSG_MIGRATE_CANCEL;
	else if (!strcmp(c, "status-empty"))
		h.type = IPC_MSG_MIGRATE_STATUS;
	else if (!strcmp(c, "status-flags") || !strcmp(c, "status"))
		h.type = IPC_MSG_MIGRATE_STATUS, h.len = 4, len += 4;
	else if (!strcmp(c, "stop-flags"))
		h.type = IPC_MSG_STOP, h.len = 4, len += 4;
	else if (!strcmp(c, "resume-flags"))
		h.type = IPC_MSG_RESUME, h.len = 4, len += 4;
	else if (!strcmp(c, "read-only") || !strcmp(c, "idle"))
		len = 0;
	else if (strcmp(c, "info")) {
		fprintf(stderr, "ipc-raw: unknown case '%s'\n", c);
		return 2;
	}
	memcpy(buf, &h, sizeof(h));
	if (!strcmp(c, "status-flags") || !strcmp(c, "stop-flags") || !strcmp(c, "resume-flags"))
		buf[sizeof(h)] = 2;
	if (len && send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
		printf("send-failed %s\n", strerror(errno));
		return 1;
	}
	if (!strncmp(c, "truncated", 9))
		shutdown(fd, SHUT_WR);
	if (hold) {
		sleep(hold);
		printf("held %d\n", hold);
	}

	for (;;) {
		ret = recv_n(fd, &h, sizeof(h), 5000);
		if (ret)
			break;
		if (h.magic != IPC_MAGIC || h.len > IPC_MAX_PAYLOAD) {
			printf("bad-answer\n");
			return 1;
		}
		ret = recv_n(fd, buf, h.len, 5000);
		if (ret)
			break;
		if (h.type == IPC_MSG_REPLY && h.len >= sizeof(struct ipc_reply)) {
			struct ipc_reply r;

			memcpy(&r, buf, sizeof(r));
			printf("reply %d%s%.*s\n", r.status, h.len > sizeof(r) ? " " : "",
			       (int)(h.len - sizeof(r)), (char *)buf + sizeof(r));
			if (follow_up) {
				/* Still in step?  The next request must just work. */
				hdr(&h, IPC_MAGIC, IPC_VERSION, 0, IPC_MSG_INFO, 0);
				if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != sizeof(h)) {
					printf("send-failed %s\n", strerror(errno));
					return 1;
				}
				follow_up = false;
				followed = true;
				continue;
			}
			/* A well-formed exchange ends here; after a rejection, wait for EOF. */
			if (followed || !strcmp(c, "info"))
				break;
		} else {
			printf("data %u\n", h.len);
		}
		fflush(stdout);
	}
	if (ret)
		printf("%s\n", ret == -EPIPE ? "eof" : ret == -ETIMEDOUT ? "timeout" : strerror(-ret));
	close(fd);
	return 0;
}
