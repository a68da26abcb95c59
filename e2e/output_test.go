package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/core/output"
	"github.com/grifork/grifork/internal/testkit/fleet"
	"github.com/grifork/grifork/nodeset"
)

// Output volume (issue 17): hosts printing tens of MB each, to a regular file.
// Every line arrives, in order, with its bytes as printed (a carriage return
// too); a line without a newline comes in marked pieces; the root's peak
// memory stays under a bound that does not grow with the output, with -g too.
func TestOutputVolume(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	const hostCount = 8
	f := fleet.StartT(t, fleet.Options{Hosts: hostCount})
	hosts := f.Hosts()
	dir := t.TempDir()
	homeKnowsFleet(t, dir, f)
	run := func(t *testing.T, slowPipe bool, extra []string, command string) (stdout *os.File, stderr string, maxRSS int64) {
		t.Helper()
		args := append([]string{"exec", "-H", nodeset.Fold(hosts), "-l", "root", "-i", f.KeyFile()}, extra...)
		args = append(args, "--", command)
		return runToFile(t, dir, slowPipe, args...)
	}
	exec := func(t *testing.T, extra []string, command string) (stdout *os.File, stderr string, maxRSS int64) {
		t.Helper()
		return run(t, false, extra, command)
	}
	// 20 MB a host: 200,000 numbered lines of 100 bytes.
	const seqLines = 200_000
	pad := strings.Repeat("=", 92)
	seq := fmt.Sprintf("seq -w 1 %d | sed 's/$/ %s/'", seqLines, pad)
	// What the root may hold: the Go runtime, 8 SSH channels' windows, the
	// printer's queue, a gather's 4 MiB in memory, and what sh()/ssh() return
	// (1 MiB a command), with the collector's slack. Before the fix it was
	// several hundred MB and grew with the output.
	const rssBound = 128 << 20

	for _, slowPipe := range []bool{false, true} {
		name := "exec to a file: every line, bounded memory"
		if slowPipe {
			name = "exec to a slow pipe: every line, bounded memory"
		}
		t.Run(name, func(t *testing.T) { checkEveryLine(t, run, slowPipe, hosts, seq, pad, seqLines, rssBound) })
	}

	t.Run("exec -g to a file: one group, whole, bounded memory", func(t *testing.T) {
		out, _, rss := exec(t, []string{"-g"}, seq)
		head := fmt.Sprintf("%s (%d)", nodeset.Fold(hosts), hostCount)
		rule := strings.Repeat("-", len(head))
		i := 0
		forLines(t, out, func(line string) {
			i++
			want := rule
			switch {
			case i == 2:
				want = head
			case i > 3:
				want = fmt.Sprintf("%06d %s", i-3, pad)
			}
			if line != want {
				t.Fatalf("line %d of the gathered output is %.80q, want %.80q", i, line, want)
			}
		})
		if i != seqLines+3 {
			t.Errorf("%d lines gathered, want a group of every host with %d lines", i-3, seqLines)
		}
		checkRSS(t, rss, rssBound)
	})

	t.Run("one line of 20 MB without a newline, carriage returns kept", func(t *testing.T) {
		const size = 20_000_000
		out, _, rss := exec(t, nil, fmt.Sprintf(`printf 'crlf\r\n'; head -c %d /dev/zero | tr '\0' x`, size))
		type state struct {
			lines  int
			joined int // bytes of the long line
			cr     bool
		}
		got := map[string]*state{}
		for _, h := range hosts {
			got[h] = &state{}
		}
		forLines(t, out, func(line string) {
			host, text, cont := "", "", false
			if h, x, ok := strings.Cut(line, output.ContinueSep); ok && !strings.Contains(h, " ") {
				host, text, cont = h, x, true
			} else if h, x, ok := strings.Cut(line, output.LineSep); ok {
				host, text = h, x
			}
			s := got[host]
			if s == nil || len(text) > output.MaxLine {
				t.Fatalf("a bad line (%d bytes): %.80q", len(line), line)
			}
			switch {
			case text == "crlf\r":
				s.cr = true
			case strings.Trim(text, "x") != "":
				t.Fatalf("%s: a piece that is not the line's: %.80q", host, text)
			case !cont && s.joined != 0:
				t.Fatalf("%s: a piece after %d bytes is not marked as continuing", host, s.joined)
			default:
				s.joined += len(text)
			}
			s.lines++
		})
		for h, s := range got {
			if !s.cr || s.joined != size || s.lines < size/output.MaxLine {
				t.Errorf("%s: carriage return kept %v, %d of %d bytes of the line in %d pieces", h, s.cr, s.joined, size, s.lines)
			}
		}
		checkRSS(t, rss, rssBound)
	})
}

