/* fuzz_protocol.c — libFuzzer target: one client message, as the server
 * hands it to spy_protocol_parse (plain text or JSON, any bytes), with the
 * history bound taken from the first byte.  Checks: it returns 0 or -1,
 * a failure carries an error code and a message, and every number it
 * accepts is within the documented ranges (docs/PROTOCOL.md).
 * Built only by scripts/fuzz.sh (clang, -Dfuzz=true). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int history = 10 + data[0] * 14;                 /* 10 .. 3580, as SPY_HISTORY allows */
    const char *msg = (const char *)data + 1;
    size_t len = size - 1;
    /* the server checks UTF-8 first and parses only valid text */
    (void)spy_utf8_valid(msg, len);
    /* an exact-size heap copy, so any read past the end is caught */
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return 0;
    memcpy(copy, msg, len);
    struct spy_cmd cmd;
    struct spy_cmd_error err;
    int rc = spy_protocol_parse(copy, len, history, &cmd, &err);
    if (rc != 0 && rc != -1)
        abort();
    if (rc == -1 && (!err.code || !err.code[0] || !err.message[0]))
        abort();                                     /* every refusal says why */
    if (rc == 0) {
        if (cmd.limit < 0 || cmd.window < 0 || cmd.window > history || cmd.seconds < 0 || cmd.hz < 0
            || memchr(cmd.token, '\0', sizeof(cmd.token)) == NULL || memchr(cmd.id, '\0', sizeof(cmd.id)) == NULL)
            abort();
        char text[128];
        spy_formats_text(cmd.formats, text, sizeof(text));
    }
    free(copy);
    return 0;
}
