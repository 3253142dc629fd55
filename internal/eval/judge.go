package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// JudgeRubric is the system prompt of the LLM judge.
const JudgeRubric = `You are a strict, fair grader of a language model's answers.
You see a task prompt, a reference answer and a candidate answer. Rate the candidate on a 1 to 10 scale:
10 = fully correct and complete, as good as or better than the reference;
7-9 = correct with minor omissions or wording problems;
4-6 = partly correct, or correct but with notable errors or irrelevant content;
2-3 = mostly wrong, but related to the task;
1 = wrong, empty, off-topic or harmful.
Judge meaning, not wording: a correct answer phrased differently from the reference deserves a high score.
Reply with only a JSON object: {"score": <integer 1-10>, "reason": "<one short sentence>"}`

// JudgeClient rates outputs with a chat model behind any OpenAI-compatible
// endpoint (POST {URL}/chat/completions). Create it with NewJudgeClient;
// the zero value is not usable.
type JudgeClient struct {
	// URL is the API base, e.g. https://api.openai.com/v1 or
	// http://localhost:8000/v1. A URL that already ends in
	// /chat/completions is used as is.
	URL string
	// Key is sent as a bearer token when not empty.
	Key   string
	Model string
	// HTTP is the client used. Defaults to http.DefaultClient's transport.
	HTTP *http.Client
	// Timeout bounds each attempt. Defaults to 60 seconds.
	Timeout time.Duration
	// Retries is how many times a failed attempt (network error, timeout,
	// 408, 429 or 5xx) is retried. Defaults to 3.
	Retries int
	// Backoff is the wait before the first retry, doubled each time, unless
	// the server sends Retry-After. Defaults to 1 second.
	Backoff time.Duration
	// Rubric is the system prompt. Defaults to JudgeRubric.
	Rubric string
}

var _ Judge = (*JudgeClient)(nil)

// NewJudgeClient returns a client with the defaults above.
func NewJudgeClient(url, key, model string) *JudgeClient {
	return &JudgeClient{URL: url, Key: key, Model: model, HTTP: &http.Client{},
		Timeout: 60 * time.Second, Retries: 3, Backoff: time.Second, Rubric: JudgeRubric}
}

// Settings implements Judge.
func (c *JudgeClient) Settings() JudgeSettings { return JudgeSettings{URL: c.URL, Model: c.Model} }

func (c *JudgeClient) endpoint() string {
	u := strings.TrimRight(c.URL, "/")
	if strings.HasSuffix(u, "/chat/completions") {
		return u
	}
	return u + "/chat/completions"
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	Temperature float64       `json:"temperature"`
	MaxTokens   int           `json:"max_tokens"`
}

type chatResponse struct {
	Choices []struct {
		Message chatMessage `json:"message"`
	} `json:"choices"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// httpStatusError is a non-2xx answer.
type httpStatusError struct {
	Status     int
	Body       string
	RetryAfter time.Duration
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("judge endpoint answered %d: %s", e.Status, e.Body)
}

func (e *httpStatusError) retryable() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// Rate implements Judge: it sends the rubric and the sample, and parses the
// score from the reply. Transient failures are retried; a reply without a
// score in 1–10 is an error.
func (c *JudgeClient) Rate(ctx context.Context, in JudgeInput) (Verdict, error) {
	user := fmt.Sprintf("## Task prompt\n%s\n\n## Reference answer\n%s\n\n## Candidate answer\n%s\n\nRate the candidate answer.",
		in.Prompt, in.Reference, in.Output)
	req := chatRequest{Model: c.Model, Temperature: 0, MaxTokens: 200, Messages: []chatMessage{
		{Role: "system", Content: cmpOrStr(c.Rubric, JudgeRubric)},
		{Role: "user", Content: user},
	}}
	body, err := json.Marshal(req)
	if err != nil {
		return Verdict{}, err
	}
	backoff := c.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	var lastErr error
	for attempt := 0; attempt <= max(c.Retries, 0); attempt++ {
		if attempt > 0 {
			wait := backoff << (attempt - 1)
			var se *httpStatusError
			if errors.As(lastErr, &se) && se.RetryAfter > 0 {
				wait = se.RetryAfter
			}
			select {
			case <-ctx.Done():
				return Verdict{}, ctx.Err()
			case <-time.After(wait):
			}
		}
		content, err := c.post(ctx, body)
		if err == nil {
			return ParseVerdict(content)
		}
		lastErr = err
		if ctx.Err() != nil {
			return Verdict{}, ctx.Err()
		}
		var se *httpStatusError
		if errors.As(err, &se) && !se.retryable() {
			return Verdict{}, err
		}
	}
	return Verdict{}, fmt.Errorf("judge: %d attempts failed: %w", max(c.Retries, 0)+1, lastErr)
}

func (c *JudgeClient) post(ctx context.Context, body []byte) (string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(), bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("judge request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("judge request: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", fmt.Errorf("judge response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		se := &httpStatusError{Status: resp.StatusCode, Body: truncate(string(b), 300)}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			se.RetryAfter = min(time.Duration(s)*time.Second, time.Minute)
		}
		return "", se
	}
	var cr chatResponse
	if err := json.Unmarshal(b, &cr); err != nil {
		return "", fmt.Errorf("judge response is not chat-completion JSON: %w", err)
	}
	if cr.Error != nil {
		return "", fmt.Errorf("judge endpoint error: %s", cr.Error.Message)
	}
	if len(cr.Choices) == 0 {
		return "", fmt.Errorf("judge response has no choices")
	}
	return cr.Choices[0].Message.Content, nil
}

var (
	jsonObject = regexp.MustCompile(`(?s)\{.*\}`)
	scoreText  = regexp.MustCompile(`(?i)score["']?\s*[:=]?\s*(\d+(?:\.\d+)?)`)
)

// ParseVerdict reads a judge reply: a JSON object {"score", "reason"},
// possibly inside a code fence or prose, else text such as "Score: 7". The
// score must be within 1–10.
func ParseVerdict(content string) (Verdict, error) {
	var v struct {
		Score  json.Number `json:"score"`
		Reason string      `json:"reason"`
	}
	var score float64
	found := false
	if m := jsonObject.FindString(content); m != "" && json.Unmarshal([]byte(m), &v) == nil && v.Score != "" {
		if f, err := v.Score.Float64(); err == nil {
			score, found = f, true
		}
	}
	if !found {
		if m := scoreText.FindStringSubmatch(content); m != nil {
			score, _ = strconv.ParseFloat(m[1], 64)
			found = true
			v.Reason = strings.TrimSpace(content)
		}
	}
	if !found {
		return Verdict{}, fmt.Errorf("judge reply has no score: %q", truncate(content, 200))
	}
	if score < 1 || score > 10 {
		return Verdict{}, fmt.Errorf("judge score %v outside 1–10", score)
	}
	return Verdict{Score: score, Reason: truncate(v.Reason, 500)}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func cmpOrStr(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
