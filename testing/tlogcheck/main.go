// tlogcheck reads a Dalel log published as C2SP tlog-tiles with golang.org/x/mod/sumdb
// (Go's own checksum-database code, not Dalel's): it verifies the checkpoint's signed note
// with the log's verifier key, then, for every entry of the log file, that the tiles hold its
// record hash and that an inclusion proof made from the tiles checks against the root.
//
//	tlogcheck DIR VERIFIER_KEY CUSTODY_LOG
//
// Prints "ok N" (N entries checked) or the first disagreement, and exits 1.
package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// dirTiles reads tiles from a folder; the sumdb path tile/H/L/N is tlog-tiles' tile/L/N.
type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return 8 }

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := strings.Replace(t.Path(), "tile/8/", "tile/", 1)
		data, err := os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (d dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: tlogcheck DIR VERIFIER_KEY CUSTODY_LOG")
	}
	dir, vkey, logPath := os.Args[1], os.Args[2], os.Args[3]
	msg, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		fail("verifier key: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		fail("checkpoint body: %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		fail("checkpoint root: %q", lines[2])
	}
	tree := tlog.Tree{N: size}
	copy(tree.Hash[:], root)
	hr := tlog.TileHashReader(tree, dirTiles{dir})

	f, err := os.Open(logPath)
	if err != nil {
		fail("log: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var i int64
	for ; i < size && sc.Scan(); i++ {
		leaf := tlog.RecordHash(sc.Bytes())
		got, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
		if err != nil {
			fail("leaf %d: %v", i, err)
		}
		if got[0] != leaf {
			fail("leaf %d: the tiles hold %x, the log's entry hashes to %x", i, got[0], leaf)
		}
		proof, err := tlog.ProveRecord(size, i, hr)
		if err != nil {
			fail("proof %d: %v", i, err)
		}
		if err := tlog.CheckRecord(proof, size, tree.Hash, i, leaf); err != nil {
			fail("proof %d: %v", i, err)
		}
	}
	if i != size {
		fail("the log has %d entries, the checkpoint %d", i, size)
	}
	fmt.Printf("ok %d\n", size)
}
