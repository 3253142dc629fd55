// The pipeline as YAML, editable in place (the spec `whet run` reads).

import { useEffect, useMemo, useState } from 'react';
import { toSpec, toYAML, type Graph } from './pipeline';

export function YAMLPanel({ graph, onApply }: { graph: Graph; onApply: (text: string) => boolean }) {
  const current = useMemo(() => toYAML(toSpec(graph)), [graph]);
  const [text, setText] = useState(current);
  const [dirty, setDirty] = useState(false);
  useEffect(() => {
    if (!dirty) setText(current);
  }, [current, dirty]);
  return (
    <section id="yaml-panel" className="yaml-panel" aria-label="Pipeline YAML">
      <label htmlFor="yaml-text">Pipeline as YAML (the spec `whet run` reads)</label>
      <textarea
        id="yaml-text"
        spellCheck={false}
        value={text}
        rows={12}
        onChange={(e) => {
          setText(e.target.value);
          setDirty(true);
        }}
      />
      <div className="row">
        <button type="button" disabled={!dirty} onClick={() => onApply(text) && setDirty(false)}>
          Apply YAML
        </button>
        <button
          type="button"
          disabled={!dirty}
          onClick={() => {
            setText(current);
            setDirty(false);
          }}
        >
          Revert
        </button>
      </div>
    </section>
  );
}
