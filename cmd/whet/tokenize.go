package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/whetstone/whetstone/internal/tokenizer"
)

func init() {
	register(&command{name: "tokenize", summary: "encode stdin lines to token ids (or decode ids with --decode)", run: runTokenize})
	register(&command{name: "chat-template", summary: "render a conversation (JSON on stdin) with a model's chat template", run: runChatTemplate})
}

func runTokenize(ctx context.Context, args []string, sio stdio) error {
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	fs.SetOutput(sio.err)
	dir := fs.String("tokenizer", "", "model folder with tokenizer.json or tokenizer.model (required)")
	addSpecial := fs.Bool("add-special-tokens", false, "add the post-processor's special tokens (e.g. BOS)")
	decode := fs.Bool("decode", false, "read JSON arrays of ids and print the text of each")
	skipSpecial := fs.Bool("skip-special-tokens", false, "with --decode, leave out special tokens")
	asJSON := fs.Bool("json", false, "with --decode, print each text as a JSON string (one line even if it has newlines)")
	fs.Usage = func() {
		fmt.Fprintln(sio.err, "usage: whet tokenize --tokenizer DIR [--add-special-tokens] [--decode [--skip-special-tokens] [--json]] < input")
		fmt.Fprintln(sio.err, "Each input line is encoded (a JSON object with a \"text\" field uses that field) and printed as a JSON array of ids;")
		fmt.Fprintln(sio.err, "with --decode each line is a JSON array of ids and its text is printed (--json: as a JSON string).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		fs.Usage()
		return errors.New("tokenize: --tokenizer is required")
	}
	tok, err := tokenizer.Load(*dir)
	if err != nil {
		return err
	}
	in := bufio.NewReader(sio.in)
	out := bufio.NewWriter(sio.out)
	defer out.Flush()
	// Lines are read in blocks and encoded with EncodeBatch, so large inputs use every core.
	const block = 4096
	lineNo := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var lines []string
		for len(lines) < block {
			line, err := readLine(in)
			if errors.Is(err, errEOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("tokenize: read stdin: %w", err)
			}
			lines = append(lines, line)
		}
		if len(lines) == 0 {
			return nil
		}
		if *decode {
			for _, line := range lines {
				lineNo++
				var ids []int
				if err := json.Unmarshal([]byte(line), &ids); err != nil {
					return fmt.Errorf("tokenize: line %d: want a JSON array of ids: %w", lineNo, err)
				}
				text := tok.Decode(ids, *skipSpecial)
				if *asJSON {
					b, _ := json.Marshal(text)
					text = string(b)
				}
				out.WriteString(text)
				out.WriteByte('\n')
			}
			continue
		}
		texts := make([]string, len(lines))
		for i, line := range lines {
			texts[i] = line
			if strings.HasPrefix(strings.TrimSpace(line), "{") {
				var obj struct {
					Text *string `json:"text"`
				}
				if json.Unmarshal([]byte(line), &obj) == nil && obj.Text != nil {
					texts[i] = *obj.Text
				}
			}
		}
		for _, ids := range tok.EncodeBatch(texts, *addSpecial) {
			out.WriteByte('[')
			for i, id := range ids {
				if i > 0 {
					out.WriteByte(',')
				}
				out.WriteString(strconv.Itoa(id))
			}
			out.WriteString("]\n")
		}
		lineNo += len(lines)
	}
}

var errEOF = errors.New("eof")

// readLine returns the next line without its "\n" (and a "\r" before it); errEOF at the end.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errEOF
		}
		return "", err
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

func runChatTemplate(ctx context.Context, args []string, sio stdio) error {
	fs := flag.NewFlagSet("chat-template", flag.ContinueOnError)
	fs.SetOutput(sio.err)
	dir := fs.String("tokenizer", "", "model folder with tokenizer_config.json (required)")
	gen := fs.Bool("generation-prompt", false, "append the header of a new assistant turn")
	name := fs.String("template", "", "named template, when the model has several")
	fs.Usage = func() {
		fmt.Fprintln(sio.err, "usage: whet chat-template --tokenizer DIR [--generation-prompt] [--template NAME] < conversation.json")
		fmt.Fprintln(sio.err, "The conversation is a JSON array of messages or an object with \"messages\", optional \"tools\" and other template variables.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		fs.Usage()
		return errors.New("chat-template: --tokenizer is required")
	}
	tok, err := tokenizer.Load(*dir)
	if err != nil {
		// A folder may ship only tokenizer_config.json (the template) without tokenizer files.
		if tok, err = tokenizer.LoadTemplates(*dir); err != nil {
			return err
		}
	}
	b, err := io.ReadAll(sio.in)
	if err != nil {
		return fmt.Errorf("chat-template: read stdin: %w", err)
	}
	conv, err := tokenizer.ParseConversation(b)
	if err != nil {
		return err
	}
	text, err := tok.ApplyChatTemplate(conv.Messages, tokenizer.ChatOptions{AddGenerationPrompt: *gen, Tools: conv.Tools, Template: *name, Extra: conv.Extra})
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(sio.out, text)
	return err
}
