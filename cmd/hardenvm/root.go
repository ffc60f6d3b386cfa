package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardenvm/hardenvm/internal/cliresult"
	"github.com/hardenvm/hardenvm/internal/version"
)

// Exit codes of every command.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// app is the state shared by all commands: where output goes and the global
// flags.
type app struct {
	stdout, stderr io.Writer
	logLevel       string
	json           bool
	log            *slog.Logger
	// data is the command's --json output (printJSON), written by run
	// when the command ends: with the error when it fails.
	data json.RawMessage
	// renamedUsed are the former flag names the command line used.
	renamedUsed []string
}

// commands holds the constructors of the subcommands. Each command's file
// registers itself in init, so adding a command touches only its own file.
var commands []func(*app) *cobra.Command

func register(f func(*app) *cobra.Command) { commands = append(commands, f) }

// usageError marks a mistake in how the command was called (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "hardenvm",
		Short: "Build, sign, boot and attest a hardened VM for a desktop container engine",
		Long: `hardenvm assembles a locked-down Linux VM for a desktop container product:
a dm-verity protected root loaded by a signed boot chain, a signed config
partition, a hardened container runtime, and measured boot that anyone can
attest.`,
		Example: `  hardenvm keys init --keys keys
  hardenvm run --kernel vmlinuz --initrd initrd.img --timeout 2m`,
		Version:       version.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			lvl, err := parseLevel(a.logLevel)
			if err != nil {
				return usageError{err}
			}
			a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: lvl}))
			slog.SetDefault(a.log)
			for _, old := range a.renamedUsed {
				fmt.Fprintf(a.stderr, "hardenvm: note: --%s is now --%s; the old name will go away\n", old, renamedFlags[old])
			}
			return nil
		},
	}
	root.SetVersionTemplate("hardenvm {{.Version}}\n")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print data as JSON (commands whose output is data)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetGlobalNormalizationFunc(a.normalizeFlag)
	for _, f := range commands {
		root.AddCommand(f(a))
	}
	return root
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// run executes the CLI with args and returns the process exit code. Errors
// are printed as a single line; nothing ever panics out to the user.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	a := &app{stdout: stdout, stderr: stderr, log: slog.New(slog.DiscardHandler)}
	root := newRoot(a)
	root.SetArgs(args)
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("internal error: %v (please report this)", r)
			fmt.Fprintln(stderr, "hardenvm: "+err.Error())
			if a.json || cliresult.JSONRequested(args) {
				cliresult.WriteJSON(stdout, nil, err)
			}
			code = exitFailure
		}
	}()
	err := root.ExecuteContext(ctx)
	if a.json || (err != nil && cliresult.JSONRequested(args)) {
		cliresult.WriteJSON(stdout, a.data, err)
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "hardenvm: "+cliresult.OneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) || cliresult.CobraUsage(err) {
		return exitUsage
	}
	return exitFailure
}

// cmdName is cmd's path without the program's name ("config build"): the
// prefix of its errors, which run prefixes with "hardenvm: " once.
func cmdName(cmd *cobra.Command) string {
	if !cmd.HasParent() {
		return cmd.Name()
	}
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// exactArgs is cobra.ExactArgs with a message that names the arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("%s: want %d argument(s) (%s), got %d; see '%s --help'",
				cmdName(cmd), len(names), strings.Join(names, " "), len(args), cmd.CommandPath())
		}
		return nil
	}
}

// wantSubcommand is the RunE of a command that only groups subcommands.
func wantSubcommand(cmd *cobra.Command, args []string) error {
	var subs []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			subs = append(subs, c.Name())
		}
	}
	return usagef("%s: want a subcommand: %s; see '%s --help'", cmdName(cmd), strings.Join(subs, ", "), cmd.CommandPath())
}

// renamedFlags maps a flag's former name to its name: one name for one
// thing across commands (the key set directory is --keys, an output file or
// directory --output). The former names keep working for scripts, hidden
// from the help, with a note on stderr.
var renamedFlags = map[string]string{
	"dir": "keys",   // keys init|show
	"out": "output", // build, config build
}

// normalizeFlag is every command's flag normalization: it maps a former
// name to the flag's name and remembers that it was used.
func (a *app) normalizeFlag(_ *pflag.FlagSet, n string) pflag.NormalizedName {
	if to, ok := renamedFlags[n]; ok {
		if !slices.Contains(a.renamedUsed, n) {
			a.renamedUsed = append(a.renamedUsed, n)
		}
		return pflag.NormalizedName(to)
	}
	return pflag.NormalizedName(n)
}

// printJSON sets v as the command's --json output. run writes it when the
// command ends, so that stdout holds exactly one JSON object: v, with an
// "error" member first when the command then fails (a verify report with
// failed checks), or {"error": "…"} alone when it failed before it had
// data.
func (a *app) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("BUG: --json output: %w", err)
	}
	a.data = b
	return nil
}

// print outputs v: as JSON with --json, else as text writes it.
func (a *app) print(v any, text func(io.Writer) error) error {
	if a.json {
		return a.printJSON(v)
	}
	return text(a.stdout)
}
