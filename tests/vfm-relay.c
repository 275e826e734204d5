// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfm-relay: a TCP relay for tests that stands between a vfiomig save and restore
 * and misbehaves on purpose, at a record of the destination's answers.
 *
 *   vfm-relay LISTEN-ADDR:PORT TARGET-ADDR:PORT [--drop-back-after TYPE]
 *             [--cut-back-after TYPE] [--capture FILE]
 *
 * It accepts one connection on LISTEN (port 0: any; the line "vfm-relay: listening
 * on ADDR:PORT" goes to stderr), connects to TARGET and copies both ways.
 *   --drop-back-after TYPE  once a record of TYPE went back to the client (131
 *                           READY: the verdict is lost), nothing more goes back,
 *                           not even the end of the stream
 *   --cut-back-after TYPE   once it went back, both connections are closed
 *   --capture FILE          every byte from the client to the target, as it went
 * IPv4 literals only.  It ends when both directions ended, or after 60 s without a
 * byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* The record framing of the way back: where records start, and their types. */
struct framing {
	uint64_t pos, next;
	uint8_t hdr[8];
	unsigned got;
	bool in_hdr;
};

/* Feed @n bytes; the stream offset where the first record of @type ends, once seen
 * (0 before). */
static uint64_t feed(struct framing *f, const uint8_t *p, size_t n, int type, uint64_t seen)
{
	for (size_t i = 0; i < n; i++, f->pos++) {
		if (f->pos < 16)
			continue;
		if (f->pos == 16 && f->next == 0)
			f->next = 16;
		if (f->pos == f->next) {
			f->in_hdr = true;
			f->got = 0;
		}
		if (f->in_hdr) {
			f->hdr[f->got++] = p[i];
			if (f->got == 8) {
				uint32_t len = (uint32_t)f->hdr[4] | (uint32_t)f->hdr[5] << 8 |
					       (uint32_t)f->hdr[6] << 16 | (uint32_t)f->hdr[7] << 24;
				int t = f->hdr[0] | f->hdr[1] << 8;

				f->in_hdr = false;
				f->next = f->next + 8 + len + 4;
				if (t == type && !seen)
					seen = f->next;
			}
		}
	}
	return seen;
}

int main(int argc, char *argv[])
{
	struct sockaddr_in lsa, tsa;
	socklen_t len = sizeof(lsa);
	int drop_type = -1, cut_type = -1, l, c, t, cap = -1, one = 1;
	bool open_in[2] = {true, true}, lost = false;
	uint64_t watch_end = 0; /* where the watched record ends, once seen */
	bool acting = false;
	struct framing f = {0};
	uint8_t buf[65536];
	char a[INET_ADDRSTRLEN];

	if (argc < 3 || parse_addr(argv[1], &lsa) < 0 || parse_addr(argv[2], &tsa) < 0) {
		fprintf(stderr, "usage: vfm-relay LISTEN-ADDR:PORT TARGET-ADDR:PORT "
				"[--drop-back-after TYPE] [--cut-back-after TYPE] [--capture FILE]\n");
		return 2;
	}
	for (int i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--drop-back-after"))
			drop_type = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--cut-back-after"))
			cut_type = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--capture"))
			cap = open(argv[i + 1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		else
			return 2;
	}
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&lsa, sizeof(lsa)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&lsa, &len) < 0) {
		perror("vfm-relay: listen");
		return 1;
	}
	fprintf(stderr, "vfm-relay: listening on %s:%u\n",
		inet_ntop(AF_INET, &lsa.sin_addr, a, sizeof(a)), ntohs(lsa.sin_port));
	c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || t < 0 || connect(t, (struct sockaddr *)&tsa, sizeof(tsa)) < 0) {
		perror("vfm-relay: connect");
		return 1;
	}
	close(l);
	while (open_in[0] || open_in[1]) {
		/* [0]: client -> target, [1]: target -> client */
		struct pollfd p[2] = {{.fd = open_in[0] ? c : -1, .events = POLLIN},
				      {.fd = open_in[1] ? t : -1, .events = POLLIN}};
		int fds[2][2] = {{c, t}, {t, c}};

		if (poll(p, 2, 60000) <= 0)
			break;
		for (int d = 0; d < 2; d++) {
			ssize_t n;

			if (!(p[d].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(fds[d][0], buf, sizeof(buf));
			if (n <= 0) {
				open_in[d] = false;
				if (!(d == 1 && lost))
					shutdown(fds[d][1], SHUT_WR);
				continue;
			}
			if (d == 0 && cap >= 0 && write(cap, buf, (size_t)n) != n)
				return 1;
			if (d == 1 && lost)
				continue;
			if (d == 1 && (drop_type >= 0 || cut_type >= 0)) {
				uint64_t start = f.pos;

				watch_end = feed(&f, buf, (size_t)n,
						 drop_type >= 0 ? drop_type : cut_type, watch_end);
				if (watch_end && start + (uint64_t)n > watch_end)
					n = (ssize_t)(watch_end - start);
				acting = watch_end && start + (uint64_t)n >= watch_end;
			}
			if (n && send(fds[d][1], buf, (size_t)n, MSG_NOSIGNAL) != n) {
				open_in[d] = false;
				continue;
			}
			if (acting) {
				if (cut_type >= 0) {
					fprintf(stderr, "vfm-relay: cut after record type %d\n",
						cut_type);
					shutdown(c, SHUT_RDWR);
					shutdown(t, SHUT_RDWR);
					return 0;
				}
				fprintf(stderr, "vfm-relay: dropping what follows record type %d\n",
					drop_type);
				lost = true;
				acting = false;
			}
		}
	}
	return 0;
}
