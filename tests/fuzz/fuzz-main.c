// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Replay a corpus through a libFuzzer target without libFuzzer, so that any compiler
 * runs it: `fuzz-NAME DIR` calls LLVMFuzzerTestOneInput() on every regular file in
 * DIR, in name order, and prints one TAP line per file.  A crash or a sanitizer
 * report fails the run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "tap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX (64u << 20)

static int read_input(int dirfd, const char *name, uint8_t **ret_data, size_t *ret_size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *data = NULL;
	struct stat st;
	size_t got = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EISDIR;
	if ((uint64_t)st.st_size > INPUT_MAX)
		return -EFBIG;
	data = malloc((size_t)st.st_size + 1);
	if (!data)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

		if (n < 0)
			return negative_errno();
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*ret_data = TAKE_PTR(data);
	*ret_size = got;
	return 0;
}

static int not_dot(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

int main(int argc, char *argv[])
{
	struct dirent **names;
	_cleanup_close_ int dirfd = -1;
	int n;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
		return 2;
	}
	dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	n = dirfd < 0 ? -1 : scandirat(dirfd, ".", &names, not_dot, alphasort);
	if (n < 0) {
		printf("Bail out! %s: %m\n", argv[1]);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		uint8_t *data = NULL;
		size_t size = 0;
		int r = read_input(dirfd, names[i]->d_name, &data, &size);

		if (r == -EISDIR) {
			free(names[i]);
			continue;
		}
		if (r < 0) {
			errno = -r;
			tap_ok(false, "%s: %m", names[i]->d_name);
		} else {
			LLVMFuzzerTestOneInput(data, size);
			tap_ok(true, "%s (%zu bytes)", names[i]->d_name, size);
		}
		free(data);
		free(names[i]);
	}
	free(names);
	return tap_done();
}
