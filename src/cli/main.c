// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig: the command-line front end.  Commands are a table; each parses its own
 * options (getopt_long), with -j/--json, -p/--pretty, -v/--verbose and -h/--help
 * accepted everywhere.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "client.h"
#include "config.h"
#include "contract.h"
#include "macro.h"
#include "output.h"

struct command {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv);
	const char *summary;
	/* With --connect: the command run through vfiomigd (NULL: local only). */
	int (*remote)(struct cli *cli, int argc, char **argv);
};

static const struct command commands[] = {
	{ "list", cmd_list, "list VFIO devices on this host and their migration flags" },
	{ "info", cmd_info, "identity, flags, state and data size of devices" },
	{ "state", cmd_state, "print a device's state, or drive it arc by arc" },
	{ "reset", cmd_reset, "reset devices (VFIO_DEVICE_RESET) back to RUNNING" },
	{ "plan", cmd_plan, "print the arcs from one state to another, touching nothing" },
	{ "check", cmd_check, "walk every arc a device claims: where its driver departs from the uAPI" },
	{ "soak", cmd_soak, "migrate a state back and forth between devices, N cycles: figures, failures, leaks" },
	{ "dirty", cmd_dirty, "DMA dirty logging of a device: start, report N times, stop" },
	{ "inspect", cmd_inspect, "read a saved image and check it, touching no device" },
	{ "timeline", cmd_timeline, "draw a --trace as an SVG: phases, arcs and downtime per device" },
	{ "save", cmd_save, "stream devices' state to a destination (tcp, unix, file, -, fd)",
	  cmd_save_remote },
	{ "restore", cmd_restore, "load a stream into devices and run them", cmd_restore_remote },
	{ "vf", cmd_vf, "VFs of PFs: devlink migratable, MAC, VLAN and other settings, VF token" },
	/* vfiomigd's (the default socket unless --connect names another) */
	{"jobs", cmd_jobs, "vfiomigd: list its jobs", cmd_jobs},
	{"wait", cmd_wait, "vfiomigd: wait for a job and print its report", cmd_wait},
	{"cancel", cmd_cancel, "vfiomigd: cancel a job (its devices roll back)",
	 cmd_cancel},
	{"continue", cmd_continue, "vfiomigd: acknowledge a save's quiesced devices",
	 cmd_continue},
	{"resume", cmd_resume, "vfiomigd: a save in doubt: its devices back to RUNNING",
	 cmd_resume},
	{"release", cmd_release,
	 "vfiomigd: a save in doubt: give its devices up, stopped", cmd_release},
	{"attach", cmd_attach,
	 "vfiomigd: open devices (or pass fd:N:NAME) for later jobs", cmd_attach},
	{"detach", cmd_detach, "vfiomigd: close devices it holds", cmd_detach},
};

int cli_ctx_new(struct vfm_ctx **ret_ctx)
{
	struct vfm_ctx *ctx = NULL;
	int r = vfm_ctx_new(&ctx);

	/* Tests point the library at a fake sysfs tree. */
	if (r >= 0 && getenv("VFIOMIG_SYSFS_ROOT"))
		r = vfm_ctx_set_sysfs_root(ctx, getenv("VFIOMIG_SYSFS_ROOT"));
	if (r < 0) {
		vfm_ctx_unref(ctx);
		return r;
	}
	*ret_ctx = ctx;
	return 0;
}

/*
 * A message on a terminal: control characters (C0, DEL, and C1 as UTF-8) become '?',
 * so that a name typed or read from elsewhere (a device name with an escape
 * sequence, say) cannot move the cursor, recolour or hide the rest.
 */
static void put_safe(const char *s, FILE *f)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			fputc('?', f);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			fputc('?', f);
			p++;
		} else {
			fputc(*p, f);
		}
	}
}

void cli_error(struct cli *cli, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fputs("vfiomig: ", stderr);
	put_safe(msg, stderr);
	fputc('\n', stderr);
	/* warnings are not the error */
	if (!cli->error[0] && strncmp(fmt, "warning", 7) != 0) {
		va_start(ap, fmt);
		vsnprintf(cli->error, sizeof(cli->error), fmt, ap);
		va_end(ap);
	}
}

void cli_set_errno(struct cli *cli, int err)
{
	if (!cli->error_errno)
		cli->error_errno = err < 0 ? -err : err;
}

/* The error member of a JSON document: errno and its name when known, the
 * message, the exit code. */
static struct json_object *error_json(const struct cli *cli, int ex)
{
	struct json_object *e = json_object_new_object();
	char nb[24];

