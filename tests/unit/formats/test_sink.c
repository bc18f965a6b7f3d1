/* Sinks: the memory buffer and its limit, the escapers (JSON, XML, broken
 * UTF-8), and files that appear whole or not at all — created through a
 * temporary name, renamed on close, removed when a write fails. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "sink.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b)
        b[n] = '\0';
    fclose(f);
    return b;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* How many entries of dir start with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static void test_memory(void)
{
    struct spy_sink s;
    spy_sink_memory(&s, 0);
    CHECK(spy_sink_puts(&s, "hello ") == 0);
    CHECK(spy_sink_printf(&s, "%d-%s", 42, "x") == 0);
    CHECK(s.len == 10 && strcmp(s.buf, "hello 42-x") == 0);
    char big[3000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK(spy_sink_printf(&s, "[%s]", big) == 0);          /* longer than the stack buffer */
    CHECK(s.len == 10 + 3001 && s.buf[s.len - 1] == ']' && s.buf[s.len] == '\0');
    CHECK(spy_sink_close(&s) == 0);
    free(s.buf);

    /* the limit: failing is sticky and says why */
    spy_sink_memory(&s, 10);
    CHECK(spy_sink_puts(&s, "0123456789") == 0);
    CHECK(spy_sink_puts(&s, "x") == -1);
    CHECK(s.failed && strstr(s.error, "limit") != NULL);
    CHECK(spy_sink_puts(&s, "") == -1);
    CHECK(spy_sink_close(&s) == -1);
    free(s.buf);
}

static const char *escaped(int (*fn)(struct spy_sink *, const char *), const char *in, struct spy_sink *s)
{
    free(s->buf);
    spy_sink_memory(s, 0);
    if (fn(s, in) != 0)
        return "(failed)";
    return s->buf ? s->buf : "";
}

static void test_escaping(void)
{
    struct spy_sink s = { 0 };

    CHECK(strcmp(escaped(spy_sink_json_str, "plain <module>", &s), "plain <module>") == 0);
    CHECK(strcmp(escaped(spy_sink_json_str, "a\"b\\c\n\x01\x1f\x7f", &s),
                 "a\\\"b\\\\c\\u000a\\u0001\\u001f\x7f") == 0);
    /* valid UTF-8 passes through, invalid bytes become U+FFFD one by one */
    CHECK(strcmp(escaped(spy_sink_json_str, "gr\xc3\xbc\xc3\x9f\x65 \xf0\x9f\x98\x80", &s),
                 "gr\xc3\xbc\xc3\x9f\x65 \xf0\x9f\x98\x80") == 0);
    CHECK(strcmp(escaped(spy_sink_json_str, "x\xff y\xe2\x82 z", &s),
                 "x\xef\xbf\xbd y\xef\xbf\xbd\xef\xbf\xbd z") == 0);
    CHECK(strcmp(escaped(spy_sink_json_str, "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80", &s),
                 "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd") == 0);
    CHECK(strcmp(escaped(spy_sink_json_str, "", &s), "") == 0);
    CHECK(strcmp(escaped(spy_sink_json_str, NULL, &s), "") == 0);
    CHECK(strcmp(escaped(spy_sink_json_str_xmlsafe, "<a&b>\"", &s),
                 "\\u003ca\\u0026b\\u003e\\\"") == 0);

    CHECK(strcmp(escaped(spy_sink_xml_str, "<lambda> & \"q\" 'a'", &s),
                 "&lt;lambda&gt; &amp; &quot;q&quot; &#39;a&#39;") == 0);
    CHECK(strcmp(escaped(spy_sink_xml_str, "tab\there\x01\x0b|\xff|\xef\xbf\xbe|gr\xc3\xbc\xc3\x9f\x65", &s),
                 "tab\there\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd|\xef\xbf\xbd|gr\xc3\xbc\xc3\x9f\x65") == 0);
    free(s.buf);
}

