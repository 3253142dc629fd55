package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
)

// CacheKey hashes what determines a node's outputs: its agent, its params
// (with defaults applied, canonical JSON) and the content of its inputs
// (inputHashes, in edge order), plus any extra facts (such as the size and
// modification time of local files the params name).
func CacheKey(agentName string, params map[string]any, inputHashes []string, extra ...string) string {
	h := sha256.New()
	io.WriteString(h, "whet-cache-v1\x00"+agentName+"\x00")
	b, _ := json.Marshal(params) // map keys are sorted: canonical
	h.Write(b)
	for _, s := range inputHashes {
		io.WriteString(h, "\x00in:"+s)
	}
	for _, s := range extra {
		io.WriteString(h, "\x00x:"+s)
	}
	return hex.EncodeToString(h.Sum(nil))
}
