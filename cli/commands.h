/* Subcommands of the joule program: one cli/cmd_<name>.c each.
 * Only cli/ prints usage or calls exit(). Each returns the process exit code. */
#ifndef JOULE_CLI_COMMANDS_H
#define JOULE_CLI_COMMANDS_H

struct joule_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
};

/* The table in main.c; terminated by a NULL name. */
extern const struct joule_command joule_commands[];

/* Prototypes of every subcommand (add yours here and to the table in main.c). */
int joule_cmd_version(int argc, char **argv);
int joule_cmd_generate(int argc, char **argv);
int joule_cmd_synth(int argc, char **argv);
int joule_cmd_tokenize(int argc, char **argv);
int joule_cmd_dataset(int argc, char **argv);
int joule_cmd_serve(int argc, char **argv);
int joule_cmd_sensors(int argc, char **argv);
int joule_cmd_measure(int argc, char **argv);
int joule_cmd_stats(int argc, char **argv);
int joule_cmd_convert(int argc, char **argv);
int joule_cmd_inspect(int argc, char **argv);
int joule_cmd_analyze(int argc, char **argv);
int joule_cmd_bench(int argc, char **argv);
int joule_cmd_export(int argc, char **argv);
int joule_cmd_demo(int argc, char **argv);
int joule_cmd_reproduce(int argc, char **argv);

#endif
