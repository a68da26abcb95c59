package lines

import (
	"bytes"
	"testing"
)

// A Writer holds at most about one Max of a line however long it
// grows: a 10 MiB stream without a newline is emitted as it comes.
func TestWriterHoldsLittle(t *testing.T) {
	t.Parallel()
	var pieces, bytesOut int
	w := New(func(s string) { pieces++; bytesOut += len(s) })
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	for range 320 {
		w.Write(chunk)
		if held := len(w.buf); held > Max+len(chunk) {
			t.Fatalf("the writer holds %d bytes", held)
		}
	}
	w.Close()
	if bytesOut != 320*len(chunk) || pieces != 320*len(chunk)/Max {
		t.Errorf("%d pieces, %d bytes", pieces, bytesOut)
	}
}
