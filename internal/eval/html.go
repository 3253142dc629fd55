package eval

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"path/filepath"
	"strings"
)

// WriteHTML renders c as one self-contained HTML page: inline CSS and inline
// SVG charts (training loss curve, metric bars with CI whiskers, delta
// forest plot, win/tie/loss bars), the contamination check (or that it was
// not made) and the side-by-side sample outputs with a word diff. The page
// loads nothing from the network and has no scripts.
func WriteHTML(w io.Writer, c *Comparison) error {
	data := struct {
		C        *Comparison
		Loss     template.HTML
		Bars     template.HTML
		Deltas   template.HTML
		WTL      template.HTML
		Samples  []htmlSample
		Changes  []*ExampleChanges
		Pct      string
		Verdict  string
		Improved bool
		// Contam is the contamination check in words (nil: not made).
		Contam *htmlContamination
	}{C: c, Pct: fmt.Sprintf("%g%%", 100*c.Confidence)}
	data.Loss = lossCurveSVG(c.History)
	data.Bars = metricBarsSVG(c.Metrics)
	data.Deltas = deltaSVG(c.Metrics)
	data.WTL = winTieLossSVG(c.Metrics)
	if k := c.Contamination; k != nil {
		data.Contam = &htmlContamination{K: k, TrainFile: filepath.Base(k.TrainFile), EvalFile: filepath.Base(k.EvalFile)}
		if k.TrainRows > 0 {
			data.Contam.Share = fmt.Sprintf("%.1f %%", 100*float64(k.Rows)/float64(k.TrainRows))
		}
	}
	for _, ex := range []*ExampleChanges{c.Examples, c.ExamplesLoss} {
		if ex != nil {
			data.Changes = append(data.Changes, ex)
		}
	}
	for _, s := range c.Samples {
		s.Prompt, s.Reference = visible(s.Prompt), visible(s.Reference)
		s.BaseOutput, s.TunedOutput = visible(s.BaseOutput), visible(s.TunedOutput)
		b, t := wordDiff(s.BaseOutput, s.TunedOutput)
		data.Samples = append(data.Samples, htmlSample{S: s, Base: b, Tuned: t,
			Scores: scoreLine(c, s)})
	}
	for _, m := range c.Metrics {
		if m.Name == c.Primary {
			data.Improved = m.Improved
			sig := "the interval includes 0, so the difference is not significant"
			switch {
			case m.Significant && m.Improved:
				sig = "a significant improvement"
			case m.Significant:
				sig = "a significant regression"
			}
			data.Verdict = fmt.Sprintf("On %s the fine-tuned model scores %s against the base model's %s (Δ %s, %s CI [%s, %s]: %s); it wins %d, ties %d and loses %d of %d.",
				m.Name, num(m.Tuned.Estimate), num(m.Base.Estimate), signed(m.Delta.Estimate), data.Pct,
				signed(m.Delta.Lo), signed(m.Delta.Hi), sig, m.Wins, m.Ties, m.Losses, m.Units)
		}
	}
	return page.Execute(w, data)
}

// htmlContamination is the contamination check as the page writes it: file
// names without their server folders, the contaminated share of the
// training rows.
type htmlContamination struct {
	K                   *Contamination
	TrainFile, EvalFile string
	Share               string
}

type htmlSample struct {
	S           SampleComparison
	Base, Tuned template.HTML
	Scores      string
}

// visible replaces control characters other than tab and newline (which
// models do emit, from byte-fallback tokens) with their Unicode control
// pictures, so the page stays valid and shows them.
func visible(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n':
			return r
		case r < 0x20:
			return 0x2400 + r
		case r == 0x7f:
			return 0x2421
		case r >= 0x80 && r < 0xa0, r == 0xfffe, r == 0xffff:
			return 0xfffd
		}
		return r
	}, s)
}

func scoreLine(c *Comparison, s SampleComparison) string {
	var parts []string
	for _, m := range c.Metrics {
		if !IsGenerationMetric(m.Name) {
			continue
		}
		b, okb := s.BaseScores[m.Name]
		t, okt := s.TunedScores[m.Name]
		if okb && okt {
			parts = append(parts, fmt.Sprintf("%s %.3g → %.3g", m.Name, b, t))
		}
	}
	return strings.Join(parts, " · ")
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.4f", v)
}

