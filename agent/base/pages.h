/* pages.h — address-space reservations that fill in as they are used. */
#ifndef SPY_PAGES_H
#define SPY_PAGES_H

#include <stddef.h>

/* Reserve size bytes of zeroed, readable and writable memory that costs
 * resident memory only for the pages touched.  NULL on failure. */
void *spy_pages_reserve(size_t size);
void spy_pages_release(void *p, size_t size);

#endif
