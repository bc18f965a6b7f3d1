/* memread: copies what is mapped, refuses what is not, never faults —
 * including a range that starts mapped and runs into a hole, and batches
 * with a bad request in the middle. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "memread.h"

int main(void)
{
    CHECK(spy_memread_init() == 0);
    CHECK(strcmp(spy_memread_method(), "process_vm_readv") == 0 || strcmp(spy_memread_method(), "pipe") == 0);

    long page = sysconf(_SC_PAGESIZE);
    char *two = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(two != MAP_FAILED);
    memset(two, 'x', (size_t)page);
    munmap(two + page, (size_t)page);           /* a hole right after the first page */

    char buf[256];
    CHECK(spy_memread(buf, (uint64_t)(uintptr_t)two, 16) == 0 && buf[0] == 'x' && buf[15] == 'x');
    CHECK(spy_memread(buf, (uint64_t)(uintptr_t)(two + page - 8), 16) == -1);   /* runs into the hole */
    CHECK(spy_memread(buf, (uint64_t)(uintptr_t)(two + page), 8) == -1);
    CHECK(spy_memread(buf, 0, 8) == -1);
    CHECK(spy_memread(buf, UINT64_MAX - 4, 8) == -1);                          /* wraps around */
    CHECK(spy_memread(buf, 16, 0) == 0);

    char a[8], b[8], c[8];
    struct spy_memread_req reqs[3] = {
        { a, (uint64_t)(uintptr_t)two, 8, 0 },
        { b, (uint64_t)(uintptr_t)(two + page), 8, 0 },
        { c, (uint64_t)(uintptr_t)(two + 8), 8, 0 },
    };
    CHECK(spy_memread_many(reqs, 3) == 2);
    CHECK(reqs[0].ok && !reqs[1].ok && reqs[2].ok);
    CHECK(a[0] == 'x' && c[7] == 'x');
    munmap(two, (size_t)page);
    return check_report();
}