// checkEveryLine runs seq on every host and checks that each host's lines
// arrive, in order, and the root's peak RSS.
func checkEveryLine(t *testing.T, run func(*testing.T, bool, []string, string) (*os.File, string, int64), slowPipe bool, hosts []string, seq, pad string, seqLines int, rssBound int64) {
	out, stderr, rss := run(t, slowPipe, nil, seq)
	got := map[string]int{} // the last number seen of each host
	forLines(t, out, func(line string) {
		host, text, ok := strings.Cut(line, output.LineSep)
		if !ok {
			if got[""]++; got[""] < 5 {
				t.Errorf("a line without a host: %.80q", line)
			}
			return
		}
		n, err := strconv.Atoi(strings.TrimSuffix(text, " "+pad))
		if err != nil || n != got[host]+1 || len(text) != 99 {
			if got["!"]++; got["!"] < 5 {
				t.Errorf("%s: %.40q after line %d", host, text, got[host])
			}
			return
		}
		got[host] = n
	})
	for _, h := range hosts {
		if got[h] != seqLines {
			t.Errorf("%s: lines up to %d arrived in order, want %d", h, got[h], seqLines)
		}
	}
	if strings.Contains(stderr, "not shown") || strings.Contains(stderr, "dropped") {
		t.Errorf("output dropped: %s", stderr)
	}
	checkRSS(t, rss, rssBound)
}

// maxRSSEnv names the file where the test binary, started as maxRSSHelper,
// writes its child's peak RSS.
const maxRSSEnv = "GRIFORK_E2E_MAXRSS"

// maxRSSHelper runs os.Args[1:] with this process's standard streams and
// writes the child's peak RSS in KiB (ru_maxrss) to the file $GRIFORK_E2E_MAXRSS.
// It exists because Linux counts in a child's ru_maxrss the memory of the
// process that started it (Go starts children with CLONE_VM): measured from
// the test process, which holds other tests' data, the figure would be that
// of the test. This process is small.
func maxRSSHelper() int {
	cmd := osexec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, maxRSSEnv+"=") })
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	if werr := os.WriteFile(os.Getenv(maxRSSEnv), []byte(strconv.FormatInt(rss, 10)), 0o600); werr != nil {
		fmt.Fprintln(os.Stderr, werr)
		return 125
	}
	return cmd.ProcessState.ExitCode()
}

// runToFile runs grifork with its stdout on a regular file, as a user who
// redirects it, or with slowPipe on a pipe that a slow reader empties into the
// file, and returns that file (at its start), stderr and grifork's peak RSS in
// bytes. The run must succeed.
func runToFile(t *testing.T, dir string, slowPipe bool, args ...string) (*os.File, string, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	f, err := os.Create(filepath.Join(tmp, "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	rssFile := filepath.Join(tmp, "maxrss")
	cmd := osexec.CommandContext(ctx, os.Args[0], append([]string{griforkBin}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, maxRSSEnv+"="+rssFile)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = f, &stderr
	if slowPipe {
		cmd.Stdout = &slowWriter{w: f} // exec copies from a pipe into it
	}
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	size, _ := f.Seek(0, io.SeekCurrent)
	if _, serr := f.Seek(0, io.SeekStart); serr != nil {
		t.Fatal(serr)
	}
	b, rerr := os.ReadFile(rssFile)
	kib, perr := strconv.ParseInt(string(b), 10, 64)
	t.Logf("grifork %s: %v in %v, %d bytes of output, peak RSS %d MiB\n--- stderr\n%s", strings.Join(args, " "), cmd.ProcessState, took.Round(time.Millisecond), size, kib>>10, stderr.String())
	if err != nil {
		t.Fatalf("grifork: %v", err)
	}
	if rerr != nil || perr != nil {
		t.Fatalf("no peak RSS: %v %v", rerr, perr)
	}
	return f, stderr.String(), kib << 10
}

// forLines calls fn with every line of out up to the blank line before the
// run's summary, without its newline (a carriage return before it stays), and
// checks that the summary follows.
func forLines(t *testing.T, out io.Reader, fn func(string)) {
	t.Helper()
	r := bufio.NewReaderSize(out, 1<<20)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("the output ends without a summary: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			break
		}
		fn(line)
	}
	if summary, _ := r.ReadString('\n'); !strings.Contains(summary, " ok") {
		t.Errorf("no summary after the output: %q", summary)
	}
}

// slowWriter takes a millisecond over every write of at most 32 KiB: 32 MB/s
// at best, slower than the hosts print.
type slowWriter struct{ w io.Writer }

func (s *slowWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		time.Sleep(time.Millisecond)
		k, err := s.w.Write(b[:min(len(b), 32<<10)])
		n += k
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}

func checkRSS(t *testing.T, rss, bound int64) {
	t.Helper()
	if rss > bound {
		t.Errorf("peak RSS of the root %d MiB, want under %d MiB", rss>>20, bound>>20)
	}
}
