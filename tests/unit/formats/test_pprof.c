/* The pprof writer: gzip magic, and the message decoded by Debian's protoc
 * against tests/data/profile.proto (argv[1]) — sample type samples/count,
 * period from the rate, values summing to the active samples, the string
 * table starting with "", functions and thread labels present.  Skips the
 * protoc part (counted as a failure) if protoc is missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "fastapi_profile.h"
#include "out_pprof.h"
#include "sink.h"

int main(int argc, char **argv)
{
    const char *data = argc > 1 ? argv[1] : "tests/data";
    struct spy_profile p;
    struct spy_sink s;
    struct spy_write_options o = { .include_idle = false };
    fastapi_profile(&p);
    spy_sink_memory(&s, 0);
    CHECK(spy_write_pprof(&p, &o, &s) == 0 && spy_sink_close(&s) == 0);
    CHECK(s.len > 20 && (unsigned char)s.buf[0] == 0x1f && (unsigned char)s.buf[1] == 0x8b);

    char gz[] = "/tmp/spy-pprof-XXXXXX";
    int fd = mkstemp(gz);
    CHECK(fd >= 0 && write(fd, s.buf, s.len) == (ssize_t)s.len);
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "gzip -dc < %s | protoc --decode perftools.profiles.Profile -I %s profile.proto", gz,
             data);
    FILE *f = popen(cmd, "r");
    char line[512];
    long values = 0, nsamples = 0, nfunctions = 0, nlocations = 0, period = 0;
    int nstr = 0, in_sample = 0;
    char first_strings[3][32] = { "?", "?", "?" };
    int have_thread = 0, have_fn = 0, have_cpu = 0;
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "sample {", 8) == 0) {
            nsamples++;
            in_sample = 1;
        } else if (strncmp(line, "function {", 10) == 0) {
            nfunctions++;
        } else if (strncmp(line, "location {", 10) == 0) {
            nlocations++;
        } else if (in_sample && strncmp(line, "  value: ", 9) == 0) {
            values += atol(line + 9);
        } else if (strncmp(line, "period: ", 8) == 0) {
            period = atol(line + 8);
        } else if (strncmp(line, "string_table: \"", 15) == 0) {
            char *q = line + 15, *e = strrchr(q, '"');
            if (e)
                *e = '\0';
            if (nstr < 3)
                snprintf(first_strings[nstr], sizeof(first_strings[0]), "%.31s", q);
            nstr++;
            have_thread |= strcmp(q, "AnyIO worker thread (101)") == 0;
            have_fn |= strcmp(q, "OrderRepository.total_for") == 0;
            have_cpu |= strcmp(q, "cpu") == 0;
        } else if (line[0] == '}') {
            in_sample = 0;
        }
    }
    int rc = f ? pclose(f) : -1;
    CHECK(rc == 0);
    CHECK(nsamples == 7 && values == 110);
    CHECK(nlocations == 16 && nfunctions == 16);
    CHECK(strcmp(first_strings[0], "") == 0 && strcmp(first_strings[1], "samples") == 0
          && strcmp(first_strings[2], "count") == 0);
    CHECK(have_thread && have_fn && have_cpu);
    CHECK(period == 10000000);
    unlink(gz);
    free(s.buf);
    spy_profile_free(&p);
    return check_report();
}
