/*
 * config_file.c — spyctl's settings file: one JSON object whose members
 * are the settings' long flag names without dashes ("port", "timeout",
 * "duration", "rate", "output", "app", "report_format", "python", "agent",
 * "interval", "limit").  Reading hands each member as text to the same
 * setter the flags use (args.c), so a file is validated exactly like the
 * command line.  Writing goes through output.c ("-" is standard output; a
 * regular file is replaced whole: temporary name, fsync, rename; a device,
 * FIFO or symlink is written through).  The token is never written.  Single-threaded.
 */
#include "config_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "output.h"
#include "sink.h"

int spyctl_config_read(const char *path, spyctl_config_set_fn set, void *ctx, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--config %.200s: cannot read it", path);
        return -1;
    }
    char *buf = malloc(65537);
    size_t n = buf ? fread(buf, 1, 65536, f) : 0;
    bool too_big = buf && n == 65536 && fgetc(f) != EOF;
    fclose(f);
    if (!buf || too_big) {
        free(buf);
        snprintf(err, errlen, "--config %.200s: larger than 64 KiB", path);
        return -1;
    }
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        snprintf(err, errlen, "--config %.200s: not a JSON object", path);
        return -1;
    }
    int rc = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, j)
    {
        char num[64], sub[240];
        const char *value;
        if (cJSON_IsNull(m))
            continue;
        if (cJSON_IsString(m)) {
            value = m->valuestring;
        } else if (cJSON_IsNumber(m)) {
            snprintf(num, sizeof(num), "%.17g", m->valuedouble);
            value = num;
        } else {
            snprintf(err, errlen, "--config %.150s: \"%.40s\" must be a string or a number", path, m->string);
            rc = -1;
            break;
        }
        if (set(ctx, m->string, value, sub, sizeof(sub)) != 0) {
            snprintf(err, errlen, "--config %.100s: %s", path, sub);
            rc = -1;
            break;
        }
    }
    cJSON_Delete(j);
    return rc;
}

static void put_str(struct spy_sink *s, const char *key, const char *value, bool *first)
{
    spy_sink_printf(s, "%s\n  \"%s\": ", *first ? "" : ",", key);
    *first = false;
    if (!value) {
        spy_sink_puts(s, "null");
        return;
    }
    spy_sink_puts(s, "\"");
    spy_sink_json_str(s, value);
    spy_sink_puts(s, "\"");
}

static void put_int(struct spy_sink *s, const char *key, long value, bool null_if_zero, bool *first)
{
    spy_sink_printf(s, "%s\n  \"%s\": ", *first ? "" : ",", key);
    *first = false;
    if (null_if_zero && value == 0)
        spy_sink_puts(s, "null");
    else
        spy_sink_printf(s, "%ld", value);
}

int spyctl_config_write(const char *path, const struct spyctl_live_opts *o, char *err, size_t errlen)
{
    struct spyctl_output out;
    char why[1400];
    if (spyctl_output_open(&out, path, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "--save-config: %s", why);
        return -1;
    }
    struct spy_sink *sp = &out.sink;
    bool first = true;
    spy_sink_puts(sp, "{");
    put_int(sp, "port", o->port, false, &first);
    put_int(sp, "timeout", o->timeout, false, &first);
    put_int(sp, "duration", o->duration, true, &first);
    put_int(sp, "rate", o->rate, true, &first);
    put_str(sp, "output", o->output, &first);
    put_str(sp, "app", o->app, &first);
    put_str(sp, "report_format", o->report_format, &first);
    put_str(sp, "python", o->python, &first);
    put_str(sp, "agent", o->agent, &first);
    spy_sink_printf(sp, ",\n  \"interval\": %g", o->interval);
    put_int(sp, "limit", o->limit, false, &first);
    spy_sink_puts(sp, "\n}\n");
    if (spyctl_output_close(&out, 0, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "--save-config: %s", why);
        return -1;
    }
    return 0;
}