static void test_file(const char *root)
{
    char dir[512], path[700], tmp[700];
    struct spy_sink s;

    /* success: directories made (mode 0755), temp file until close, then renamed */
    snprintf(dir, sizeof(dir), "%s/a/b/c", root);
    snprintf(path, sizeof(path), "%s/out.svg", dir);
    snprintf(tmp, sizeof(tmp), "%s/.out.svg.tmp.%ld", dir, (long)getpid());
    CHECK(spy_sink_file(&s, dir, "out.svg") == 0);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0755);
    CHECK(exists(tmp) && !exists(path));
    CHECK(strcmp(s.path, path) == 0);
    size_t big = 200000;
    char *payload = malloc(big);
    CHECK(payload != NULL);
    if (!payload)
        return;
    for (size_t i = 0; i < big; i++)
        payload[i] = (char)('a' + i % 26);
    CHECK(spy_sink_puts(&s, "head\n") == 0);
    CHECK(spy_sink_write(&s, payload, big) == 0);       /* larger than the buffer */
    CHECK(spy_sink_printf(&s, "\ntail %d\n", 7) == 0);
    CHECK(!exists(path));                                /* nothing visible before close */
    CHECK(spy_sink_close(&s) == 0);
    CHECK(exists(path) && !exists(tmp));
    char *back = slurp(path);
    CHECK(back && strlen(back) == 5 + big + 8 && strncmp(back, "head\nabc", 8) == 0
          && strcmp(back + 5 + big, "\ntail 7\n") == 0);
    free(back);

    /* replacing a file: readers see the old one until the new one is whole */
    CHECK(spy_sink_file(&s, dir, "out.svg") == 0);
    CHECK(spy_sink_puts(&s, "new content\n") == 0);
    back = slurp(path);
    CHECK(back && strlen(back) == 5 + big + 8);
    free(back);
    CHECK(spy_sink_close(&s) == 0);
    back = slurp(path);
    CHECK(back && strcmp(back, "new content\n") == 0);
    free(back);
    CHECK(count_prefixed(dir, ".out.svg.tmp") == 0);

    /* a trailing slash on the directory is fine */
    char dir_slash[600];
    snprintf(dir_slash, sizeof(dir_slash), "%s/", dir);
    CHECK(spy_sink_file(&s, dir_slash, "x.txt") == 0 && spy_sink_close(&s) == 0);
    snprintf(path, sizeof(path), "%s/x.txt", dir);
    CHECK(exists(path));

    /* a file where the directory should be: ENOTDIR, named in the error */
    char file_as_dir[600];
    snprintf(file_as_dir, sizeof(file_as_dir), "%s/plain", root);
    FILE *f = fopen(file_as_dir, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    CHECK(spy_sink_file(&s, file_as_dir, "y.svg") == -1);
    CHECK(s.failed && strstr(s.error, file_as_dir) && strstr(s.error, strerror(ENOTDIR)));
    CHECK(spy_sink_puts(&s, "dropped") == -1);
    CHECK(spy_sink_close(&s) == -1);
    char deeper[700];
    snprintf(deeper, sizeof(deeper), "%s/sub", file_as_dir);
    CHECK(spy_sink_file(&s, deeper, "y.svg") == -1);
    CHECK(strstr(s.error, "cannot create directory") && strstr(s.error, strerror(ENOTDIR)));
    CHECK(spy_sink_close(&s) == -1);

    /* /proc refuses new directories even to root */
    CHECK(spy_sink_file(&s, "/proc/self/spyagent-test", "z.svg") == -1);
    CHECK(s.error[0] != '\0');
    CHECK(spy_sink_close(&s) == -1);

    /* bad names */
    CHECK(spy_sink_file(&s, dir, "a/b") == -1 && spy_sink_close(&s) == -1);
    CHECK(spy_sink_file(&s, dir, "") == -1 && spy_sink_close(&s) == -1);

    /* a write that fails half way (file size limit -> EFBIG): close
     * reports the path and the reason, and removes the temporary file */
    struct rlimit old, lim;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 100000;
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHECK(spy_sink_file(&s, dir, "big.svg") == 0);
    int failed_at = -1;
    for (int i = 0; i < 10 && failed_at < 0; i++)
        if (spy_sink_write(&s, payload, 50000) != 0)
            failed_at = i;
    int rc = spy_sink_close(&s);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    snprintf(path, sizeof(path), "%s/big.svg", dir);
    char want[800];
    snprintf(want, sizeof(want), "cannot write %s: %s", path, strerror(EFBIG));
    CHECK(rc == -1);
    CHECK(strcmp(s.error, want) == 0);
    if (strcmp(s.error, want) != 0)
        fprintf(stderr, "error was: %s\n", s.error);
    CHECK(!exists(path));
    CHECK(count_prefixed(dir, ".big.svg") == 0);
    free(payload);
}

int main(void)
{
    test_memory();
    test_escaping();

    char root[] = "/tmp/spy-test-sink-XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    test_file(root);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    return check_report();
}
