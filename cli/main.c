/* joule — serve small code language models and measure what every answer costs. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

/* Keep this table sorted roughly by the order a user meets the commands.
 * A command appears here only once it exists. */
const struct joule_command joule_commands[] = {
    {"generate", "run a model on one prompt and print what it generates", joule_cmd_generate},
    {"version", "print the version and build features", joule_cmd_version},
    {"synth", "write a random-weight checkpoint with the shape of a study model", joule_cmd_synth},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: joule <command> [options]\n\n"
            "Serve small code language models over HTTP under different engines and\n"
            "execution providers, and measure the energy, time and resources of every answer.\n\n"
            "commands:\n");
    for (const struct joule_command *c = joule_commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f, "\nRun 'joule <command> --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) return joule_cmd_version(argc - 1, argv + 1);
    for (const struct joule_command *c = joule_commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "joule: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