func signed(v float64) string {
	if v >= 0 {
		return "+" + num(v)
	}
	return num(v)
}

// wordDiff marks the words of a that b lacks (<del>) and the words of b
// that a lacks (<ins>), from a longest common subsequence of words.
func wordDiff(a, b string) (template.HTML, template.HTML) {
	wa, wb := strings.Fields(a), strings.Fields(b)
	// Outputs are at most a few hundred words; cap the table anyway.
	if len(wa)*len(wb) > 4_000_000 {
		return template.HTML(template.HTMLEscapeString(a)), template.HTML(template.HTMLEscapeString(b))
	}
	n, m := len(wa), len(wb)
	dp := make([][]int32, n+1)
	for i := range dp {
		dp[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if wa[i] == wb[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	var oa, ob strings.Builder
	word := func(sb *strings.Builder, w, tag string) {
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		if tag != "" {
			sb.WriteString("<" + tag + ">")
		}
		sb.WriteString(template.HTMLEscapeString(w))
		if tag != "" {
			sb.WriteString("</" + tag + ">")
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && wa[i] == wb[j]:
			word(&oa, wa[i], "")
			word(&ob, wb[j], "")
			i++
			j++
		case j < m && (i == n || dp[i][j+1] >= dp[i+1][j]):
			word(&ob, wb[j], "ins")
			j++
		default:
			word(&oa, wa[i], "del")
			i++
		}
	}
	return template.HTML(oa.String()), template.HTML(ob.String())
}

const (
	colBase  = "#8a94a6"
	colTuned = "#2f6fde"
	colGood  = "#2e9d5b"
	colBad   = "#d2453d"
	colTie   = "#c9ced8"
)

func svgOpen(sb *strings.Builder, w, h int, label string) {
	fmt.Fprintf(sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" style="max-width: 100%%; height: auto" role="img" aria-label="%s">`,
		w, h, w, h, template.HTMLEscapeString(label))
}

func text(sb *strings.Builder, x, y float64, anchor, class, s string) {
	fmt.Fprintf(sb, `<text x="%.1f" y="%.1f" text-anchor="%s" class="%s">%s</text>`, x, y, anchor, class, template.HTMLEscapeString(s))
}

// tickLabel formats an axis value without trailing zeros or "-0".
func tickLabel(v float64) string {
	if math.Abs(v) < 1e-9 {
		return "0"
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) {
		return []float64{lo}
	}
	step := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(step)))
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		if f*mag >= step {
			step = f * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

func lossCurveSVG(h []HistoryPoint) template.HTML {
	if len(h) == 0 {
		return template.HTML(`<p class="note">No training history was found next to the fine-tuned model.</p>`)
	}
	const W, H, L, R, T, B = 720, 260, 56, 16, 16, 40
	minS, maxS := h[0].Step, h[0].Step
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range h {
		minS, maxS = min(minS, p.Step), max(maxS, p.Step)
		for _, v := range []*float64{p.Loss, p.EvalLoss} {
			if v != nil && !math.IsNaN(*v) && !math.IsInf(*v, 0) {
				lo, hi = min(lo, *v), max(hi, *v)
			}
		}
	}
	if math.IsInf(lo, 0) {
		return template.HTML(`<p class="note">The training history has no loss values.</p>`)
	}
	if hi == lo {
		hi, lo = hi+0.5, lo-0.5
	}
	pad := (hi - lo) * 0.05
	lo, hi = lo-pad, hi+pad
	if maxS == minS {
		maxS = minS + 1
	}
	x := func(s int) float64 { return L + float64(s-minS)/float64(maxS-minS)*(W-L-R) }
	y := func(v float64) float64 { return T + (hi-v)/(hi-lo)*(H-T-B) }
	var sb strings.Builder
	svgOpen(&sb, W, H, "training loss by step")
	for _, v := range niceTicks(lo, hi, 5) {
		fmt.Fprintf(&sb, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, L, W-R, y(v), y(v))
		text(&sb, L-6, y(v)+4, "end", "tick", tickLabel(v))
	}
	for _, v := range niceTicks(float64(minS), float64(maxS), min(6, maxS-minS)) {
		xv := L + (v-float64(minS))/float64(maxS-minS)*(W-L-R)
		text(&sb, xv, H-B+16, "middle", "tick", fmt.Sprintf("%.0f", v))
	}
	text(&sb, (L+W-R)/2, H-6, "middle", "axis", "step")
	fmt.Fprintf(&sb, `<line x1="%d" x2="%d" y1="%d" y2="%d" class="axis"/>`, L, W-R, H-B, H-B)
	var pts []string
	for _, p := range h {
		if p.Loss != nil && !math.IsNaN(*p.Loss) && !math.IsInf(*p.Loss, 0) {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.Step), y(*p.Loss)))
		}
	}
	if len(pts) > 0 {
		fmt.Fprintf(&sb, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.6"/>`, strings.Join(pts, " "), colTuned)
	}
	evals := 0
	for _, p := range h {
		if p.EvalLoss != nil && !math.IsNaN(*p.EvalLoss) && !math.IsInf(*p.EvalLoss, 0) {
			fmt.Fprintf(&sb, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`, x(p.Step), y(*p.EvalLoss), colBad)
			evals++
		}
	}
	fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="10" height="3" fill="%s"/>`, W-R-170, T+4, colTuned)
	text(&sb, W-R-154, T+9, "start", "tick", "training loss")
	if evals > 0 {
		fmt.Fprintf(&sb, `<circle cx="%d" cy="%d" r="3.5" fill="%s"/>`, W-R-165, T+22, colBad)
		text(&sb, W-R-154, T+26, "start", "tick", "validation loss")
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

// metricBarsSVG draws one panel per metric: base and tuned bars with their
// CI whiskers, on a scale from 0.
func metricBarsSVG(ms []MetricComparison) template.HTML {
	if len(ms) == 0 {
		return ""
	}
	const PW, H, T, B = 132, 210, 24, 44
	W := PW * len(ms)
	var sb strings.Builder
	svgOpen(&sb, W, H, "metric values with confidence intervals")
	for k, m := range ms {
		x0 := float64(k * PW)
		top := 0.0
		for _, v := range []float64{m.Base.Hi, m.Tuned.Hi, m.Base.Estimate, m.Tuned.Estimate} {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				top = max(top, v)
			}
		}
		if top <= 0 {
			top = 1
		}
		top *= 1.1
		y := func(v float64) float64 { return T + (1-v/top)*(H-T-B) }
		text(&sb, x0+PW/2, 14, "middle", "axis", m.Name)
		fmt.Fprintf(&sb, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" class="axis"/>`, x0+14, x0+PW-14, H-B, H-B)
		for j, side := range []struct {
			ci    CI
			col   string
			label string
		}{{m.Base, colBase, "base"}, {m.Tuned, colTuned, "tuned"}} {
			bx := x0 + 20 + float64(j)*50
			v := side.ci.Estimate
			if !math.IsNaN(v) {
				v = max(v, 0)
				fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="40" height="%.1f" fill="%s"/>`, bx, y(v), float64(H-B)-y(v), side.col)
				text(&sb, bx+20, y(v)-4-whiskerGap(side.ci, y), "middle", "val", num(side.ci.Estimate))
			}
			if !math.IsNaN(side.ci.Lo) && !math.IsNaN(side.ci.Hi) {
				cx := bx + 20
				fmt.Fprintf(&sb, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="whisker"/>`, cx, cx, y(side.ci.Lo), y(side.ci.Hi))
				for _, e := range []float64{side.ci.Lo, side.ci.Hi} {
					fmt.Fprintf(&sb, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="whisker"/>`, cx-6, cx+6, y(e), y(e))
				}
			}
			text(&sb, bx+20, H-B+16, "middle", "tick", side.label)
		}
		arrow := "higher is better"
		if m.LowerIsBetter {
			arrow = "lower is better"
		}
		text(&sb, x0+PW/2, H-8, "middle", "tick", arrow)
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

// whiskerGap lifts a value label above the CI whisker when it reaches above
// the bar.
func whiskerGap(ci CI, y func(float64) float64) float64 {
	if math.IsNaN(ci.Hi) || ci.Hi <= ci.Estimate {
		return 0
	}
	return y(ci.Estimate) - y(ci.Hi)
}

// deltaSVG is a forest plot: per metric, the delta with its CI against a
// zero line, each row on its own symmetric scale.
func deltaSVG(ms []MetricComparison) template.HTML {
	if len(ms) == 0 {
		return ""
	}
	const W, RH, L, R = 720, 34, 120, 220
	H := RH*len(ms) + 10
	var sb strings.Builder
	svgOpen(&sb, W, H, "metric deltas with confidence intervals")
	mid := float64(L+W-R) / 2
	fmt.Fprintf(&sb, `<line x1="%.1f" x2="%.1f" y1="0" y2="%d" class="zero"/>`, mid, mid, H)
	for k, m := range ms {
		yc := float64(k*RH + RH/2 + 4)
		text(&sb, L-10, yc+4, "end", "axis", m.Name)
		d := m.Delta
		span := 0.0
		for _, v := range []float64{d.Lo, d.Hi, d.Estimate} {
			if !math.IsNaN(v) {
				span = max(span, math.Abs(v))
			}
		}
		if span == 0 {
			span = 1
		}
		span *= 1.15
		x := func(v float64) float64 { return mid + v/span*float64(W-R-L)/2 }
		col := colTie
		good := (d.Estimate < 0) == m.LowerIsBetter
		if m.Significant {
			col = colBad
			if good {
				col = colGood
			}
		}
		if !math.IsNaN(d.Lo) && !math.IsNaN(d.Hi) {
			fmt.Fprintf(&sb, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`, x(d.Lo), x(d.Hi), yc, yc, col)
		}
		if !math.IsNaN(d.Estimate) {
			fmt.Fprintf(&sb, `<circle cx="%.1f" cy="%.1f" r="5" fill="%s" stroke="#222" stroke-width="0.8"/>`, x(d.Estimate), yc, col)
		}
		text(&sb, float64(W-R+10), yc+4, "start", "tick", fmt.Sprintf("Δ %s [%s, %s]", signed(d.Estimate), signed(d.Lo), signed(d.Hi)))
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

// winTieLossSVG draws one stacked bar per metric.
func winTieLossSVG(ms []MetricComparison) template.HTML {
	if len(ms) == 0 {
		return ""
	}
	const W, RH, L, R = 720, 28, 120, 150
	H := RH*len(ms) + 24
	var sb strings.Builder
	svgOpen(&sb, W, H, "per-unit wins, ties and losses of the fine-tuned model")
	for k, m := range ms {
		yc := float64(k*RH + 4)
		text(&sb, L-10, yc+15, "end", "axis", m.Name)
		total := m.Wins + m.Ties + m.Losses
		if total == 0 {
			continue
		}
		x := float64(L)
		for _, part := range []struct {
			n   int
			col string
		}{{m.Wins, colGood}, {m.Ties, colTie}, {m.Losses, colBad}} {
			w := float64(part.n) / float64(total) * float64(W-L-R)
			if w > 0 {
				fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="%.1f" height="20" fill="%s"/>`, x, yc, w, part.col)
				if w > 22 {
					text(&sb, x+w/2, yc+14, "middle", "bar", fmt.Sprint(part.n))
				}
			}
			x += w
		}
		text(&sb, float64(W-R+10), yc+15, "start", "tick", fmt.Sprintf("%d / %d / %d", m.Wins, m.Ties, m.Losses))
	}
	ly := float64(H - 8)
	for i, lg := range []struct{ s, col string }{{"win", colGood}, {"tie", colTie}, {"loss", colBad}} {
		lx := float64(L + i*80)
		fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/>`, lx, ly-9, lg.col)
		text(&sb, lx+14, ly, "start", "tick", lg.s)
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

var page = template.Must(template.New("comparison").Funcs(template.FuncMap{
	"pct": func(x float64) float64 { return 100 * x },
	"num": num, "signed": signed, "name": DisplayPath,
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>Whetstone comparison: fine-tuned vs base</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; margin: 0; background: #f5f6f8; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 16px 20px; margin-bottom: 18px; overflow-x: auto; }
.sub { color: #5b6478; margin: 0 0 14px; }
.verdict { font-size: 15px; padding: 10px 14px; border-radius: 6px; background: #eef3fd; border-left: 4px solid #2f6fde; }
.verdict.worse { background: #fdf0ef; border-left-color: #d2453d; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #e6e9ef; padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: #f0f2f6; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.good { color: #2e9d5b; font-weight: 600; }
.bad { color: #d2453d; font-weight: 600; }
.note { color: #5b6478; font-style: italic; }
svg text.tick { font-size: 11px; fill: #5b6478; }
svg text.axis { font-size: 12px; fill: #1d2330; font-weight: 600; }
svg text.val { font-size: 11px; fill: #1d2330; }
svg text.bar { font-size: 11px; fill: #fff; font-weight: 600; }
svg line.grid { stroke: #e6e9ef; }
svg line.axis { stroke: #5b6478; }
svg line.zero { stroke: #5b6478; stroke-dasharray: 4 3; }
svg line.whisker { stroke: #1d2330; stroke-width: 1.2; }
.sample { border: 1px solid #e6e9ef; border-radius: 6px; margin: 12px 0; }
.sample header { display: flex; gap: 12px; align-items: center; padding: 6px 10px; background: #f7f8fa; border-bottom: 1px solid #e6e9ef; font-size: 13px; }
.badge { padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 12px; font-weight: 600; }
.badge.win { background: #2e9d5b; } .badge.tie { background: #8a94a6; } .badge.loss { background: #d2453d; }
.cols { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); }
.cols > div { padding: 8px 10px; white-space: pre-wrap; word-wrap: break-word; }
.cols > div + div { border-left: 1px solid #e6e9ef; }
.label { display: block; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: #5b6478; margin-bottom: 3px; }
.prompt { background: #fbfbfc; border-bottom: 1px solid #e6e9ef; }
del { background: #fbe1df; color: #8c1d16; text-decoration: line-through; }
ins { background: #dcf3e4; color: #135c31; text-decoration: none; }
code { font-size: 12px; word-break: break-all; }
</style>
</head>
<body>
<main>
<h1>Fine-tuned vs base model</h1>
<p class="sub">{{len .C.Samples}} samples · {{.C.Bootstrap}} bootstrap resamples · {{.Pct}} confidence · seed {{.C.Seed}}</p>
{{if .Verdict}}<p class="verdict{{if not .Improved}} worse{{end}}">{{.Verdict}}</p>{{end}}
<section>
<table>
<tr><th>model</th><th>folder</th></tr>
<tr><td>base</td><td><code>{{name .C.Base.Model.Path}}</code></td></tr>
<tr><td>fine-tuned</td><td><code>{{name .C.Tuned.Model.Path}}</code></td></tr>
<tr><td>data</td><td><code>{{name .C.Tuned.Dataset.File}}</code> ({{.C.Tuned.Dataset.Rows}} rows)</td></tr>
</table>
</section>

<h2>Metrics</h2>
<section>
<table>
<tr><th>metric</th><th>base</th><th>fine-tuned</th><th>Δ</th><th>{{.Pct}} CI of Δ</th><th>win / tie / loss</th><th>units</th></tr>
{{range .C.Metrics}}<tr><td>{{.Name}}{{if .LowerIsBetter}} ↓{{else}} ↑{{end}}</td><td class="n">{{num .Base.Estimate}}</td><td class="n">{{num .Tuned.Estimate}}</td><td class="n {{if .Significant}}{{if .Improved}}good{{else}}bad{{end}}{{end}}">{{signed .Delta.Estimate}}</td><td class="n">[{{signed .Delta.Lo}}, {{signed .Delta.Hi}}]</td><td class="n">{{.Wins}} / {{.Ties}} / {{.Losses}}</td><td class="n">{{.Units}}</td></tr>
{{end}}</table>
<p class="note">Δ is fine-tuned minus base; intervals are paired percentile bootstrap intervals over the same samples (loss and perplexity: over validation rows).</p>
{{.Bars}}
</section>

{{with .C.Preference}}<h2>Preference (DPO), held-out pairs</h2>
<section>
<table>
<tr><th></th><th>base (the reference)</th><th>fine-tuned</th></tr>
<tr><td>reward accuracy ↑ (r<sub>chosen</sub> &gt; r<sub>rejected</sub>)</td><td class="n">{{num .BaseAccuracy}} ({{.BaseTies}} of {{.Pairs}} pairs tie)</td><td class="n {{if gt .Lo 0.5}}good{{end}}">{{num .TunedAccuracy}} [{{num .Lo}}, {{num .Hi}}]{{if .TunedTies}} ({{.TunedTies}} ties){{end}}</td></tr>
<tr><td>DPO loss ↓</td><td class="n">{{num .BaseLoss}}</td><td class="n">{{num .TunedLoss}}</td></tr>
<tr><td>reward margin</td><td class="n">0</td><td class="n">{{num .Margin}}</td></tr>
</table>
<p class="note">{{.Pairs}} held-out pairs, β = {{num .Beta}}; r = β·(log π<sub>fine-tuned</sub>(y|x) − log π<sub>base</sub>(y|x)) over the response tokens. Chance is 0.5; the interval is Wilson's at {{$.Pct}}.</p>
</section>
{{end}}
<h2>Contamination</h2>
<section class="contamination">
{{with .Contam}}{{if .K.Rows}}<p class="verdict worse">{{.K.Rows}} of {{.K.TrainRows}} training rows ({{.Share}}) share a {{.K.Ngram}}-word sequence with an evaluated row: the fine-tuned model may have seen those answers, so its scores on them can be inflated. Preprocess with <code>decontaminate: true</code> drops them.</p>
<table>
<tr><th>training row</th><th>evaluated row</th><th>shared {{.K.Ngram}}-grams</th></tr>
{{range .K.Findings}}<tr><td class="n">{{.TrainRow}}</td><td class="n">{{.EvalRow}}</td><td class="n">{{.Shared}}</td></tr>
{{end}}</table>
{{if lt (len .K.Findings) .K.Rows}}<p class="note">The first {{len .K.Findings}} of {{.K.Rows}} contaminated training rows are listed.</p>{{end}}
{{else}}<p>None: no training row shares a {{.K.Ngram}}-word sequence with an evaluated row ({{.K.TrainRows}} training rows checked).</p>
{{end}}<p class="note"><code>{{.TrainFile}}</code> checked against <code>{{.EvalFile}}</code>; rows are numbered from 1.</p>
{{else}}<p class="note">Not checked: no training split was found next to the evaluated rows.</p>
{{end}}</section>

<h2>Deltas</h2>
<section>{{.Deltas}}</section>

<h2>Win / tie / loss per unit</h2>
<section>{{.WTL}}</section>

<h2>Training loss</h2>
<section>{{.Loss}}</section>
{{range $ex := .Changes}}
<h2>Got worse by {{$ex.Metric}}</h2>
<section>
<p class="note">{{$ex.Flips.Worse}} of {{$ex.Units}} got worse ({{printf "%.0f" (pct $ex.Flips.WorseLo)}}–{{printf "%.0f" (pct $ex.Flips.WorseHi)}} % at {{$.Pct}} confidence), {{$ex.Flips.Better}} better ({{printf "%.0f" (pct $ex.Flips.BetterLo)}}–{{printf "%.0f" (pct $ex.Flips.BetterHi)}} %); largest change first.</p>
{{range $ex.Worse}}<div class="sample">
<header><span class="badge loss">{{printf "%+.3g" .Change}}</span><span style="white-space: nowrap">row {{.Index}}</span><span>{{printf "%.4g" .Base}} → {{printf "%.4g" .Tuned}}</span></header>
{{if .Prompt}}<div class="cols prompt"><div><span class="label">prompt</span>{{.Prompt}}</div><div><span class="label">reference</span>{{.Reference}}</div></div>{{end}}
{{if or .BaseOutput .TunedOutput}}<div class="cols"><div><span class="label">base</span>{{.BaseOutput}}</div><div><span class="label">fine-tuned</span>{{.TunedOutput}}</div></div>{{end}}
</div>
{{end}}</section>
{{end}}

<h2>Samples</h2>
<section>
<p class="note">Words only in the base output are struck through; words only in the fine-tuned output are highlighted. The badge is the outcome on {{if .C.Primary}}{{.C.Primary}}{{else}}no metric{{end}}.</p>
{{range .Samples}}<div class="sample">
<header>{{if .S.Outcome}}<span class="badge {{.S.Outcome}}">{{.S.Outcome}}</span>{{end}}<span style="white-space: nowrap">row {{.S.Index}}</span><span>{{.Scores}}</span></header>
<div class="cols prompt"><div><span class="label">prompt</span>{{.S.Prompt}}</div><div><span class="label">reference</span>{{.S.Reference}}</div></div>
<div class="cols"><div><span class="label">base</span>{{.Base}}</div><div><span class="label">fine-tuned</span>{{.Tuned}}</div></div>
</div>
{{end}}</section>
</main>
</body>
</html>
`
