// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig dirty: DMA dirty logging of one device, for testing a driver or a setup.
 * Logging belongs to the open device fd, so one process starts it, reports N times
 * and stops: there is no start in one command and report in the next.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "util.h"

#define DIRTY_COUNT_MAX	   1000000u
#define DIRTY_INTERVAL_MAX 3600000u /* ms */

static void help(void)
{
	printf("Usage: vfiomig dirty DEV --range IOVA:LEN[,IOVA:LEN...]\n"
	       "         [--page-size SIZE] [--report-page-size SIZE] [--count N]\n"
	       "         [--interval MS] [--pages] [-j] [-p]\n"
	       "       vfiomig dirty DEV --probe\n\n"
	       "DMA dirty logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*): start logging\n"
	       "the device's DMA writes to the IOVA ranges, report the dirty pages of\n"
	       "every range N times (default 1), MS milliseconds apart (default 0),\n"
	       "then stop.  Logging belongs to the open device, so it lives as long\n"
	       "as this command.\n\n"
	       "  -r, --range IOVA:LEN[,...]   ranges to log (repeatable; at most 256);\n"
	       "                               0x hex, or decimal with K/M/G/T\n"
	       "      --page-size SIZE         page size asked for at start (default\n"
	       "                               4K); the driver's choice is printed\n"
	       "      --report-page-size SIZE  page size of the reports (default: the\n"
	       "                               driver's)\n"
	       "  -n, --count N                reports (1-%u)\n"
	       "  -i, --interval MS            wait between reports (0-%u)\n"
	       "      --pages                  text: list the dirty pages too\n"
	       "      --probe                  only say whether the driver has DMA\n"
	       "                               logging (exit 0 yes, 4 no)\n\n"
	       "--json prints each report's dirty pages (indexes of report pages from\n"
	       "the range's start) and its bitmap in hex (byte j, bit b: page 8j+b).\n"
	       "SIGINT or SIGTERM ends the reports: logging is stopped, the reports\n"
	       "made are printed, and the exit status is 128 + the signal.\n",
	       DIRTY_COUNT_MAX, DIRTY_INTERVAL_MAX);
}

/* "0x1000", "4096", "4K": an IOVA or a length. */
static int parse_addr(const char *s, uint64_t *ret)
{
	if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0)
		return s[2] ? parse_u64(s + 2, 16, UINT64_MAX, ret) : -EINVAL;
	return parse_size(s, UINT64_MAX, ret);
}

