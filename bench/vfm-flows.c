// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfm-flows: plain TCP with N parallel flows, the baseline of
 * bench/guest-streams-bench.sh.
 *
 *   vfm-flows recv PORT FLOWS          accept FLOWS connections on PORT (IPv4, any
 *                                      address) and read each to its end; prints
 *                                      the bytes read
 *   vfm-flows send ADDR PORT BYTES FLOWS
 *                                      BYTES in all from a zeroed buffer, split over
 *                                      FLOWS connections sent in parallel (a thread
 *                                      each); prints the milliseconds from the first
 *                                      connect to the last byte written and closed
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FLOWS_MAX 64
#define BUF	  (256u << 10)

static struct sockaddr_in to;
static uint64_t each;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *send_flow(void *arg)
{
	static char buf[BUF];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint64_t left = each;

	(void)arg;
	if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
		perror("vfm-flows: connect");
		exit(1);
	}
	while (left) {
		ssize_t n = write(fd, buf, left < BUF ? left : BUF);

		if (n <= 0) {
			perror("vfm-flows: write");
			exit(1);
		}
		left -= (uint64_t)n;
	}
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, sizeof(buf)) > 0) /* the receiver's close */
		;
	close(fd);
	return NULL;
}

static void *recv_flow(void *arg)
{
	static char buf[FLOWS_MAX][BUF];
	intptr_t k = (intptr_t)arg;
	int fd = (int)(k >> 8);
	uint64_t *got = malloc(sizeof(*got));
	ssize_t n;

	*got = 0;
	while ((n = read(fd, buf[k & 0xff], BUF)) > 0)
		*got += (uint64_t)n;
	close(fd);
	return got;
}

int main(int argc, char **argv)
{
	pthread_t th[FLOWS_MAX];
	int flows;

	if (argc == 4 && !strcmp(argv[1], "recv")) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
		int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
		uint64_t total = 0;

		flows = atoi(argv[3]);
		if (flows < 1 || flows > FLOWS_MAX || l < 0 ||
		    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, FLOWS_MAX) < 0) {
			perror("vfm-flows: listen");
			return 1;
		}
		for (int k = 0; k < flows; k++) {
			int fd = accept(l, NULL, NULL);

			if (fd < 0) {
				perror("vfm-flows: accept");
				return 1;
			}
			pthread_create(&th[k], NULL, recv_flow, (void *)(((intptr_t)fd << 8) | k));
		}
		for (int k = 0; k < flows; k++) {
			uint64_t *got;

			pthread_join(th[k], (void **)&got);
			total += *got;
			free(got);
		}
		printf("%llu\n", (unsigned long long)total);
		return 0;
	}
	if (argc == 6 && !strcmp(argv[1], "send")) {
		double t0;

		to.sin_family = AF_INET;
		to.sin_port = htons(atoi(argv[3]));
		flows = atoi(argv[5]);
		if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1 || flows < 1 ||
		    flows > FLOWS_MAX) {
			fprintf(stderr, "vfm-flows: bad address or flow count\n");
			return 2;
		}
		each = strtoull(argv[4], NULL, 10) / (uint64_t)flows;
		t0 = now();
		for (int k = 0; k < flows; k++)
			pthread_create(&th[k], NULL, send_flow, NULL);
		for (int k = 0; k < flows; k++)
			pthread_join(th[k], NULL);
		printf("%.0f\n", (now() - t0) * 1e3);
		return 0;
	}
	fprintf(stderr, "usage: vfm-flows recv PORT FLOWS | send ADDR PORT BYTES FLOWS\n");
	return 2;
}
