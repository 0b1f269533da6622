/* SPDX-License-Identifier: MIT
 * jsonget.c - reads a JSON file strictly (cJSON, nothing after the value) and prints one
 * value of it, for the command-line tests of ndlc's --emit json and --report.
 *
 *   jsonget FILE            exit 0 if FILE is one valid JSON value, else 1
 *   jsonget FILE PATH       print the value at PATH: keys and array indices joined by
 *                           '.', e.g. total.parameters or parameters.0.key; '#' at the
 *                           end prints the length of an array or object
 * Numbers print as %.17g, strings raw, anything else as compact JSON. Exit status: 0,
 * 1 invalid JSON or no such path, 2 usage.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fputs("usage: jsonget FILE [PATH]\n", stderr);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    size_t n = 0, cap = 1 << 16, k;
    char *buf = malloc(cap);
    while (buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) return 2;
    buf[n] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(buf, &end, 1);
    if (!root) {
        fprintf(stderr, "jsonget: %s: invalid JSON at byte %ld\n", argv[1], end ? (long)(end - buf) : -1L);
        free(buf);
        return 1;
    }
    int status = 0;
    cJSON *v = root;
    char *path = argc == 3 ? argv[2] : NULL;
    for (char *part = argc == 3 ? strtok(path, ".") : NULL; part; part = strtok(NULL, ".")) {
        if (!strcmp(part, "#") && (cJSON_IsArray(v) || cJSON_IsObject(v))) {
            printf("%d\n", cJSON_GetArraySize(v));
            goto done;
        }
        char *e;
        long idx = strtol(part, &e, 10);
        v = cJSON_IsArray(v) && *part && !*e ? cJSON_GetArrayItem(v, (int)idx)
                                             : cJSON_GetObjectItemCaseSensitive(v, part);
        if (!v) {
            fprintf(stderr, "jsonget: %s: no '%s' in the path\n", argv[1], part);
            status = 1;
            goto done;
        }
    }
    if (argc == 2) goto done;
    if (cJSON_IsNumber(v)) printf("%.17g\n", v->valuedouble);
    else if (cJSON_IsString(v)) printf("%s\n", v->valuestring);
    else {
        char *s = cJSON_PrintUnformatted(v);
        printf("%s\n", s);
        free(s);
    }
done:
    cJSON_Delete(root);
    free(buf);
    return status;
}