/* "IOVA:LEN[,IOVA:LEN...]" appended to @r. */
static int parse_ranges(struct cli *cli, const char *arg, struct vfm_dirty_range *r,
			size_t *n)
{
	char buf[4096], *save = NULL;

	if (strcopy(buf, sizeof(buf), arg) < 0) {
		cli_error(cli, "--range: longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(t, ':');

		if (*n >= VFM_DIRTY_RANGES_MAX) {
			cli_error(cli, "--range: at most %d ranges",
				  VFM_DIRTY_RANGES_MAX);
			return -E2BIG;
		}
		if (!colon) {
			cli_error(cli, "--range: '%.64s' is not IOVA:LEN", t);
			return -EINVAL;
		}
		*colon = '\0';
		if (parse_addr(t, &r[*n].iova) < 0 ||
		    parse_addr(colon + 1, &r[*n].length) < 0) {
			cli_error(cli,
				  "--range: '%.32s:%.32s' is not IOVA:LEN (0x hex, or "
				  "decimal with K/M/G/T)",
				  t, colon + 1);
			return -EINVAL;
		}
		(*n)++;
	}
	return 0;
}

/* SIGINT or SIGTERM: no more reports; logging is stopped and what was reported
 * printed, then the command exits 128 + the signal. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_signal)
		;
}

/* The dirty pages of one report: a count, and in JSON the page list and the hex. */
static void print_bitmap(struct cli *cli, const uint64_t *bm, uint64_t pages,
			 uint64_t iova, uint64_t psize, bool list)
{
	struct out *o = cli->out;
	bool json = out_is_json(o);

	if (json || list) {
		bool first = true;

		out_array_begin(o, "dirty_page_indexes");
		for (uint64_t i = 0; i < pages; i++) {
			if (!(bm[i / 64] & (UINT64_C(1) << (i % 64))))
				continue;
			out_u64(o, NULL, NULL, i);
			if (!json) {
				printf("%s0x%llx", first ? "    " : " ",
				       (unsigned long long)(iova + i * psize));
				first = false;
			}
		}
		out_array_end(o);
		if (!json && !first)
			printf("\n");
	}
	if (json) {
		uint64_t bytes = (pages + 7) / 8;
		char *hex = malloc(bytes * 2 + 1);

		if (!hex)
			abort();
		for (uint64_t j = 0; j < bytes; j++)
			snprintf(hex + 2 * j, 3, "%02x",
				 (unsigned)(bm[j / 8] >> (8 * (j % 8))) & 0xff);
		hex[bytes * 2] = '\0';
		out_str(o, "bitmap", NULL, hex);
		free(hex);
	}
}

static int probe(struct cli *cli, struct vfm_device *dev)
{
	struct vfm_dirty_err err = {""};
	int r = vfm_device_dirty_probe(dev, &err);

	if (r < 0 && r != -EOPNOTSUPP) {
		cli_set_errno(cli, r);
		cli_error(cli, "%s", err.msg);
		return cli_exit_code(r);
	}
	cli->out = out_new(cli->json, cli->pretty);
	out_object_begin(cli->out, NULL);
	out_str(cli->out, "device", "%s: ", vfm_device_name(dev));
	out_bool(cli->out, "dma_logging_supported", NULL, r == 0);
	out_text(cli->out, "%s\n",
		 r == 0 ? "DMA dirty logging supported"
			: "the driver does not support DMA dirty logging");
	/* not supported is exit 4: the document says why, as every failed one does */
	if (r < 0)
		out_error(cli->out, "error", r, err.msg);
	out_object_end(cli->out);
	out_finish(cli->out);
	return r == 0 ? EXIT_OK : EXIT_UNSUPPORTED;
}

int cmd_dirty(struct cli *cli, int argc, char **argv)
{
	enum { OPT_PAGE = 0x100, OPT_RPAGE, OPT_PAGES, OPT_PROBE };
	static const struct option opts[] = {
		{"range", required_argument, NULL, 'r'},
		{"page-size", required_argument, NULL, OPT_PAGE},
		{"report-page-size", required_argument, NULL, OPT_RPAGE},
		{"count", required_argument, NULL, 'n'},
		{"interval", required_argument, NULL, 'i'},
		{"pages", no_argument, NULL, OPT_PAGES},
		{"probe", no_argument, NULL, OPT_PROBE},
		{}};
	static struct vfm_dirty_range ranges[VFM_DIRTY_RANGES_MAX];
	uint64_t page = 4096, rpage = 0, used = 0, total_dirty = 0;
	unsigned count = 1, interval = 0;
	bool list = false, do_probe = false;
	struct vfm_dirty_err err = {""};
	struct vfm_device *dev = NULL;
	uint64_t **bitmaps = NULL, *sizes = NULL;
	char failure[sizeof(err.msg)] = "";
	size_t n = 0;
	int c, r, ex = EXIT_OK, failed = 0;

	while ((c = cli_getopt(cli, argc, argv, "r:n:i:", opts, help, &ex)) > 0) {
		switch (c) {
		case 'r':
			if (parse_ranges(cli, optarg, ranges, &n) < 0)
				return EXIT_USAGE;
			break;
		case OPT_PAGE:
		case OPT_RPAGE: {
			uint64_t v;

			if (parse_size(optarg, VFM_DIRTY_PAGE_MAX, &v) < 0 ||
			    v < VFM_DIRTY_PAGE_MIN || (v & (v - 1))) {
				cli_error(cli,
					  "--%spage-size: '%.32s' is not a power of two "
					  "from "
					  "4K to 1G",
					  c == OPT_RPAGE ? "report-" : "", optarg);
				return EXIT_USAGE;
			}
			*(c == OPT_PAGE ? &page : &rpage) = v;
			break;
		}
		case 'n':
			if (parse_u32(optarg, 10, DIRTY_COUNT_MAX, &count) < 0 ||
			    !count) {
				cli_error(cli, "--count: '%.32s' is not 1-%u", optarg,
					  DIRTY_COUNT_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'i':
			if (parse_u32(optarg, 10, DIRTY_INTERVAL_MAX, &interval) < 0) {
				cli_error(cli, "--interval: '%.32s' is not 0-%u ms",
					  optarg, DIRTY_INTERVAL_MAX);
				return EXIT_USAGE;
			}
			break;
		case OPT_PAGES: list = true; break;
		case OPT_PROBE: do_probe = true; break;
		default: return EXIT_USAGE;
		}
	}
	if (c < 0)
		return ex;
	if (argc - optind != 1) {
		cli_error(cli, "dirty needs one device (see vfiomig dirty --help)");
		return EXIT_USAGE;
	}
	if (!do_probe && n == 0) {
		cli_error(cli, "dirty needs --range IOVA:LEN (or --probe)");
		return EXIT_USAGE;
	}
	if (do_probe && n) {
		cli_error(cli, "--probe takes no --range");
		return EXIT_USAGE;
	}
	ex = cli_open(cli, argv[optind], &dev);
	if (ex != EXIT_OK)
		return ex;
	if (do_probe) {
		ex = probe(cli, dev);
		vfm_device_unref(dev);
		return ex;
	}

	/* Bitmaps that cannot be reported are refused before anything starts (with the
	 * page size asked for; checked again below with the driver's), and so are
	 * ranges the report pages do not tile. */
	for (size_t k = 0; k < n; k++) {
		uint64_t b;

		if (rpage && ((ranges[k].iova | ranges[k].length) & (rpage - 1))) {
			cli_error(cli,
				  "%s: range 0x%llx+0x%llx is not aligned to the report "
				  "page size %llu",
				  vfm_device_name(dev), (unsigned long long)ranges[k].iova,
				  (unsigned long long)ranges[k].length,
				  (unsigned long long)rpage);
			cli_set_errno(cli, EINVAL);
			vfm_device_unref(dev);
			return EXIT_USAGE;
		}

		if (vfm_dirty_bitmap_size(ranges[k].length, rpage ? rpage : page, &b) ==
		    -E2BIG) {
			cli_error(
				cli,
				"%s: range 0x%llx+0x%llx in %llu-byte pages: the bitmap "
				"would exceed 1 GiB",
				vfm_device_name(dev), (unsigned long long)ranges[k].iova,
				(unsigned long long)ranges[k].length,
				(unsigned long long)(rpage ? rpage : page));
			cli_set_errno(cli, E2BIG);
			vfm_device_unref(dev);
			return EXIT_USAGE;
		}
	}
	r = vfm_device_dirty_start(dev, ranges, n, page, &used, &err);
	if (r < 0) {
		cli_set_errno(cli, r);
		cli_error(cli, "%s", err.msg);
		vfm_device_unref(dev);
		/* arguments the library refused are the command line's fault */
		if (r == -EOPNOTSUPP)
			return EXIT_UNSUPPORTED;
		if (r == -EINVAL || r == -E2BIG || r == -EOVERFLOW)
			return EXIT_USAGE;
		return EXIT_FAILED;
	}
	if (!rpage)
		rpage = used;
	bitmaps = calloc(n, sizeof(*bitmaps));
	sizes = calloc(n, sizeof(*sizes));
	if (!bitmaps || !sizes)
		abort();
	for (size_t k = 0; k < n; k++) {
		r = vfm_dirty_bitmap_size(ranges[k].length, rpage, &sizes[k]);
		if (r < 0) {
			cli_set_errno(cli, r);
			cli_error(cli,
				  "%s: range 0x%llx+0x%llx in %llu-byte report pages: %s",
				  vfm_device_name(dev),
				  (unsigned long long)ranges[k].iova,
				  (unsigned long long)ranges[k].length,
				  (unsigned long long)rpage,
				  r == -E2BIG ? "the bitmap would exceed 1 GiB"
					      : "not a multiple of the page size");
			ex = EXIT_USAGE;
			goto out;
		}
		bitmaps[k] = malloc(sizes[k]);
		if (!bitmaps[k]) {
			cli_error(cli, "%s: no memory for a %llu-byte bitmap",
				  vfm_device_name(dev), (unsigned long long)sizes[k]);
			ex = EXIT_FAILED;
			goto out;
		}
	}

	cli->out = out_new(cli->json, cli->pretty);
	out_object_begin(cli->out, NULL);
	out_str(cli->out, "device", "%s: DMA dirty logging on", vfm_device_name(dev));
	out_u64(cli->out, "page_size_bytes", ", page size %s", used);
	out_u64(cli->out, "requested_page_size_bytes", " (asked %s)", page);
	out_u64(cli->out, "report_page_size_bytes", ", reports in %s-byte pages\n",
		rpage);
	out_array_begin(cli->out, "ranges");
	for (size_t k = 0; k < n; k++) {
		out_object_begin(cli->out, NULL);
		out_u64(cli->out, "iova", NULL, ranges[k].iova);
		out_u64(cli->out, "length_bytes", NULL, ranges[k].length);
		out_object_end(cli->out);
	}
	out_array_end(cli->out);
	out_array_begin(cli->out, "reports");
	{
		struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART */

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	for (unsigned i = 1; i <= count && !failed; i++) {
		uint64_t round = 0;

		if (i > 1 && interval)
			sleep_ms(interval);
		if (stop_signal) {
			count = i - 1;
			break;
		}
		out_object_begin(cli->out, NULL);
		out_u64(cli->out, "report", NULL, i);
		out_array_begin(cli->out, "ranges");
		for (size_t k = 0; k < n; k++) {
			uint64_t pages = ranges[k].length / rpage;
			int64_t d = vfm_device_dirty_report(dev, ranges[k].iova,
							    ranges[k].length, rpage,
							    bitmaps[k], sizes[k], &err);

			if (d < 0) {
				/* the ranges read before it were read and cleared: they
				 * stay in the document, which says what failed */
				cli_set_errno(cli, (int)d);
				cli_error(cli, "%s", err.msg);
				snprintf(failure, sizeof(failure), "%s", err.msg);
				failed = (int)d;
				ex = cli_exit_code((int)d);
				count = i;
				break;
			}
			round += (uint64_t)d;
			out_object_begin(cli->out, NULL);
			out_u64(cli->out, "iova", NULL, ranges[k].iova);
			out_u64(cli->out, "length_bytes", NULL, ranges[k].length);
			out_u64(cli->out, "page_count", NULL, pages);
			out_text(cli->out, "report %u: 0x%llx+0x%llx: ", i,
				 (unsigned long long)ranges[k].iova,
				 (unsigned long long)ranges[k].length);
			out_u64(cli->out, "dirty_page_count", "%s", (uint64_t)d);
			out_text(cli->out, " of %llu pages dirty\n",
				 (unsigned long long)pages);
			print_bitmap(cli, bitmaps[k], pages, ranges[k].iova, rpage, list);
			out_object_end(cli->out);
		}
		out_array_end(cli->out);
		out_u64(cli->out, "dirty_page_count", NULL, round);
		out_object_end(cli->out);
		total_dirty += round;
	}
	out_array_end(cli->out);
	out_u64(cli->out, "dirty_page_count", "total %s dirty pages", total_dirty);
	out_text(cli->out, " in %u report%s\n", count, count == 1 ? "" : "s");

	r = vfm_device_dirty_stop(dev, &err);
	if (r < 0) {
		cli_set_errno(cli, r);
		cli_error(cli, "%s", err.msg);
		if (!failed) {
			snprintf(failure, sizeof(failure), "%s", err.msg);
			failed = r;
			ex = EXIT_FAILED;
		}
	}
	out_bool(cli->out, "stopped", r < 0 ? NULL : "logging stopped\n", r == 0);
	if (failed)
		out_error(cli->out, "error", failed, failure);
	else if (stop_signal) {
		out_str(cli->out, "interrupted", "interrupted by %s\n",
			stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
		ex = 128 + stop_signal;
	}
	out_object_end(cli->out);
	out_finish(cli->out);
	cli->out = NULL;
out:
	for (size_t k = 0; bitmaps && k < n; k++)
		free(bitmaps[k]);
	free(bitmaps);
	free(sizes);
	vfm_device_unref(dev);
	return ex;
}
