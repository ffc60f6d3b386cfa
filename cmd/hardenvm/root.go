package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

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
		Example: `  hardenvm keys init --dir keys
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
			return nil
		},
	}
	root.SetVersionTemplate("hardenvm {{.Version}}\n")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print data as JSON (commands whose output is data)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
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
			fmt.Fprintf(stderr, "hardenvm: internal error: %v (please report this)\n", r)
			code = exitFailure
		}
	}()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "hardenvm: "+oneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return exitUsage
	}
	return exitFailure
}

// isCobraUsage recognises the errors cobra itself returns for a wrong
// command line (it has no typed errors for them).
func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires at most", "received ", "invalid argument"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// exactArgs is cobra.ExactArgs with a message that names the arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("%s: want %d argument(s) (%s), got %d; see '%s --help'",
				cmd.CommandPath(), len(names), strings.Join(names, " "), len(args), cmd.CommandPath())
		}
		return nil
	}
}

// printJSON writes v as indented JSON: the --json output of data commands.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
