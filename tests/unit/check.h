/* check.h — the smallest test harness: CHECK(cond) records a failure with
 * its line; main() returns the failure count.  Each test program prints
 * "N passed, N failed" at the end. */
#ifndef SPY_CHECK_H
#define SPY_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond) \
    do { \
        if (cond) { \
            check_passed++; \
        } else { \
            check_failed++; \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        } \
    } while (0)

static inline int check_report(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
