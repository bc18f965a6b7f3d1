/*
 * version.c — decides from what the interpreter reports whether the reader
 * may read it: only final releases with a tested offset table (3.9–3.13),
 * not 3.9.3 (its PyThreadState layout broke the ABI and was recalled), no
 * debug or free-threaded builds (their layouts differ from the tables).
 *
 * Pure: no state, no reads; any thread.
 */
#include "version.h"

#include <stdio.h>
#include <string.h>

#define MIN_MINOR 9
#define MAX_MINOR 13

int spy_python_check_build(const struct spy_python_build *b, int *major, int *minor, int *patch,
                           char *err, size_t errlen)
{
    const char *v = b->version ? b->version : "";
    char shown[32];
    size_t n = strcspn(v, " ");
    if (n >= sizeof(shown))
        n = sizeof(shown) - 1;
    memcpy(shown, v, n);
    shown[n] = '\0';
    int maj = 0, min = 0, pat = 0, used = 0;
    if (sscanf(v, "%d.%d.%d%n", &maj, &min, &pat, &used) < 3 || used <= 0) {
        snprintf(err, errlen, "Python reports version \"%s\", which is not MAJOR.MINOR.PATCH; the agent is off",
                 shown);
        return -1;
    }
    const char *rest = v + used;
    *major = maj;
    *minor = min;
    *patch = pat;
    if (maj != 3 || min < MIN_MINOR || min > MAX_MINOR) {
        snprintf(err, errlen, "Python %s is not supported (offset tables exist for 3.%d to 3.%d); the agent is off",
                 shown, MIN_MINOR, MAX_MINOR);
        return -1;
    }
    /* "3.13.0rc2", "3.12.0b1", "3.14.0a3": pre-releases change layouts */
    if (rest[0] == 'a' || rest[0] == 'b' || (rest[0] == 'r' && rest[1] == 'c')) {
        snprintf(err, errlen, "Python %s is a pre-release; only final releases of 3.%d to 3.%d are supported; "
                 "the agent is off", shown, MIN_MINOR, MAX_MINOR);
        return -1;
    }
    if (rest[0] != '\0' && rest[0] != ' ' && rest[0] != '+') {
        snprintf(err, errlen, "Python reports version \"%s\", which is not a release version; the agent is off", shown);
        return -1;
    }
    if (b->hexversion != 0) {
        unsigned hmaj = (unsigned)(b->hexversion >> 24) & 0xff, hmin = (unsigned)(b->hexversion >> 16) & 0xff;
        unsigned level = (unsigned)(b->hexversion >> 4) & 0xf;
        if (hmaj != (unsigned)maj || hmin != (unsigned)min) {
            snprintf(err, errlen, "Python %s reports Py_Version %#llx, a different version; the agent is off", shown,
                     (unsigned long long)b->hexversion);
            return -1;
        }
        if (level != 0xf) {
            snprintf(err, errlen, "Python %s is a pre-release (Py_Version %#llx); only final releases are supported; "
                     "the agent is off", shown, (unsigned long long)b->hexversion);
            return -1;
        }
    }
    if (maj == 3 && min == 9 && pat == 3) {
        snprintf(err, errlen, "Python 3.9.3 is not supported (a recalled release whose thread-state layout differs "
                 "from every other 3.9); the agent is off");
        return -1;
    }
    if (b->debug) {
        snprintf(err, errlen, "Python %s is a debug build (--with-pydebug), whose layouts differ from the tables; "
                 "the agent is off", shown);
        return -1;
    }
    if (b->free_threaded) {
        snprintf(err, errlen, "Python %s is a free-threaded build, which the agent does not support; the agent is off",
                 shown);
        return -1;
    }
    return 0;
}