	if (cli->error_errno) {
		json_object_object_add(e, "errno", json_object_new_int(cli->error_errno));
		json_object_object_add(e, "errno_name", json_object_new_string(
							out_errno_name(cli->error_errno, nb)));
	} else {
		json_object_object_add(e, "errno", NULL);
		json_object_object_add(e, "errno_name", NULL);
	}
	json_object_object_add(e, "message", json_object_new_string(
						     cli->error[0] ? cli->error : "failed"));
	json_object_object_add(e, "exit", json_object_new_int(ex));
	return e;
}

/*
 * Under -j the command's document (out_document_set()) goes out here, "version"
 * first.  A command that failed says why in it: its "error" object (a job's report
 * has one) gets the exit code, a document without one gets the first error; a
 * command that failed before printing anything prints {"version", "error"}.  So
 * orchestration reads every failure from stdout, not only from the exit code.
 */
static int finish(struct cli *cli, int ex)
{
	bool pretty = cli->pretty;
	struct json_object *doc = out_document_take(&pretty), *o, *e = NULL;

	if (!cli->json || (ex == EXIT_OK && !doc)) {
		json_object_put(doc);
		return ex;
	}
	o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(VFM_JSON_VERSION));
	if (doc && json_object_is_type(doc, json_type_object)) {
		json_object_object_foreach(doc, k, v)
			if (!streq(k, "version"))
				json_object_object_add(o, k, json_object_get(v));
	}
	json_object_put(doc);
	if (ex != EXIT_OK) {
		if (!json_object_object_get_ex(o, "error", &e) ||
		    !json_object_is_type(e, json_type_object))
			json_object_object_add(o, "error", error_json(cli, ex));
		else if (!json_object_object_get_ex(e, "exit", NULL))
			json_object_object_add(e, "exit", json_object_new_int(ex));
	}
	puts(json_object_to_json_string_ext(o, (pretty ? JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED
						     : JSON_C_TO_STRING_PLAIN) |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	fflush(stdout);
	return ex;
}

/* The first error of a command line getopt refused (it printed its own sentence). */
static void bad_option(struct cli *cli, const char *arg)
{
	if (!cli->error[0])
		snprintf(cli->error, sizeof(cli->error),
			 "'%.64s': an unknown option, or one without its argument", arg);
}

int cli_exit_code(int err)
{
	switch (-err) {
	case 0:
		return EXIT_OK;
	case ENOTTY:
	case EOPNOTSUPP:
	case ENOENT:
		return EXIT_UNSUPPORTED;
	default:
		return EXIT_FAILED;
	}
}

int cli_open(struct cli *cli, const char *name, struct vfm_device **ret_dev)
{
	int r = vfm_device_open(cli->ctx, name, ret_dev);
	const char *why;

	if (r >= 0)
		return EXIT_OK;
	cli_set_errno(cli, r);
	why = vfm_ctx_last_error(cli->ctx);
	if (*why)
		cli_error(cli, "%s", why);
	else
		cli_error(cli, "%s: cannot open: %s", name, strerror(-r));
	return EXIT_NODEV;
}

static void log_stderr(void *userdata, enum vfm_log_level level, const char *msg)
{
	fprintf(stderr, "vfiomig: debug: %s\n", msg);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vfiomig [-j|--json] [-p|--pretty] [-v|--verbose] [--connect[=SOCKET]]\n"
		"               [--vf-token UUID] COMMAND [ARGS...]\n"
		"       vfiomig --version | --help\n\n"
		"Migrate the state of VFIO devices with the VFIO migration v2 uAPI.\n\n"
		"Commands:\n");
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n--connect[=SOCKET] runs save and restore in vfiomigd (default socket\n"
		   "$VFIOMIG_SOCKET or %s); see vfiomigd(8).\n", vfmc_default_socket());
	fprintf(f, "--vf-token UUID is presented when a VF of a PF bound to vfio-pci (or that\n"
		   "PF) is opened, by any command and through vfiomigd; other devices ignore "
		   "it.\n");
	fprintf(f, "-j prints one JSON document, described by vfiomig-COMMAND.schema.json in\n"
		   "%s/vfiomig/schema (vfiomig(8), JSON OUTPUT).\n", VFM_DATADIR);
	fprintf(f, "\nRun 'vfiomig COMMAND --help' for a command's options; see vfiomig(8).\n"
		   "Exit codes: 0 ok, 1 operation failed, 2 usage, 3 device cannot be opened,\n"
		   "4 not supported by the device, 5 the destination's devices are not compatible.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "connect", optional_argument, NULL, 'C' },
		{ "vf-token", required_argument, NULL, 'T' },
		{}
	};
	struct cli cli = { .argv0 = argv[0] };
	const struct command *cmd = NULL;
	int c, r;

	/* Global options stop at the command name. */
	while ((c = getopt_long(argc, argv, "+jpvhV", opts, NULL)) >= 0) {
		switch (c) {
		case 'j': cli.json = true; break;
		case 'p': cli.json = cli.pretty = true; break;
		case 'v': cli.verbose = true; break;
		case 'C': cli.connect = optarg ? optarg : vfmc_default_socket(); break;
		case 'T': cli.vf_token = optarg; break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V':
			if (cli.json)
				printf("{\"version\":%d,\"package_version\":\"%s\"}\n",
				       VFM_JSON_VERSION, VFM_PACKAGE_VERSION);
			else
				printf("vfiomig %s\n", VFM_PACKAGE_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			bad_option(&cli, argv[optind - 1]);
			cli_set_errno(&cli, EINVAL);
			return finish(&cli, EXIT_USAGE);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		cli_set_errno(&cli, EINVAL);
		snprintf(cli.error, sizeof(cli.error), "no command (see vfiomig --help)");
		return finish(&cli, EXIT_USAGE);
	}
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		if (streq(argv[optind], commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
		cli_error(&cli, "unknown command '%s' (see vfiomig --help)", argv[optind]);
		cli_set_errno(&cli, EINVAL);
		return finish(&cli, EXIT_USAGE);
	}
	if (cli.connect && !cmd->remote) {
		cli_error(&cli, "'%s' does not run through vfiomigd (drop --connect)", cmd->name);
		cli_set_errno(&cli, EINVAL);
		return finish(&cli, EXIT_USAGE);
	}

	r = cli_ctx_new(&cli.ctx);
	if (r == -EINVAL) {
		cli_error(&cli, "VFIOMIG_SYSFS_ROOT: %s", strerror(-r));
		cli_set_errno(&cli, r);
		return finish(&cli, EXIT_USAGE);
	}
	if (r < 0) {
		cli_error(&cli, "cannot create context: %s", strerror(-r));
		cli_set_errno(&cli, r);
		return finish(&cli, EXIT_FAILED);
	}

	if (cli.vf_token && vfm_ctx_set_vf_token(cli.ctx, cli.vf_token) < 0) {
		cli_error(&cli, "--vf-token: '%.64s' is not a UUID "
				"(like bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3)",
			  cli.vf_token);
		vfm_ctx_unref(cli.ctx);
		cli_set_errno(&cli, EINVAL);
		return finish(&cli, EXIT_USAGE);
	}

	argc -= optind;
	argv += optind;
	optind = 0; /* reset getopt for the command's own parsing */
	r = cli.connect ? cmd->remote(&cli, argc, argv) : cmd->fn(&cli, argc, argv);

	vfm_ctx_unref(cli.ctx);
	/* usage errors: EINVAL unless something more precise was said */
	if (r == EXIT_USAGE)
		cli_set_errno(&cli, EINVAL);
	return finish(&cli, r);
}

int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *longopts, void (*help)(void), int *ret_exit)
{
	static const struct option common[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
	};
	struct option all[32];
	char shorts[64];
	size_t n = 0;
	int c;

	for (size_t i = 0; i < ELEMENTSOF(common); i++)
		all[n++] = common[i];
	for (size_t i = 0; longopts && longopts[i].name && n < ELEMENTSOF(all) - 1; i++)
		all[n++] = longopts[i];
	memset(&all[n], 0, sizeof(all[n]));
	snprintf(shorts, sizeof(shorts), "jpvh%s", shortopts ? shortopts : "");

	/* The command's own options are returned one by one; common ones handled here. */
	while ((c = getopt_long(argc, argv, shorts, all, NULL)) >= 0) {
		switch (c) {
		case 'j': cli->json = true; break;
		case 'p': cli->json = cli->pretty = true; break;
		case 'v': cli->verbose = true; break;
		case 'h': help(); *ret_exit = EXIT_OK; return -1;
		case '?':
			/* getopt said why on stderr; -j says it on stdout too */
			bad_option(cli, argv[optind - 1]);
			*ret_exit = EXIT_USAGE;
			return -1;
		default: return c;
		}
	}
	if (cli->verbose)
		vfm_ctx_set_log(cli->ctx, VFM_LOG_DEBUG, log_stderr, NULL);
	return 0;
}
