/* The command parser: text and JSON forms agree, every bad input gets its
 * error code and a message that says what is accepted. */
#include <string.h>

#include "check.h"
#include "protocol.h"

static struct spy_cmd cmd;
static struct spy_cmd_error err;

static int parse(const char *s)
{
    return spy_protocol_parse(s, strlen(s), 300, &cmd, &err);
}

static int fails_with(const char *s, const char *code)
{
    int ok = parse(s) == -1 && err.code && strcmp(err.code, code) == 0 && err.message[0];
    if (!ok)
        fprintf(stderr, "  input %s: got %s (%s)\n", s, err.code ? err.code : "success", err.message);
    return ok;
}

int main(void)
{
    CHECK(parse("status") == 0 && cmd.kind == SPY_CMD_STATUS);
    CHECK(parse("blocks") == 0 && cmd.kind == SPY_CMD_BLOCKS);
    CHECK(parse("{\"cmd\":\"blocks\",\"id\":7}") == 0 && cmd.kind == SPY_CMD_BLOCKS && strcmp(cmd.id, "7") == 0);
    CHECK(fails_with("blocks 5", "too_many_arguments"));
    CHECK(fails_with("{\"cmd\":\"blocks\",\"limit\":5}", "bad_argument"));
    CHECK(parse("  dump \n") == 0 && cmd.kind == SPY_CMD_DUMP);
    CHECK(parse("help") == 0 && cmd.kind == SPY_CMD_HELP);
    CHECK(parse("top") == 0 && cmd.kind == SPY_CMD_TOP && cmd.limit == 0 && !cmd.window_given);
    CHECK(parse("top 5 window 10 idle") == 0 && cmd.limit == 5 && cmd.window == 10 && cmd.idle);
    CHECK(parse("top idle window 3") == 0 && cmd.window == 3 && cmd.idle && cmd.limit == 0);
    CHECK(parse("live 30 window all noidle") == 0 && cmd.kind == SPY_CMD_LIVE && cmd.window_all && !cmd.idle
          && cmd.idle_given);
    CHECK(parse("record 60") == 0 && cmd.kind == SPY_CMD_RECORD && cmd.seconds == 60 && cmd.formats == 0);
    CHECK(parse("record 3 svg speedscope") == 0 && cmd.formats == (SPY_FMT_SVG | SPY_FMT_SPEEDSCOPE));
    CHECK(parse("record stop") == 0 && cmd.kind == SPY_CMD_RECORD_STOP);
    CHECK(parse("record last 30 collapsed") == 0 && cmd.kind == SPY_CMD_RECORD_LAST && cmd.seconds == 30
          && cmd.formats == SPY_FMT_COLLAPSED);
    CHECK(parse("rate 250") == 0 && cmd.kind == SPY_CMD_RATE && cmd.hz == 250);
    CHECK(parse("auth sekrit-token") == 0 && cmd.kind == SPY_CMD_AUTH && strcmp(cmd.token, "sekrit-token") == 0);

    /* the task view (issue 12) */
    CHECK(parse("top 5 tasks window 3") == 0 && cmd.kind == SPY_CMD_TOP && cmd.tasks && cmd.tasks_given
          && cmd.limit == 5 && cmd.window == 3);
    CHECK(parse("top 5") == 0 && !cmd.tasks && !cmd.tasks_given);
    CHECK(parse("flame tasks window all") == 0 && cmd.kind == SPY_CMD_FLAME && cmd.tasks && cmd.window_all);
    CHECK(parse("live tasks") == 0 && cmd.kind == SPY_CMD_LIVE && cmd.tasks && cmd.tasks_given);
    CHECK(parse("live cpu") == 0 && !cmd.tasks && cmd.tasks_given);
    CHECK(parse("{\"cmd\":\"top\",\"view\":\"tasks\",\"limit\":3}") == 0 && cmd.tasks && cmd.limit == 3);
    CHECK(parse("{\"cmd\":\"flame\",\"view\":\"cpu\"}") == 0 && !cmd.tasks && cmd.tasks_given);
    CHECK(fails_with("{\"cmd\":\"top\",\"view\":\"wall\"}", "bad_argument"));
    CHECK(fails_with("{\"cmd\":\"live\",\"view\":1}", "bad_argument"));
    CHECK(fails_with("top tasks 5", "bad_argument"));
    CHECK(parse("flame window 30 idle") == 0 && cmd.kind == SPY_CMD_FLAME && cmd.window == 30 && cmd.idle);
    CHECK(parse("flame") == 0 && cmd.kind == SPY_CMD_FLAME && !cmd.window_given);
    CHECK(parse("{\"cmd\":\"flame\",\"window\":\"all\"}") == 0 && cmd.window_all);
    CHECK(fails_with("flame 5", "bad_argument"));
    CHECK(fails_with("{\"cmd\":\"flame\",\"limit\":3}", "bad_argument"));
    CHECK(parse("top 5 thread 4242") == 0 && cmd.tid == 4242 && cmd.tid_given);
    CHECK(parse("live thread all") == 0 && cmd.tid == 0 && cmd.tid_given);
    CHECK(parse("flame window 5 thread 7") == 0 && cmd.tid == 7);
    CHECK(parse("{\"cmd\":\"live\",\"thread\":12}") == 0 && cmd.tid == 12);
    CHECK(fails_with("top thread", "missing_argument"));
    CHECK(fails_with("top thread x", "bad_argument"));
    CHECK(fails_with("top thread all", "bad_argument"));       /* only live keeps a setting to clear */
    CHECK(spy_utf8_valid("plain", 5) && spy_utf8_valid("\xc3\xa9t\xc3\xa9", 6) && spy_utf8_valid("\xf0\x9f\x94\xa5", 4));
    CHECK(!spy_utf8_valid("\xc3", 1) && !spy_utf8_valid("\xc0\xaf", 2) && !spy_utf8_valid("\xed\xa0\x80", 3)
          && !spy_utf8_valid("\xff", 1) && !spy_utf8_valid("a\x80", 2) && !spy_utf8_valid("\xf4\x90\x80\x80", 4));
    CHECK(parse("report") == 0 && cmd.kind == SPY_CMD_REPORT && !cmd.html && cmd.seconds == 0);
    CHECK(parse("report html 30") == 0 && cmd.html && cmd.seconds == 30);
    CHECK(parse("report 10") == 0 && !cmd.html && cmd.seconds == 10);
    CHECK(parse("{\"cmd\":\"report\",\"format\":\"html\"}") == 0 && cmd.html);
    CHECK(fails_with("report pdf", "bad_argument") && strstr(err.message, "text or html"));
    CHECK(fails_with("report text 0", "bad_argument"));
    CHECK(fails_with("report text 5 more", "too_many_arguments"));
    /* endpoints [window S]: the task view per endpoint */
    CHECK(parse("endpoints") == 0 && cmd.kind == SPY_CMD_ENDPOINTS && cmd.window == 0 && !cmd.window_given);
    CHECK(parse("endpoints window 5") == 0 && cmd.kind == SPY_CMD_ENDPOINTS && cmd.window == 5 && cmd.window_given);
    CHECK(parse("{\"cmd\":\"endpoints\",\"window\":30,\"id\":7}") == 0 && cmd.kind == SPY_CMD_ENDPOINTS
          && cmd.window == 30 && strcmp(cmd.id, "7") == 0);
    CHECK(parse("{\"cmd\":\"endpoints\"}") == 0 && cmd.window == 0);
    CHECK(fails_with("endpoints window 0", "bad_argument") && strstr(err.message, "window"));
    CHECK(fails_with("endpoints window 99999", "bad_argument"));
    CHECK(fails_with("endpoints window", "missing_argument") && strstr(err.message, "seconds"));
    CHECK(fails_with("endpoints 5", "bad_argument") && strstr(err.message, "endpoints [window S]"));
    CHECK(fails_with("endpoints window 5 more", "too_many_arguments"));
    CHECK(fails_with("{\"cmd\":\"endpoints\",\"window\":\"all\"}", "bad_argument"));
    CHECK(fails_with("{\"cmd\":\"endpoints\",\"limit\":3}", "bad_argument"));
    CHECK(parse("record 3 pprof") == 0 && cmd.formats == SPY_FMT_PPROF);
    CHECK(fails_with("fly", "unknown_command") && strstr(err.message, "fly") && strstr(err.message, "help"));
    CHECK(fails_with("", "unknown_command"));
    CHECK(fails_with("record -5", "bad_argument") && strstr(err.message, "1 to 3600"));
    CHECK(fails_with("record 99999999", "bad_argument"));
    CHECK(fails_with("record abc", "bad_argument") && strstr(err.message, "abc"));
    CHECK(fails_with("record", "missing_argument"));
    CHECK(fails_with("record 5 png", "bad_argument") && strstr(err.message, "png"));
    CHECK(fails_with("record last 301", "bad_argument") && strstr(err.message, "300"));
    CHECK(fails_with("record stop now", "too_many_arguments"));
    CHECK(fails_with("top 5 window", "missing_argument"));
    CHECK(fails_with("top 0", "bad_argument"));
    CHECK(fails_with("top 5 sideways", "bad_argument") && strstr(err.message, "sideways"));
    CHECK(fails_with("rate 0", "bad_argument"));
    CHECK(fails_with("rate fast", "bad_argument") && strstr(err.message, "fast"));
    CHECK(fails_with("rate 10 20", "too_many_arguments"));
    CHECK(fails_with("status now", "too_many_arguments"));
    CHECK(fails_with("top 1.5", "bad_argument"));

    CHECK(parse("{\"cmd\":\"record\",\"seconds\":60}") == 0 && cmd.kind == SPY_CMD_RECORD && cmd.seconds == 60);
    CHECK(parse("{\"cmd\":\"record\",\"last\":10,\"formats\":[\"svg\"]}") == 0 && cmd.kind == SPY_CMD_RECORD_LAST
          && cmd.formats == SPY_FMT_SVG);
    CHECK(parse("{\"cmd\":\"record\",\"action\":\"stop\"}") == 0 && cmd.kind == SPY_CMD_RECORD_STOP);
    CHECK(parse("{\"cmd\":\"top\",\"limit\":3,\"window\":5,\"idle\":true,\"id\":7}") == 0 && cmd.limit == 3
          && cmd.idle && strcmp(cmd.id, "7") == 0);
    CHECK(parse("{\"cmd\":\"status\",\"id\":\"abc\"}") == 0 && strcmp(cmd.id, "\"abc\"") == 0);
    CHECK(parse("{\"cmd\":\"rate\",\"hz\":100}") == 0 && cmd.hz == 100);
    CHECK(fails_with("{\"cmd\":\"record\",\"seconds\":\"60\"}", "bad_argument") && strstr(err.message, "seconds"));
    CHECK(fails_with("{\"cmd\":\"record\",\"seconds\":1.5}", "bad_argument"));
    CHECK(fails_with("{\"cmd\":\"nope\"}", "unknown_command") && strstr(err.message, "nope"));
    CHECK(fails_with("{bad json", "bad_json"));
    CHECK(fails_with("[1,2]", "bad_json"));
    CHECK(fails_with("{\"seconds\":5}", "bad_json"));
    /* one object per message, nothing after it but white space */
    CHECK(parse("{\"cmd\":\"status\"}  \n") == 0 && cmd.kind == SPY_CMD_STATUS);
    CHECK(fails_with("{\"cmd\":\"status\"}garbage", "bad_json") && strstr(err.message, "'garbage'")
          && strstr(err.message, "byte 16"));
    CHECK(fails_with("{\"cmd\":\"status\"}{\"cmd\":\"top\"}", "bad_json") && strstr(err.message, "one JSON object"));
    CHECK(fails_with("{\"cmd\":\"status\"} x", "bad_json"));
    CHECK(fails_with("{\"cmd\":\"status\",\"id\":4} x", "bad_json") && strcmp(err.id, "4") != 0);
    CHECK(fails_with("{\"cmd\":\"top\",\"bogus\":1}", "bad_argument") && strstr(err.message, "bogus"));
    CHECK(fails_with("{\"cmd\":\"record\"}", "missing_argument"));
    CHECK(fails_with("{\"cmd\":\"record\",\"seconds\":5,\"last\":5}", "missing_argument"));
    CHECK(fails_with("{\"cmd\":\"status\",\"id\":[1]}", "bad_argument"));
    CHECK(parse("{\"cmd\":\"nope\",\"id\":9}") == -1 && strcmp(err.id, "9") == 0);   /* id echoed on errors */
    return check_report();
}
