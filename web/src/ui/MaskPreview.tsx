// MaskPreview shows the preprocess report's mask_preview: each sample row's
// tokens as the train agent masks them, trained ones highlighted (the id in
// each token's tooltip), and the rows whose assistant turns keep no trained
// token.

interface Token {
  id: number;
  text: string;
  trained: boolean;
}
interface Preview {
  rows?: { source_line: number; trained: number; tokens: Token[] }[];
  window?: number;
  no_trained_tokens?: number;
  rows_without_trained_tokens?: { source_line: number; reason: string; tokens: number }[];
}

export function MaskPreview({ value }: { value: unknown }) {
  const p = (value ?? {}) as Preview;
  const none = p.rows_without_trained_tokens ?? [];
  return (
    <div className="mask-preview">
      <p className="muted small">
        Tokens that get loss are highlighted{p.window ? `; rows are cut at max_tokens ${p.window}` : ''}. Hover a token for its id.
      </p>
      {(p.rows ?? []).map((r) => (
        <figure key={r.source_line} className="mask-row" data-line={r.source_line}>
          <figcaption className="small">
            Line {r.source_line}: {r.trained} of {r.tokens.length} tokens trained
          </figcaption>
          <pre className="mask-tokens">
            {r.tokens.map((t, i) => (
              <span key={i} className={t.trained ? 'tok trained' : 'tok'} title={`id ${t.id}${t.trained ? ', trained' : ''}`} data-id={t.id}>
                {t.text}
              </span>
            ))}
          </pre>
        </figure>
      ))}
      <p className={p.no_trained_tokens ? 'error-text' : 'muted'} role={p.no_trained_tokens ? 'alert' : undefined}>
        Rows without trained tokens: {p.no_trained_tokens ?? 0}
      </p>
      {none.length ? (
        <ul className="small">
          {none.map((n) => (
            <li key={n.source_line}>
              line {n.source_line}: {n.reason.replace(/_/g, ' ')} ({n.tokens} tokens)
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
