package export

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	datatemplate "github.com/whetstone/whetstone/internal/data/template"
	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/export/gguf"
	"github.com/whetstone/whetstone/internal/export/ollama"
	"github.com/whetstone/whetstone/internal/export/verify"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// ErrCheckFailed is wrapped by Run's error when an exported GGUF does not
// reproduce the model it came from; the message carries the numbers and
// Result.Checks all of them. Retrying does not help.
var ErrCheckFailed = errors.New("export check failed")

// DefaultCheckTokens is the number of greedy tokens replayed per prompt.
const DefaultCheckTokens = 24

// ggufCheck describes one written GGUF for checkGGUFs.
type ggufCheck struct {
	path, file, typ, modelfile string
}

// checkGGUFs loads each GGUF back into the engine and replays held-out
// prompts against the model it came from (o.Model plus o.Adapter,
// unmerged), and renders the chat template of the GGUF and its Modelfile
// against the training prompt.
func checkGGUFs(ctx context.Context, o *Options, family ollama.Family, trainTemplate, eos string, files []ggufCheck) ([]verify.Check, error) {
	ref, err := model.Load(o.Model)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	if o.Adapter != "" {
		if _, err := ref.LoadAdapter(o.Adapter); err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
	}
	tok, err := tokenizer.Load(o.Model)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	kind := datatemplate.Chat
	var chat datatemplate.ChatTemplater = tok
	switch {
	case family == ollama.Alpaca:
		kind, chat = datatemplate.Alpaca, nil
	case family == ollama.Raw:
		kind, chat = datatemplate.None, nil
	case !tok.HasChatTemplate():
		bos := ""
		if id, ok := tok.BOS(); ok {
			bos = tok.Token(id)
		}
		chat = tokenizer.NewTemplate(trainTemplate, bos, eos)
	}
	texts := o.CheckPrompts
	if len(texts) == 0 {
		if texts, err = verify.Prompts(kind, chat, verify.HeldOut); err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
	}
	var prompts [][]int32
	for _, s := range texts {
		var ids []int32
		for _, id := range tok.Encode(s, true) {
			ids = append(ids, int32(id))
		}
		if len(ids) > 0 {
			prompts = append(prompts, ids)
		}
	}
	n := o.CheckTokens
	if n <= 0 {
		n = DefaultCheckTokens
	}
	vr, err := verify.NewReference(ctx, ref, prompts, n)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	var checks []verify.Check
	var failed []string
	for _, g := range files {
		c, err := verify.GGUF(ctx, vr, g.path, g.file, g.typ)
		if err != nil {
			return checks, err
		}
		b, err := os.ReadFile(g.modelfile)
		if err != nil {
			return checks, fmt.Errorf("check: %w", err)
		}
		mf, err := ollama.Parse(string(b))
		if err != nil {
			return checks, fmt.Errorf("check %s: %w", filepath.Base(g.modelfile), err)
		}
		f, err := gguf.Open(g.path)
		if err != nil {
			return checks, fmt.Errorf("check: %w", err)
		}
		c.Template = verify.Templates(&verify.TemplateParams{Kind: kind, Chat: chat, EOS: eos, Family: family, GGUF: f, Modelfile: mf})
		f.Close()
		if !c.Template.Passed {
			c.Passed = false
		}
		checks = append(checks, *c)
		if !c.Passed {
			failed = append(failed, c.Error())
		}
	}
	if len(failed) > 0 {
		return checks, fmt.Errorf("%w: %s", ErrCheckFailed, strings.Join(failed, "; "))
	}
	return checks, nil
}
