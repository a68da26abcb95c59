package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/grifork/grifork/internal/testkit/fleet"
)

const usage = `usage:
  fleet demo [-hosts 12] [-name demo] [-grifork bin/grifork] [-file examples/Griforkfile.demo.lua] [-keep]
  fleet up   [-hosts 12] [-name NAME] [-rate MBIT]
  fleet down [-name demo]
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "demo":
		err = demo(ctx, args[1:], stdout, stderr)
	case "up":
		err = up(ctx, args[1:], stdout, stderr)
	case "down":
		err = down(args[1:], stderr)
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
	var ec exitCode
	switch {
	case errors.As(err, &ec):
		return int(ec)
	case err != nil:
		fmt.Fprintf(stderr, "fleet: %v\n", err)
		if ctx.Err() != nil || errors.Is(err, errInterrupted) {
			return 130
		}
		return 1
	}
	return 0
}

var errInterrupted = errors.New("interrupted")

// exitCode ends the program with a code and no further message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func logTo(w io.Writer) func(string, ...any) {
	return func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
}

func up(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	hosts := fs.Int("hosts", 12, "number of hosts")
	name := fs.String("name", "", "fleet name (1-8 characters a-z 0-9; default random)")
	rate := fs.Int("rate", 0, "shape each host link to this many Mbit/s (0 = no shaping)")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	f, err := fleet.Start(ctx, fleet.Options{Name: *name, Hosts: *hosts, RateMbit: *rate, Logf: logTo(stderr)})
	if err != nil {
		return err
	}
	defer f.Close()
	printSettings(stdout, f)
	fmt.Fprintln(stderr, "fleet is up; Ctrl-C tears it down")
	<-ctx.Done()
	return f.Close()
}

func printSettings(w io.Writer, f *fleet.Fleet) {
	fmt.Fprintf(w, "GRIFORK_DEMO_HOSTS=%q\n", strings.Join(f.Hosts(), " "))
	fmt.Fprintf(w, "GRIFORK_DEMO_KEY=%s\n", f.KeyFile())
	fmt.Fprintf(w, "GRIFORK_DEMO_KNOWN_HOSTS=%s\n", f.KnownHostsFile())
	fmt.Fprintf(w, "# ssh -F %s %s\n", f.SSHConfigFile(), f.Hosts()[0])
}

func down(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	name := fs.String("name", "demo", "fleet name")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	return fleet.Reclaim(*name, logTo(stderr))
}

func demo(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	hosts := fs.Int("hosts", 12, "number of hosts")
	name := fs.String("name", "demo", "fleet name")
	bin := fs.String("grifork", "bin/grifork", "grifork binary")
	file := fs.String("file", "examples/Griforkfile.demo.lua", "Griforkfile")
	keep := fs.Bool("keep", false, "keep the fleet up after the run until Ctrl-C")
	bfile := fs.String("broadcast", "examples/Griforkfile.broadcast.lua", "Griforkfile of the broadcast run (\"\" for none)")
	rate := fs.Int("rate", 100, "Mbit/s of every link (0: unshaped)")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	for _, p := range []string{*bin, *file, *bfile} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return err
		}
	}
	// A fixed work dir: a re-run after a killed demo starts from scratch.
	work := filepath.Join(os.TempDir(), "grifork-demo-"+*name)
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "app")
	files, size, err := makeApp(src)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "==> sample application: %d files, %.1f MB in %s\n", files, float64(size)/1e6, src)

	fmt.Fprintf(stdout, "==> starting %d hosts (real sshd, each in its own network and mount namespace)\n", *hosts)
	f, err := fleet.Start(ctx, fleet.Options{Name: *name, Hosts: *hosts, RateMbit: *rate, Logf: logTo(stdout)})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(stdout, "==> tearing the fleet down")
		if cerr := f.Close(); cerr != nil {
			fmt.Fprintf(stderr, "fleet: %v\n", cerr)
			if err == nil {
				err = exitCode(1)
			}
		}
	}()
	env := append(os.Environ(),
		"GRIFORK_DEMO_HOSTS="+strings.Join(f.Hosts(), " "),
		"GRIFORK_DEMO_KEY="+f.KeyFile(),
		"GRIFORK_DEMO_KNOWN_HOSTS="+f.KnownHostsFile(),
		"GRIFORK_DEMO_SRC="+src,
		"GRIFORK_DEMO_LOG="+filepath.Join(work, "grifork.log"),
	)
	grifork := func(args ...string) error {
		fmt.Fprintf(stdout, "==> %s %s\n", *bin, strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, *bin, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, stdout, stderr
		// On Ctrl-C grifork gets the chance to stop what it started on the hosts.
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 15 * time.Second
		return cmd.Run()
	}
	if err := grifork("graph", "-f", *file); err != nil {
		return fmt.Errorf("grifork graph: %w", err)
	}
	began := time.Now()
	runErr := grifork("-f", *file)
	// A Ctrl-C reaches grifork at the same time as this process; either may notice first.
	if ctx.Err() != nil || interrupted(runErr) {
		return errInterrupted
	}
	treeTook := time.Since(began)
	fmt.Fprintf(stdout, "==> grifork finished in %s (%v)\n", treeTook.Round(time.Millisecond), exitStatus(runErr))

	fmt.Fprintln(stdout, "==> verifying /srv/app on every host (inside its namespaces)")
	ok, err := verify(ctx, stdout, f, src)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d/%d hosts verified\n", ok, len(f.Hosts()))
	if *bfile != "" && ok == len(f.Hosts()) && runErr == nil {
		empty := func() error {
			for _, h := range f.Hosts() {
				if _, err := f.Exec(ctx, h, "rm", "-rf", "/srv/app"); err != nil {
					return err
				}
			}
			return nil
		}
		fmt.Fprintln(stdout, "==> the same application again, with the pipelined broadcast (/srv/app emptied first)")
		if err := empty(); err != nil {
			return err
		}
		// Untimed: the first broadcast ships grifork's relay to every host.
		if err := grifork("-f", *bfile); err != nil {
			return fmt.Errorf("grifork broadcast: %w", err)
		}
		// Timed: a full copy (the hosts emptied again, so that the broadcast
		// does not find them current), then a run where nothing changed.
		fmt.Fprintln(stdout, "==> timed: the broadcast to emptied hosts, relay cached")
		if err := empty(); err != nil {
			return err
		}
		timed := func() (time.Duration, error) {
			began := time.Now()
			runErr = grifork("-f", *bfile)
			if ctx.Err() != nil || interrupted(runErr) {
				return 0, errInterrupted
			}
			return time.Since(began), nil
		}
		bcastTook, err := timed()
		if err != nil {
			return err
		}
		var currentTook time.Duration
		if runErr == nil {
			fmt.Fprintln(stdout, "==> timed: the broadcast again, nothing changed (each host reports current)")
			if currentTook, err = timed(); err != nil {
				return err
			}
		}
		if ok, err = verify(ctx, stdout, f, src); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d/%d hosts verified\n", ok, len(f.Hosts()))
		if *rate > 0 && runErr == nil {
			bound := time.Duration(float64(size*8) / float64(*rate*1_000_000) * float64(time.Second))
			fmt.Fprintf(stdout, "==> %.1f MB to %d hosts over %d Mbit/s links; one link needs %s (the bound)\n",
				float64(size)/1e6, len(f.Hosts()), *rate, bound.Round(10*time.Millisecond))
			fmt.Fprintf(stdout, "    rsync tree (branches 3):  %6.2fs  %5.1fx the bound\n", treeTook.Seconds(), treeTook.Seconds()/bound.Seconds())
			fmt.Fprintf(stdout, "    broadcast (a chain):      %6.2fs  %5.1fx the bound\n", bcastTook.Seconds(), bcastTook.Seconds()/bound.Seconds())
			fmt.Fprintf(stdout, "    broadcast, no change:     %6.2fs  %5.1fx the bound\n", currentTook.Seconds(), currentTook.Seconds()/bound.Seconds())
		}
	}
	if *keep {
		fmt.Fprintf(stdout, "==> the fleet stays up; try: ssh -F %s %s ls /srv/app\n    Ctrl-C tears it down\n", f.SSHConfigFile(), f.Hosts()[0])
		<-ctx.Done()
	}
	if ok != len(f.Hosts()) || runErr != nil {
		return exitCode(1)
	}
	return nil
}

func interrupted(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ee.ExitCode() == 130 || (ok && ws.Signaled() && (ws.Signal() == syscall.SIGINT || ws.Signal() == syscall.SIGTERM))
}

func exitStatus(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// manifestCmd prints one checksum over every file's path and content under $1.
const manifestCmd = `cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1`

func verify(ctx context.Context, w io.Writer, f *fleet.Fleet, src string) (int, error) {
	want, err := exec.CommandContext(ctx, "sh", "-c", manifestCmd, "sh", src).Output()
	if err != nil {
		return 0, fmt.Errorf("checksum of %s: %w", src, err)
	}
	fmt.Fprintf(w, "source  %s\n", strings.TrimSpace(string(want)))
	ok := 0
	for _, h := range f.Hosts() {
		got, err := f.Exec(ctx, h, "sh", "-c", manifestCmd, "sh", "/srv/app")
		switch {
		case err != nil:
			fmt.Fprintf(w, "host %s: FAILED: %v\n", h, err)
		case string(got) != string(want):
			fmt.Fprintf(w, "host %s: MISMATCH %s\n", h, strings.TrimSpace(string(got)))
		default:
			fmt.Fprintf(w, "host %s: verified\n", h)
			ok++
		}
	}
	return ok, nil
}

// makeApp writes a sample application (nested dirs, source-like text, binary
// assets) and returns its file count and size. The content is the same each run.
func makeApp(dir string) (files int, size int64, err error) {
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(rel string, data []byte) error {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		files++
		size += int64(len(data))
		return os.WriteFile(p, data, 0o644)
	}
	text := func(n int) []byte {
		var b strings.Builder
		for b.Len() < n {
			fmt.Fprintf(&b, "line %d: %x\n", b.Len(), rng.Uint64())
		}
		return []byte(b.String())
	}
	if err := write("README.md", []byte("# demo app\n\nShipped by grifork to /srv/app.\n")); err != nil {
		return 0, 0, err
	}
	if err := write("bin/app", append([]byte("#!/bin/sh\necho demo app\n"), text(2000)...)); err != nil {
		return 0, 0, err
	}
	for i := range 240 {
		rel := fmt.Sprintf("lib/mod%02d/pkg%d/file%03d.go", i%12, i%4, i)
		if err := write(rel, text(1000+rng.IntN(6000))); err != nil {
			return 0, 0, err
		}
	}
	for i := range 30 {
		if err := write(fmt.Sprintf("config/env%02d.yml", i), text(300)); err != nil {
			return 0, 0, err
		}
	}
	// One large asset: what makes a copy to a fleet slow.
	video := make([]byte, 32<<20)
	for j := range video {
		video[j] = byte(rng.Uint32())
	}
	if err := write("public/assets/intro.mp4", video); err != nil {
		return 0, 0, err
	}
	for i := range 12 {
		blob := make([]byte, 256*1024+rng.IntN(256*1024))
		for j := range blob {
			blob[j] = byte(rng.Uint32())
		}
		if err := write(fmt.Sprintf("public/assets/img/asset%02d.bin", i), blob); err != nil {
			return 0, 0, err
		}
	}
	return files, size, nil
}
