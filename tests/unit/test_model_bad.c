/*
 * test_model_bad.c - every crafted bad model in tests/fixtures/bad/ (made
 * by make_bad_files.py, listed in MANIFEST.tsv with the substring its error
 * must contain) is refused by kvlm_model_load with a message naming the
 * problem, and by the `kvlm inspect` program with exit code 1 (not a
 * signal, not 0). Runs under ASan/UBSan in `make test`, so an
 * out-of-bounds read while refusing a file fails the test.
 *
 * For hf/ folder cases other than config_* the folder has no valid
 * config.json or the safetensors layer reports first; those only need to
 * fail with a non-empty message (the safetensors test checks their text);
 * so do the llama2c_tok/ tokenizer.bin files, whose expected text is the
 * tokenizer loader's (test_bad_files checks it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "kvlm.h"
#include "test.h"

int main(void)
{
    char man[4096];
    fixture_path(man, sizeof man, "bad/MANIFEST.tsv");
    FILE *f = fopen(man, "r");
    REQUIRE(f != NULL, "cannot open %s", man);
    const char *bin = getenv("KVLM_BIN");
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        const char *rel = line, *expect = tab + 1;
        char sub[1200], path[4200];
        snprintf(sub, sizeof sub, "bad/%s", rel);
        fixture_path(path, sizeof path, sub);
        kvlm_model *m = NULL;
        kvlm_status s = kvlm_model_load(path, NULL, &m);
        CHECK(s != KVLM_OK && m == NULL, "%s: loaded a bad model", rel);
        const char *msg = kvlm_last_error();
        bool strict = (strncmp(rel, "hf/", 3) != 0 || strncmp(rel, "hf/config_", 10) == 0) &&
                      strncmp(rel, "llama2c_tok/", 12) != 0;
        if (strict)
            CHECK(strstr(msg, expect) != NULL, "%s: error '%s' does not mention '%s'", rel, msg, expect);
        else
            CHECK(msg[0] != 0, "%s: empty error message", rel);
        kvlm_model_free(m);
        n++;
        if (bin && n % 4 == 0) { /* the CLI on a quarter of the corpus */
            char cmd[9000];
            snprintf(cmd, sizeof cmd, "'%s' inspect '%s' >/dev/null 2>&1", bin, path);
            int rc = system(cmd);
            CHECK(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 1,
                  "%s: kvlm inspect exited with status %d (want exit code 1)", rel, rc);
        }
    }
    fclose(f);
    CHECK(n >= 40, "only %d bad files in the corpus", n);
    printf("test_model_bad: %d bad models refused\n", n);
    TEST_MAIN_END("test_model_bad");
}
