/* joule — serve small code language models and measure what every answer costs. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

/* In the order a user meets the commands: the study end to end, its pieces, utilities.
 * A command appears here only once it exists. */
const struct joule_command joule_commands[] = {
    {"demo", "the study end to end on this machine in a few minutes", joule_cmd_demo},
    {"reproduce", "the study's full protocol (12 models, 10 reps, 300 s idle phases)",
     joule_cmd_reproduce},
    {"synth", "write a random-weight checkpoint with the shape of a study model", joule_cmd_synth},
    {"dataset", "random token windows of HumanEval prompts -> prompts.jsonl", joule_cmd_dataset},
    {"tokenize", "encode or decode text with a tokenizer.json", joule_cmd_tokenize},
    {"generate", "run a model on one prompt and print what it generates", joule_cmd_generate},
    {"serve", "serve a model over HTTP (OpenAI completions, the study's routes, metrics)",
     joule_cmd_serve},
    {"sensors", "list the energy/resource sensors here, and why any is missing", joule_cmd_sensors},
    {"measure", "run a command and report its energy, time, CPU, RAM and GPU use",
     joule_cmd_measure},
    {"bench", "run a measurement campaign over serving configurations", joule_cmd_bench},
    {"export", "write a results database's tables as CSV", joule_cmd_export},
    {"analyze", "report: statistics, tables, plots, recommendations from results",
     joule_cmd_analyze},
    {"stats", "statistical tests on groups of numbers (JSON in, table or JSON out)",
     joule_cmd_stats},
    {"convert", "convert a Hugging Face checkpoint to GGUF for llama.cpp", joule_cmd_convert},
    {"inspect", "print a GGUF file's metadata and tensor table", joule_cmd_inspect},
    {"version", "print the version and build features", joule_cmd_version},
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
