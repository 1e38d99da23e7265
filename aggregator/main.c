/*
 * pathstats-aggregator: argv and signals; each mode is a file of cmd/.
 *
 *   (default)  drain the rings, aggregate, flush to the sinks
 *   --tail     print each record as one JSON line (consumes them)
 *   --stats    print the zone's counters as JSON (consumes nothing)
 *   --check    validate the configuration and what it points at
 *   --migrate  apply the PostgreSQL schema migrations
 *   --silence  silence alert notifications of a scope for a while
 */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "config/config.h"
#include "lib/log.h"

typedef enum {
    MODE_DAEMON = 0,
    MODE_CHECK,
    MODE_MIGRATE,
    MODE_STATS,
    MODE_TAIL,
    MODE_SILENCE,
    MODE_SUBCOMMAND
} run_mode_t;

static volatile sig_atomic_t  stop_signal;
static volatile sig_atomic_t  reopen_logs;

static const ps_signals_t  signals = { &stop_signal, &reopen_logs };

enum {
    OPT_OVERRIDE = 256,        /* a config key: ps_config_override_t */
    OPT_CHECK,
    OPT_MIGRATE,
    OPT_STATS,
    OPT_TAIL,
    OPT_ONCE,
    OPT_SILENCE,
    OPT_FOR
};

/* Options that set a config key carry OPT_OVERRIDE; the key is the name
 * with '-' for '_'.  Adding such a flag is one line here. */
static const struct option  options[] = {
    { "config",         required_argument, NULL, 'c' },
    { "zone",           required_argument, NULL, OPT_OVERRIDE },
    { "redis",          required_argument, NULL, OPT_OVERRIDE },
    { "postgres",       required_argument, NULL, OPT_OVERRIDE },
    { "node-id",        required_argument, NULL, OPT_OVERRIDE },
    { "flush-interval", required_argument, NULL, OPT_OVERRIDE },
    { "log-level",      required_argument, NULL, OPT_OVERRIDE },
    { "log-file",       required_argument, NULL, OPT_OVERRIDE },
    { "check",          no_argument,       NULL, OPT_CHECK },
    { "migrate",        no_argument,       NULL, OPT_MIGRATE },
    { "stats",          no_argument,       NULL, OPT_STATS },
    { "tail",           no_argument,       NULL, OPT_TAIL },
    { "once",           no_argument,       NULL, OPT_ONCE },
    { "silence",        required_argument, NULL, OPT_SILENCE },
    { "for",            required_argument, NULL, OPT_FOR },
    { "help",           no_argument,       NULL, 'h' },
    { "version",        no_argument,       NULL, 'V' },
    { NULL, 0, NULL, 0 }
};

#define MAX_OVERRIDES  64      /* config flags on one command line */


