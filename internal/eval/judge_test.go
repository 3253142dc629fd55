package eval

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// chatServer is an OpenAI-compatible /v1/chat/completions endpoint for
// tests. fail(n) decides how the n-th request (from 1) is answered: status
// 0 replies with reply(request).
type chatServer struct {
	t     *testing.T
	calls atomic.Int32
	fail  func(n int, w http.ResponseWriter) bool
	reply func(req chatRequest) string
}

func (s *chatServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.calls.Add(1))
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer sk-test" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"message":"bad key","type":"invalid_request_error"}}`)
		return
	}
	if s.fail != nil && s.fail(n, w) {
		return
	}
	var req chatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "model": req.Model,
		"choices": []map[string]any{{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": s.reply(req)}}},
		"usage": map[string]int{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
	})
}

// gradeByOverlap is the test server's "model": it scores the candidate 10
// when it equals the reference and 2 otherwise, reading both from the
// user message, so a wrong prompt layout shows.
func gradeByOverlap(req chatRequest) string {
	u := req.Messages[len(req.Messages)-1].Content
	ref := between(u, "## Reference answer\n", "\n\n## Candidate answer")
	cand := between(u, "## Candidate answer\n", "\n\nRate")
	if ref == cand {
		return "```json\n{\"score\": 10, \"reason\": \"matches the reference\"}\n```"
	}
	return `{"score": 2, "reason": "differs"}`
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return "<missing>"
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return "<missing>"
	}
	return s[:j]
}

func newTestJudge(url string) *JudgeClient {
	c := NewJudgeClient(url+"/v1/", "sk-test", "judge-model")
	c.Backoff = 5 * time.Millisecond
	c.Timeout = 2 * time.Second
	return c
}

func TestJudgeClient(t *testing.T) {
	t.Parallel()
	t.Run("rates", func(t *testing.T) {
		t.Parallel()
		var seen chatRequest
		srv := &chatServer{t: t, reply: func(r chatRequest) string { seen = r; return gradeByOverlap(r) }}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		c := newTestJudge(ts.URL)
		v, err := c.Rate(t.Context(), JudgeInput{Prompt: "2+2?", Reference: "4", Output: "4"})
		if err != nil {
			t.Fatal(err)
		}
		if v.Score != 10 || v.Reason != "matches the reference" {
			t.Errorf("verdict %+v", v)
		}
		if seen.Model != "judge-model" || seen.Messages[0].Role != "system" || seen.Messages[0].Content != JudgeRubric || seen.Temperature != 0 {
			t.Errorf("request %+v", seen)
		}
		v, err = c.Rate(t.Context(), JudgeInput{Prompt: "2+2?", Reference: "4", Output: "5"})
		if err != nil || v.Score != 2 {
			t.Errorf("verdict %+v, %v", v, err)
		}
	})
	t.Run("retries 5xx and 429", func(t *testing.T) {
		t.Parallel()
		srv := &chatServer{t: t, reply: gradeByOverlap, fail: func(n int, w http.ResponseWriter) bool {
			switch n {
			case 1:
				http.Error(w, "overloaded", http.StatusServiceUnavailable)
			case 2:
				w.Header().Set("Retry-After", "0")
				http.Error(w, "slow down", http.StatusTooManyRequests)
			default:
				return false
			}
			return true
		}}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		v, err := newTestJudge(ts.URL).Rate(t.Context(), JudgeInput{Reference: "a", Output: "a"})
		if err != nil || v.Score != 10 || srv.calls.Load() != 3 {
			t.Errorf("verdict %+v, err %v after %d calls", v, err, srv.calls.Load())
		}
	})
	t.Run("no retry on 401", func(t *testing.T) {
		t.Parallel()
		srv := &chatServer{t: t, reply: gradeByOverlap}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		c := newTestJudge(ts.URL)
		c.Key = "wrong"
		_, err := c.Rate(t.Context(), JudgeInput{})
		if err == nil || !strings.Contains(err.Error(), "401") || srv.calls.Load() != 1 {
			t.Errorf("err %v after %d calls", err, srv.calls.Load())
		}
	})
	t.Run("timeout then give up", func(t *testing.T) {
		t.Parallel()
		srv := &chatServer{t: t, reply: gradeByOverlap, fail: func(n int, w http.ResponseWriter) bool {
			time.Sleep(300 * time.Millisecond)
			return false
		}}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		c := newTestJudge(ts.URL)
		c.Timeout = 50 * time.Millisecond
		c.Retries = 2
		start := time.Now()
		_, err := c.Rate(t.Context(), JudgeInput{})
		if err == nil || !strings.Contains(err.Error(), "3 attempts") {
			t.Errorf("err %v", err)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("took %v; per-attempt timeout not applied", time.Since(start))
		}
	})
	t.Run("unparseable reply", func(t *testing.T) {
		t.Parallel()
		srv := &chatServer{t: t, reply: func(chatRequest) string { return "I cannot grade this." }}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		if _, err := newTestJudge(ts.URL).Rate(t.Context(), JudgeInput{}); err == nil || !strings.Contains(err.Error(), "no score") {
			t.Errorf("err %v", err)
		}
	})
}

func TestParseVerdict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{`{"score": 7, "reason": "ok"}`, 7, false},
		{"Sure!\n```json\n{\"score\": 9.5, \"reason\": \"good\"}\n```", 9.5, false},
		{`Score: 4. The answer is partly right.`, 4, false},
		{`{"score": 0, "reason": "x"}`, 0, true},
		{`{"score": 11}`, 0, true},
		{`great answer`, 0, true},
	}
	for _, tt := range tests {
		v, err := ParseVerdict(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && v.Score != tt.want) {
			t.Errorf("ParseVerdict(%q) = %+v, %v", tt.in, v, err)
		}
	}
}

// TestEvaluateWithJudge runs Evaluate with the judge metric against the
// test endpoint.
func TestEvaluateWithJudge(t *testing.T) {
	t.Parallel()
	var inFlight, most atomic.Int32
	srv := &chatServer{t: t, reply: func(r chatRequest) string {
		if strings.Contains(r.Messages[1].Content, "Question 1:") { // this sample's judge call fails for good
			return "no verdict"
		}
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		return gradeByOverlap(r)
	}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	tok := newWordTok()
	rows := testRows()[:4]
	m := &fakeModel{tok: tok, answers: map[string]string{rows[0].Prompt: "red"}}
	e, err := Evaluate(t.Context(), m, tok, rows, Options{Metrics: []string{MetricJudge}, Samples: 4, Judge: newTestJudge(ts.URL), JudgeConcurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Warnings) != 1 || !strings.Contains(e.Warnings[0], "row 1: judge reply has no score") {
		t.Errorf("warnings %v", e.Warnings)
	}
	if most.Load() > 2 {
		t.Errorf("%d judge calls in flight, limit 2", most.Load())
	}
	// Row 0 right (10), row 1 failed (skipped), rows 2-3 wrong (2): mean 14/3.
	if !near(e.Results[MetricJudge], 14.0/3) {
		t.Errorf("judge mean %v, want %v", e.Results[MetricJudge], 14.0/3)
	}
	if e.Judge == nil || e.Judge.Model != "judge-model" {
		t.Errorf("judge settings %+v", e.Judge)
	}
	if _, err := json.Marshal(e); err != nil {
		t.Errorf("report with a failed judge call does not marshal: %v", err)
	}
}
