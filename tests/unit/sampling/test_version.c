/* test_version.c — which interpreter builds the reader accepts
 * (agent/sampling/python/version.c), and that every accepted minor version has an
 * offset table and a reader. */
#include <string.h>

#include "check.h"
#include "interp.h"
#include "python/offsets.h"
#include "python/version.h"

static int accept(const char *v, uint64_t hex, bool debug, bool ft, char *err, size_t n)
{
    struct spy_python_build b = { .version = v, .hexversion = hex, .debug = debug, .free_threaded = ft };
    int maj, min, pat;
    err[0] = '\0';
    return spy_python_check_build(&b, &maj, &min, &pat, err, n);
}

static int refused_with(const char *v, uint64_t hex, bool debug, bool ft, const char *words)
{
    char err[256];
    if (accept(v, hex, debug, ft, err, sizeof(err)) == 0)
        return 0;
    /* one line that names the version (or the reason) and says the agent is off */
    return strchr(err, '\n') == NULL && strstr(err, words) != NULL && strstr(err, "the agent is off") != NULL;
}

int main(void)
{
    char err[256];
    /* every final release with a table, as Py_GetVersion() says it */
    CHECK(accept("3.9.18 (main, Jan  1 2024, 00:00:00) [GCC 12.2.0]", 0, false, false, err, sizeof(err)) == 0);
    CHECK(accept("3.10.13 (main) [GCC]", 0, false, false, err, sizeof(err)) == 0);
    CHECK(accept("3.11.2 (main, Apr 28 2025, 14:11:48) [GCC 12.2.0]", 0x30b02f0, false, false, err, sizeof(err)) == 0);
    CHECK(accept("3.12.1 (main) [GCC]", 0x30c01f0, false, false, err, sizeof(err)) == 0);
    CHECK(accept("3.13.0 (main) [GCC]", 0x30d00f0, false, false, err, sizeof(err)) == 0);
    CHECK(accept("3.9.4", 0, false, false, err, sizeof(err)) == 0);
    /* a build from a maintenance branch after a release: same layouts, and
     * attach() checks them anyway */
    CHECK(accept("3.12.1+ (heads/3.12:abc) [GCC]", 0x30c01f0, false, false, err, sizeof(err)) == 0);
    int maj = 0, min = 0, pat = 0;
    struct spy_python_build b = { .version = "3.10.13 (main)" };
    CHECK(spy_python_check_build(&b, &maj, &min, &pat, err, sizeof(err)) == 0 && maj == 3 && min == 10 && pat == 13);

    /* pre-releases, by the string and by Py_Version's release level */
    CHECK(refused_with("3.13.0rc2 (main) [GCC]", 0, false, false, "3.13.0rc2 is a pre-release"));
    CHECK(refused_with("3.12.0b1 (main) [GCC]", 0, false, false, "3.12.0b1 is a pre-release"));
    CHECK(refused_with("3.11.0a7", 0, false, false, "pre-release"));
    CHECK(refused_with("3.13.0 (main)", 0x30d00c2, false, false, "pre-release"));
    /* Py_Version that contradicts the string */
    CHECK(refused_with("3.13.0 (main)", 0x30c01f0, false, false, "a different version"));
    /* the recalled 3.9.3 */
    CHECK(refused_with("3.9.3 (default) [GCC]", 0, false, false, "3.9.3"));
    /* no table: too old, too new */
    CHECK(refused_with("3.8.18 (default) [GCC]", 0, false, false, "3.8.18 is not supported"));
    CHECK(refused_with("2.7.18 (default) [GCC]", 0, false, false, "2.7.18 is not supported"));
    CHECK(refused_with("3.14.0 (main) [GCC]", 0x30e00f0, false, false, "3.14.0 is not supported"));
    CHECK(refused_with("4.0.0", 0, false, false, "not supported"));
    /* flavours */
    CHECK(refused_with("3.12.1 (main)", 0x30c01f0, true, false, "debug build"));
    CHECK(refused_with("3.13.0 experimental free-threading build (main)", 0x30d00f0, false, true, "free-threaded"));
    /* garbage */
    CHECK(refused_with("", 0, false, false, "not MAJOR.MINOR.PATCH"));
    CHECK(refused_with("3.12", 0, false, false, "not MAJOR.MINOR.PATCH"));
    CHECK(refused_with("3.12.1x", 0, false, false, "not a release version"));
    struct spy_python_build none = { 0 };
    CHECK(spy_python_check_build(&none, &maj, &min, &pat, err, sizeof(err)) == -1);
    /* truncation: a long version never overflows and still says why */
    char small[24];
    CHECK(accept("3.13.0rc2 (main) [GCC]", 0, false, false, small, sizeof(small)) == -1 && strlen(small) < sizeof(small));

    /* every accepted minor version has a table and a reader, and no other */
    for (int m = 0; m <= 20; m++) {
        bool want = m >= 9 && m <= 13;
        const struct spy_offsets *o = spy_offsets_for(3, m);
        CHECK((o != NULL) == want);
        if (o)
            CHECK(o->major == 3 && o->minor == m && o->ts_next >= 0 && o->ts_frame > o->ts_next);
        bool reader = false;
        for (int i = 0; spy_readers[i]; i++)
            if (spy_readers[i]->major == 3 && spy_readers[i]->minor == m)
                reader = true;
        CHECK(reader == want);
    }
    CHECK(spy_offsets_for(2, 7) == NULL);
    CHECK(spy_offsets_for(3, 13)->dbg_size > 0 && spy_offsets_for(3, 12)->dbg_size < 0);
    return check_report();
}