static void
usage(FILE *f)
{
    fprintf(f,
"usage: pathstats-aggregator -c FILE [options]\n"
"       pathstats-aggregator --zone FILE (--stats | --tail [--once])\n"
"       pathstats-aggregator -c FILE SUBCOMMAND [arguments]\n"
"\n"
"Drains the pathstats rings of an nginx zone file, aggregates per path\n"
"and publishes to PostgreSQL, Redis and the zone's snapshot area.\n"
"\n"
"modes (default: run as the daemon):\n"
"  --check              validate the configuration and the zone, then exit\n"
"  --migrate            apply the PostgreSQL schema migrations, then exit\n"
"  --stats              print the zone's counters as JSON (reads only)\n"
"  --tail [--once]      print each request as one JSON line, consuming it;\n"
"                       --once exits when the rings are empty\n"
"  --silence SCOPE --for DURATION\n"
"                       notify nobody about the alerts of SCOPE (all,\n"
"                       overall, /a/path or /a/prefix*) for DURATION (2h;\n"
"                       0 ends it), on every node (stored in PostgreSQL)\n"
"\n"
"subcommands (after the options; PostgreSQL's history lifecycle):\n"
"  lifecycle [--dry-run]          rollup, archive, verify, drop: now\n"
"  archive --day D | --before D   archive closed days to archive_dir\n"
"  restore FILE... | --day D [--replace]\n"
"                                 load archives back (--replace: the\n"
"                                 day's rows there are replaced)\n"
"  verify                         archives and rollups; exit 0 if exact\n"
"  backup --full DIR              every pathstats table, one snapshot\n"
"\n"
"options (override the file's keys):\n"
"  -c, --config FILE    configuration file (optional with --zone)\n"
"  --zone FILE          the zone file of pathstats_zone\n"
"  --redis URL          redis://HOST:PORT[/DB]\n"
"  --postgres CONNINFO  libpq conninfo, key=value or postgresql:// URI\n"
"  --node-id ID         this box's name in shared data (default: hostname)\n"
"  --flush-interval D   e.g. 500ms, 1s (default 1s)\n"
"  --log-level L        debug, info, warn or error (default info)\n"
"  --log-file FILE      default stderr; reopened on SIGHUP\n"
"  -h, --help           this text\n"
"  -V, --version        version and zone layout version\n"
"\n"
"exit status: 0 ok, 1 runtime error, 2 usage or configuration, 3 zone,\n"
"4 PostgreSQL, 5 Redis\n");
}


static void
on_signal(int signo)
{
    if (signo == SIGHUP) {
        reopen_logs = 1;
    } else {
        stop_signal = signo;
    }
}


static int
install_signals(void)
{
    struct sigaction  sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);

    /* no SA_RESTART: a signal cuts the idle sleep short */
    sa.sa_handler = on_signal;

    if (sigaction(SIGTERM, &sa, NULL) == -1
        || sigaction(SIGINT, &sa, NULL) == -1
        || sigaction(SIGHUP, &sa, NULL) == -1)
    {
        ps_log(PS_LOG_ERROR, "event=signal_setup_failed error=\"%s\"",
               strerror(errno));
        return -1;
    }

    /* a closed stdout (--tail | head) must be an error we see, not death
     * before the records printed so far are released */
    sa.sa_handler = SIG_IGN;
    (void) sigaction(SIGPIPE, &sa, NULL);

    return 0;
}


