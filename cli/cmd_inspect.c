/* joule inspect: a GGUF file's metadata and tensor table. */
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "joule/gguf.h"

int joule_cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            printf("usage: joule inspect FILE.gguf\n\nPrint a GGUF file's metadata keys and "
                   "tensor table (name, type, dimensions\nin ggml order, offset, bytes).\n");
            return 0;
        }
        fprintf(stderr, "usage: joule inspect FILE.gguf\n");
        return 2;
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: joule inspect FILE.gguf\n");
        return 2;
    }
    struct joule_gguf *g;
    enum joule_status st = joule_gguf_open(argv[optind], &g);
    if (st != JOULE_OK) {
        fprintf(stderr, "joule inspect: %s: %s\n", joule_status_str(st), joule_last_error());
        return 1;
    }
    joule_gguf_print(g, stdout);
    joule_gguf_free(g);
    return 0;
}