int
main(int argc, char **argv)
{
    int                   c, idx, rc, once;
    size_t                noverrides;
    const char           *config_path, *silence, *duration;
    run_mode_t            mode;
    ps_config_t           cfg;
    ps_config_override_t  overrides[MAX_OVERRIDES];
    int                   have_zone, have_postgres, nsub;
    char                **sub;

    mode = MODE_DAEMON;
    once = 0;
    config_path = NULL;
    silence = NULL;
    duration = NULL;
    noverrides = 0;
    have_zone = 0;
    have_postgres = 0;

    /* "+": options stop at the first word, a subcommand's name; what
     * follows it is the subcommand's own */
    while ((c = getopt_long(argc, argv, "+c:hV", options, &idx)) != -1) {
        switch (c) {

        case 'c':
            config_path = optarg;
            break;

        case OPT_OVERRIDE:
            if (noverrides == MAX_OVERRIDES) {
                fprintf(stderr, "pathstats-aggregator: too many options\n");
                return PS_EXIT_CONFIG;
            }
            overrides[noverrides].option = options[idx].name;
            overrides[noverrides].value = optarg;
            noverrides++;
            have_zone |= strcmp(options[idx].name, "zone") == 0;
            have_postgres |= strcmp(options[idx].name, "postgres") == 0;
            break;

        case OPT_CHECK:
        case OPT_MIGRATE:
        case OPT_STATS:
        case OPT_TAIL:
        case OPT_SILENCE:
            if (mode != MODE_DAEMON) {
                fprintf(stderr, "pathstats-aggregator: --check, --migrate, "
                        "--stats, --tail and --silence exclude each "
                        "other\n");
                return PS_EXIT_CONFIG;
            }
            mode = (c == OPT_CHECK) ? MODE_CHECK
                 : (c == OPT_MIGRATE) ? MODE_MIGRATE
                 : (c == OPT_STATS) ? MODE_STATS
                 : (c == OPT_TAIL) ? MODE_TAIL : MODE_SILENCE;
            silence = (c == OPT_SILENCE) ? optarg : NULL;
            break;

        case OPT_FOR:
            duration = optarg;
            break;

        case OPT_ONCE:
            once = 1;
            break;

        case 'h':
            usage(stdout);
            return 0;

        case 'V':
            printf("pathstats-aggregator %s (layout %d)\n", PATHSTATS_VERSION,
                   PS_LAYOUT_VERSION);
            return 0;

        default:
            usage(stderr);
            return PS_EXIT_CONFIG;
        }
    }

    sub = NULL;
    nsub = 0;

    if (optind < argc && mode == MODE_DAEMON
        && ps_cmd_is_subcommand(argv[optind]))
    {
        sub = argv + optind;
        nsub = argc - optind;
        mode = MODE_SUBCOMMAND;

    } else if (optind < argc) {
        fprintf(stderr, "pathstats-aggregator: unexpected argument \"%s\"\n",
                argv[optind]);
        return PS_EXIT_CONFIG;
    }

    if (once && mode != MODE_TAIL) {
        fprintf(stderr, "pathstats-aggregator: --once goes with --tail\n");
        return PS_EXIT_CONFIG;
    }

    if ((mode == MODE_SILENCE) != (duration != NULL)) {
        fprintf(stderr, "pathstats-aggregator: --silence SCOPE goes with "
                "--for DURATION\n");
        return PS_EXIT_CONFIG;
    }

    if (config_path == NULL && !have_zone
        && !((mode == MODE_MIGRATE || mode == MODE_SILENCE
               || mode == MODE_SUBCOMMAND) && have_postgres))
    {
        fprintf(stderr, "pathstats-aggregator: pass -c FILE or --zone FILE "
                "(see --help)\n");
        return PS_EXIT_CONFIG;
    }

    if (ps_config_load(&cfg, config_path, overrides, noverrides) != 0) {
        return PS_EXIT_CONFIG;
    }

    ps_log_set_level(cfg.log_level);
    ps_log_set_json(cfg.log_format == PS_LOG_FORMAT_JSON);

    if (mode != MODE_MIGRATE && mode != MODE_SILENCE
        && mode != MODE_SUBCOMMAND && cfg.zone == NULL)
    {
        ps_log(PS_LOG_ERROR, "event=config_invalid key=zone error=\"no zone "
               "file: set zone in the configuration or pass --zone\"");
        ps_config_free(&cfg);
        return PS_EXIT_CONFIG;
    }

    /* the one-shot modes report to the terminal; the daemon to log_file */
    if (mode == MODE_DAEMON && ps_log_open(cfg.log_file) != 0) {
        ps_config_free(&cfg);
        return PS_EXIT_CONFIG;
    }

    if (install_signals() != 0) {
        ps_config_free(&cfg);
        return PS_EXIT_RUNTIME;
    }

    switch (mode) {
    case MODE_CHECK:
        rc = ps_cmd_check(&cfg);
        break;
    case MODE_MIGRATE:
        rc = ps_cmd_migrate(&cfg);
        break;
    case MODE_STATS:
        rc = ps_cmd_stats(&cfg);
        break;
    case MODE_TAIL:
        rc = ps_cmd_tail(&cfg, once, &signals);
        break;
    case MODE_SILENCE:
        rc = ps_cmd_silence(&cfg, silence, duration);
        break;
    case MODE_SUBCOMMAND:
        rc = ps_cmd_subcommand(&cfg, nsub, sub);
        break;
    default:
        rc = ps_cmd_daemon(&cfg, &signals);
        break;
    }

    (void) ps_log_open(NULL);
    ps_config_free(&cfg);

    return rc;
}
